"""The MANO hand layer (a drop-in for manopth's `ManoLayer`): pose (PCA or axis-angle, or
rotation matrices) and shape in, mesh and 21 joints out.

Its pieces: the joint orders (`skeleton`), the model files (`mano_io`), the rotations
(`rotations`) and the skinning (`skinning`); the kinematic chain, the blend shapes and the units
are here.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from s2h_lib.hand.mano_data import JOINT_MODES, NUM_BETAS, NUM_HAND_POSE, NUM_JOINTS, ManoModelData
from s2h_lib.hand.mano_io import load_hand_model
from s2h_lib.hand.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    project_to_so3,
    rotation_6d_to_matrix,
    rotation_6d_to_matrix_symmetric,
)
from s2h_lib.hand.skeleton import (
    FREIHAND_FROM_MANO,
    JOINTS_PER_FINGER,
    NUM_FINGERS,
    NUM_KEYPOINTS,
)
from s2h_lib.hand.skinning import LinearBlendSkinning

# --------------------------------------------------------------------------------------------
# Pose PCA


def pca_to_axisang(coeffs: Tensor, comps: Tensor, mean: Tensor) -> Tensor:
    """Hand articulation from PCA coefficients: mean + coeffs @ comps.

    coeffs (..., n), comps (n, 45) (the first n rows of hands_components), mean (45,).
    Returns (..., 45): 15 joints x axis-angle, MANO joint order.
    """
    return mean + coeffs @ comps


def axisang_to_pca(pose45: Tensor, comps: Tensor, mean: Tensor) -> Tensor:
    """PCA coefficients of a hand articulation, inverse of `pca_to_axisang`.

    pose45 (..., 45), comps (n, 45), mean (45,). Returns (..., n).
    MANO's components are orthogonal but not unit-norm, so c = (pose - mean) Cᵀ diag(1/|C_i|²):
    the exact inverse with all 45, the least-squares fit with fewer.
    """
    return (pose45 - mean) @ comps.T / (comps * comps).sum(-1)


# --------------------------------------------------------------------------------------------
# The layer

ROOT_ROT_SIZES = {"axisang": 3, "rot6d": 6}
JOINT_ROT_MODES = ("axisang", "rotmat")
MM_PER_M = 1000.0
UNIT_SCALES = {"m": 1.0, "mm": MM_PER_M}


@dataclass
class ManoOutput:
    """Everything one forward pass computes.  B samples, V vertices.

    verts (B, V, 3) and joints (B, 21, 3) in the layer's units; rotations (B, 16, 3, 3) the
    local joint rotations, root first; axis_angle (B, 16, 3) the same as axis-angle, after PCA
    and the hand mean (what joint-limit priors need).
    """

    verts: Tensor
    joints: Tensor
    rotations: Tensor
    axis_angle: Tensor


def _check_choice(name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_layer_args(
    center_idx: int | None,
    ncomps: int,
    use_pca: bool,
    root_rot_mode: str,
    joint_rot_mode: str,
    units: str,
    joints: str,
) -> None:
    _check_choice("root_rot_mode", root_rot_mode, tuple(ROOT_ROT_SIZES))
    _check_choice("joint_rot_mode", joint_rot_mode, JOINT_ROT_MODES)
    _check_choice("units", units, tuple(UNIT_SCALES))
    _check_choice("joints", joints, JOINT_MODES)
    if use_pca and not (isinstance(ncomps, int) and 1 <= ncomps <= NUM_HAND_POSE):
        raise ValueError(f"ncomps must be an integer in [1, {NUM_HAND_POSE}], got {ncomps!r}")
    if joint_rot_mode == "rotmat" and use_pca:
        raise ValueError("joint_rot_mode='rotmat' takes rotation matrices: it needs use_pca=False")
    if joint_rot_mode == "rotmat" and root_rot_mode != "axisang":
        raise ValueError(
            "joint_rot_mode='rotmat' gives the root as the first of 16 matrices: "
            "root_rot_mode must stay 'axisang'"
        )
    if center_idx is not None and not (
        isinstance(center_idx, int) and -NUM_KEYPOINTS <= center_idx < NUM_KEYPOINTS
    ):
        raise ValueError(
            f"center_idx must be None or an index into the 21 output joints, got {center_idx!r}"
        )


class ManoLayer(nn.Module):
    """Differentiable MANO: pose and shape in, mesh and 21 joints (FreiHAND order) out.

    Same constructor and `forward` as manopth's `ManoLayer`, with these declared differences:
    - `units="m"` by default (manopth returns millimetres: use `units="mm"`); `trans` is in
      metres either way and the scaling is applied last, as in manopth.
    - `mano_root=None` loads the open hand model shipped with s2h_lib.
    - `joints="skeleton"` returns the posed kinematic-chain joints (manopth); `"regressed"`
      returns `J_regressor @ posed vertices` (FreiHAND's definition, use it for its metrics).
      Fingertip vertex ids come from the model file (official MANO: manopth's ids for
      skeleton, FreiHAND's for regressed).
    - Centring is decided per sample: a sample whose `trans` is None or all zeros is shifted
      so that joint `center_idx` sits at the origin; a sample with non-zero `trans` is
      translated by it and not centred (manopth decides for the whole batch at once).
    - `joint_rot_mode="rotmat"` honours the hand mean: with `flat_hand_mean=False` the local
      rotation of joint j is R_mean_j @ R_given_j (manopth silently ignores the mean there).
      The matrices are projected onto SO(3) first, as in manopth.
    - No `.cuda()` anywhere: the layer runs where its buffers and inputs are, in their dtype.
    - The official left model gets the shapedirs x-sign fix when it is loaded.
    - Buffers keep manopth's names but are not saved in `state_dict`, so checkpoints carry no
      licensed model data. `th_shapedirs`, `th_posedirs` and `th_weights` have manopth's
      shapes but are stored vertices-last in memory (use `.reshape` on them, not `.view`).
    """

    def __init__(
        self,
        center_idx: int | None = None,
        flat_hand_mean: bool = True,
        ncomps: int = 6,
        side: str = "right",
        mano_root: str | Path | None = None,
        use_pca: bool = True,
        root_rot_mode: str = "axisang",
        joint_rot_mode: str = "axisang",
        robust_rot: bool = False,
        *,
        units: str = "m",
        joints: str = "skeleton",
    ) -> None:
        super().__init__()
        _check_layer_args(center_idx, ncomps, use_pca, root_rot_mode, joint_rot_mode, units, joints)
        model = load_hand_model(mano_root, side)
        self.center_idx = center_idx
        self.flat_hand_mean = flat_hand_mean
        self.use_pca = use_pca
        self.ncomps = ncomps if use_pca else NUM_HAND_POSE
        self.side = side
        self.root_rot_mode = root_rot_mode
        self.joint_rot_mode = joint_rot_mode
        self.robust_rot = robust_rot
        self.rot = ROOT_ROT_SIZES[root_rot_mode]
        self.units = units
        self.joints = joints
        self.kintree_parents = model.kintree_parents.tolist()
        self.tip_vertex_ids = tuple(model.tip_vertex_ids[joints].tolist())
        self.num_verts = model.num_verts
        self.source = model.source
        self._register_model(model)

    def _register_model(self, model: ManoModelData) -> None:
        def add(name: str, array: object, dtype: torch.dtype | None = None) -> None:
            tensor = torch.as_tensor(array, dtype=dtype or torch.get_default_dtype())
            self.register_buffer(name, tensor.clone(), persistent=False)

        def add_vertices_last(name: str, array: np.ndarray) -> None:
            """A (V, ...) buffer laid out in memory with its axes reversed, vertices last, so
            the products that use it come out channels first without copying; `.to()` keeps
            the layout."""
            add(name, np.ascontiguousarray(array.transpose()))
            reverse = tuple(reversed(range(array.ndim)))
            self.register_buffer(name, getattr(self, name).permute(reverse), persistent=False)

        hands_mean = np.zeros_like(model.hands_mean) if self.flat_hand_mean else model.hands_mean
        add("th_betas", torch.zeros(1, NUM_BETAS))
        add("th_v_template", model.v_template[None])
        add_vertices_last("th_shapedirs", model.shapedirs)
        add_vertices_last("th_posedirs", model.posedirs)
        add("th_J_regressor", model.J_regressor)
        add_vertices_last("th_weights", model.weights)
        add("th_faces", model.faces, torch.long)
        add("th_hands_mean", hands_mean[None])
        add("th_comps", model.hands_components)
        add("th_selected_comps", model.hands_components[: self.ncomps])
        add("th_tip_ids", model.tip_vertex_ids[self.joints], torch.long)
        add("th_freihand_from_mano", FREIHAND_FROM_MANO, torch.long)

    @property
    def faces(self) -> Tensor:
        """Triangles (F, 3), int64, wound counter-clockwise seen from outside."""
        return self.th_faces

    def extra_repr(self) -> str:
        return (
            f"side={self.side!r}, use_pca={self.use_pca}, ncomps={self.ncomps}, "
            f"flat_hand_mean={self.flat_hand_mean}, root_rot_mode={self.root_rot_mode!r}, "
            f"joint_rot_mode={self.joint_rot_mode!r}, center_idx={self.center_idx}, "
            f"units={self.units!r}, joints={self.joints!r}, verts={self.num_verts}"
        )

    # ---- inputs -----------------------------------------------------------------------------

    def _expected_pose_shape(self) -> tuple[tuple[int, ...], str]:
        if self.joint_rot_mode == "rotmat":
            return (NUM_JOINTS, 3, 3), "16 rotation matrices, root first"
        root = "3 root axis-angle values" if self.rot == 3 else "6 root 6D values"
        hand = f"{self.ncomps} PCA coefficients" if self.use_pca else "45 joint axis-angle values"
        return (self.rot + self.ncomps,), f"{root} then {hand}"

    def _check_pose(self, pose_coeffs: Tensor) -> None:
        shape, meaning = self._expected_pose_shape()
        if not torch.is_tensor(pose_coeffs) or not pose_coeffs.is_floating_point():
            raise ValueError(f"pose_coeffs must be a floating-point tensor, got {pose_coeffs!r}")
        if pose_coeffs.ndim != 1 + len(shape) or tuple(pose_coeffs.shape[1:]) != shape:
            expected = ", ".join(["B", *map(str, shape)])
            raise ValueError(
                f"pose_coeffs must have shape ({expected}): {meaning}; "
                f"got {tuple(pose_coeffs.shape)}"
            )

    def _batch_arg(self, value: Tensor | None, name: str, width: int, batch: int) -> Tensor | None:
        """None, or `value` as (B, width) or (1, width); manopth's numel()==1 means None."""
        if value is None or value.numel() == 1:
            return None
        if value.ndim != 2 or value.shape[0] not in (1, batch) or value.shape[1] != width:
            raise ValueError(
                f"{name} must have shape ({batch}, {width}) or (1, {width}), "
                f"got {tuple(value.shape)}"
            )
        return value

    # ---- pose -------------------------------------------------------------------------------

    def _hand_axis_angle(self, pose_coeffs: Tensor) -> Tensor:
        """(B, 45): the articulation after PCA and the hand mean."""
        hand = pose_coeffs[:, self.rot :]
        mean = self.th_hands_mean.to(hand)
        if self.use_pca:
            return pca_to_axisang(hand, self.th_selected_comps.to(hand), mean)
        return hand + mean

    def _local_rotations(self, pose_coeffs: Tensor) -> tuple[Tensor, Tensor | None]:
        """Local rotations (B, 16, 3, 3), and the articulation (B, 45) when given as axis-angle."""
        B = pose_coeffs.shape[0]
        if self.joint_rot_mode == "rotmat":
            rotations = project_to_so3(pose_coeffs)
            if self.flat_hand_mean:
                return rotations, None
            mean = axis_angle_to_matrix(self.th_hands_mean.to(pose_coeffs).view(-1, 3))
            hand = mean @ rotations[:, 1:]
            return torch.cat([rotations[:, :1], hand], dim=1), None
        hand = self._hand_axis_angle(pose_coeffs)
        if self.rot == 3:
            axis_angles = torch.cat([pose_coeffs[:, :3], hand], dim=1).view(B, NUM_JOINTS, 3)
            return axis_angle_to_matrix(axis_angles), hand
        to_matrix = rotation_6d_to_matrix_symmetric if self.robust_rot else rotation_6d_to_matrix
        root = to_matrix(pose_coeffs[:, :6])
        hand_rotations = axis_angle_to_matrix(hand.view(B, NUM_JOINTS - 1, 3))
        return torch.cat([root[:, None], hand_rotations], dim=1), hand

    # ---- geometry ---------------------------------------------------------------------------

    def _rest_joints(self, betas: Tensor) -> Tensor:
        """Joints (b, 16, 3) of the shaped rest mesh, b = 1 or B.

        J = J_regressor (template + shapedirs β), contracted before the batch comes in.
        """
        template = self.th_v_template[0].to(betas)  # (V, 3)
        regressor = self.th_J_regressor.to(betas)  # (16, V)
        shapedirs = self.th_shapedirs.to(betas)  # (V, 3, 10)
        joint_dirs = torch.einsum("jv,vck->kjc", regressor, shapedirs).reshape(NUM_BETAS, -1)
        return regressor @ template + (betas @ joint_dirs).view(-1, NUM_JOINTS, 3)

    def _pose_skeleton(self, rotations: Tensor, rest_joints: Tensor) -> tuple[Tensor, Tensor]:
        """Global rotations (B, 16, 3, 3) and positions (B, 16, 3) of the posed joints.

        MANO's tree is the root plus 5 chains of 3 consecutive joints (1-3, 4-6, ...), so the
        chain is walked one level at a time, all 5 fingers and the whole batch together:
        R_j = R_parent @ R_local_j, t_j = t_parent + R_parent @ (J_j - J_parent).
        """
        B = rotations.shape[0]
        root_rotation = rotations[:, 0]
        root_position = rest_joints[:, 0].expand(B, 3)
        local = rotations[:, 1:].reshape(B, NUM_FINGERS, JOINTS_PER_FINGER, 3, 3)
        finger_joints = rest_joints[:, 1:].reshape(-1, NUM_FINGERS, JOINTS_PER_FINGER, 3)
        root_rest = rest_joints[:, None, :1].expand(-1, NUM_FINGERS, 1, 3)
        bones = finger_joints - torch.cat([root_rest, finger_joints[:, :, :-1]], dim=2)
        rotation = root_rotation[:, None].expand(B, NUM_FINGERS, 3, 3)
        position = root_position[:, None].expand(B, NUM_FINGERS, 3)
        rotations_out, positions_out = [], []
        for level in range(JOINTS_PER_FINGER):
            position = position + (rotation @ bones[:, :, level, :, None]).squeeze(-1)
            rotation = rotation @ local[:, :, level]
            rotations_out.append(rotation)
            positions_out.append(position)
        fingers_rotation = torch.stack(rotations_out, dim=2).reshape(B, NUM_JOINTS - 1, 3, 3)
        fingers_position = torch.stack(positions_out, dim=2).reshape(B, NUM_JOINTS - 1, 3)
        global_rotations = torch.cat([root_rotation[:, None], fingers_rotation], dim=1)
        global_positions = torch.cat([root_position[:, None], fingers_position], dim=1)
        return global_rotations, global_positions

    @staticmethod
    def _skinning_columns(
        global_rotations: Tensor, global_positions: Tensor, rest_joints: Tensor
    ) -> Tensor:
        """The 3x4 skinning transform of each joint, by columns: (4, B, 3, 16).

        Joint j moves a rest point x to R_j x + (t_j - R_j J_j).
        """
        offsets = global_positions - (global_rotations @ rest_joints[..., None]).squeeze(-1)
        transforms = torch.cat([global_rotations, offsets[..., None]], dim=-1)  # (B, 16, 3, 4)
        return transforms.permute(3, 0, 2, 1).contiguous()

    def _skin_vertices(
        self,
        columns: Tensor,
        features: Tensor,
        betas: Tensor,
        ids: Tensor | None = None,
        shift: Tensor | None = None,
    ) -> Tensor:
        """Posed vertices (B, V, 3), or (B, n, 3) for vertex ids (n,), moved by shift (B, 3).

        Shape and pose blend shapes, then linear blend skinning. The fingertips are posed on
        their own through this, so their gradient never touches a (B, V, 3) tensor.
        """
        buffers = (self.th_v_template[0], self.th_shapedirs, self.th_posedirs, self.th_weights)
        if ids is not None:
            buffers = tuple(buffer[ids] for buffer in buffers)
        template, shapedirs, posedirs, weights = (buffer.to(columns) for buffer in buffers)
        n = template.shape[0]
        # Blend shapes laid out (K, 3 n), so the products come out channels first.
        shape_basis = shapedirs.permute(2, 1, 0).reshape(-1, 3 * n)
        pose_basis = posedirs.permute(2, 1, 0).reshape(-1, 3 * n)
        rest = torch.addmm(template.T.reshape(1, 3 * n), betas, shape_basis)  # (b, 3 n)
        if rest.shape[0] == features.shape[0]:
            posed = rest.addmm_(features, pose_basis)  # reuse its memory: one (B, 3 n) tensor
        else:
            posed = torch.addmm(rest, features, pose_basis)
        return LinearBlendSkinning.apply(columns, weights, posed.view(-1, 3, n), shift)

    def _shift(self, joints: Tensor, trans: Tensor | None) -> Tensor | None:
        """Per-sample translation (B, 3): `trans`, or minus joint `center_idx` for samples
        whose trans is None or zero (when center_idx is set); None for no translation."""
        shift = None if trans is None else trans.to(joints).expand(joints.shape[0], 3)
        if self.center_idx is None:
            return shift
        centre = -joints[:, self.center_idx]
        if trans is None:
            return centre
        return torch.where((trans != 0).any(dim=-1, keepdim=True), shift, centre)

    def _mesh(
        self, rotations: Tensor, betas: Tensor | None, trans: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        B = rotations.shape[0]
        betas = self._batch_arg(betas, "betas", NUM_BETAS, B)
        trans = self._batch_arg(trans, "trans", 3, B)
        betas = self.th_betas.to(rotations) if betas is None else betas.to(rotations)
        rest_joints = self._rest_joints(betas)
        global_rotations, global_positions = self._pose_skeleton(rotations, rest_joints)
        columns = self._skinning_columns(global_rotations, global_positions, rest_joints)
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        features = (rotations[:, 1:] - eye).reshape(B, -1)  # (B, 135), row-major (R - I)
        tips = self._skin_vertices(columns, features, betas, ids=self.th_tip_ids)
        order = self.th_freihand_from_mano
        if self.joints == "skeleton":
            # the joints are known before the mesh, so the shift rides along with skinning
            joints = torch.cat([global_positions, tips], dim=1)[:, order]
            shift = self._shift(joints, trans)
            verts = self._skin_vertices(columns, features, betas, shift=shift)
        else:
            verts = self._skin_vertices(columns, features, betas)
            joints16 = self.th_J_regressor.to(verts) @ verts
            joints = torch.cat([joints16, tips], dim=1)[:, order]
            shift = self._shift(joints, trans)
            verts = verts if shift is None else verts + shift[:, None]
        joints = joints if shift is None else joints + shift[:, None]
        scale = UNIT_SCALES[self.units]
        return (verts * scale, joints * scale) if scale != 1 else (verts, joints)

    # ---- entry points -----------------------------------------------------------------------

    def forward(
        self, pose_coeffs: Tensor, betas: Tensor | None = None, trans: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Pose the hand.

        pose_coeffs: (B, rot + ncomps) with use_pca, (B, rot + 45) without, or (B, 16, 3, 3)
            with joint_rot_mode="rotmat"; rot is 3 (axis-angle root) or 6 (6D root).
        betas: (B, 10), (1, 10), or None (or any one-element tensor) for the mean shape.
        trans: (B, 3) or (1, 3) in metres, or None; see the class docstring for centring.
        Returns verts (B, V, 3) and joints (B, 21, 3) in FreiHAND order, in `units`.
        """
        self._check_pose(pose_coeffs)
        rotations, _ = self._local_rotations(pose_coeffs)
        return self._mesh(rotations, betas, trans)

    def forward_full(
        self, pose_coeffs: Tensor, betas: Tensor | None = None, trans: Tensor | None = None
    ) -> ManoOutput:
        """Like `forward`, also returning the local rotations and their axis-angles."""
        self._check_pose(pose_coeffs)
        rotations, hand = self._local_rotations(pose_coeffs)
        verts, joints = self._mesh(rotations, betas, trans)
        if hand is None:
            axis_angle = matrix_to_axis_angle(rotations)
        else:
            root = pose_coeffs[:, :3] if self.rot == 3 else matrix_to_axis_angle(rotations[:, 0])
            axis_angle = torch.cat([root[:, None], hand.view(-1, NUM_JOINTS - 1, 3)], dim=1)
        return ManoOutput(verts=verts, joints=joints, rotations=rotations, axis_angle=axis_angle)
