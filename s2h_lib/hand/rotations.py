"""Rotation conversions used by the hand model, batched over any leading dimensions.

Conventions:
- axis-angle `a` (..., 3): rotation by angle |a| about a / |a| (right-handed).
- matrices (..., 3, 3) act on column vectors: x' = R x.
- quaternions (..., 4) are (w, x, y, z), w the scalar part.
- 6D (..., 6) is the first two columns of R, concatenated (Zhou et al., CVPR 2019).

Every function is differentiable, with finite values and gradients at the identity.
"""

import torch
from torch import Tensor

# Below this squared angle the closed forms are replaced by their Taylor series: the next term
# is ~1e-16 there, far under float32 and float64 resolution, and the series has exact gradients.
SMALL_ANGLE_SQ = 1e-6
# Lower bound on vector norms in the 6D constructions (the same as Zhou et al.'s reference code).
MIN_NORM = 1e-8


def skew(v: Tensor) -> Tensor:
    """Cross-product matrix: skew(v) @ x == cross(v, x).  (..., 3) -> (..., 3, 3)."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (zero, -z, y, z, zero, -x, -y, x, zero)
    return torch.stack(rows, dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """Unit quaternion (w, x, y, z) of an axis-angle rotation.  (..., 3) -> (..., 4).

    q = (cos(θ/2), sin(θ/2) / θ · a) with θ = |a|; near θ = 0 both factors use their Taylor
    series in θ², so the value and the gradient are exact at a = 0.
    """
    angle_sq = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = angle_sq < SMALL_ANGLE_SQ
    # The unused branch of torch.where still gets a gradient: keep its sqrt away from 0.
    angle = torch.sqrt(torch.where(small, torch.ones_like(angle_sq), angle_sq))
    half = 0.5 * angle
    w = torch.where(small, 1.0 - angle_sq / 8.0, torch.cos(half))
    sin_half_over_angle = torch.where(small, 0.5 - angle_sq / 48.0, torch.sin(half) / angle)
    return torch.cat([w, sin_half_over_angle * axis_angle], dim=-1)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """Rotation matrix of a quaternion (w, x, y, z), normalised first.  (..., 4) -> (..., 3, 3).

    R = (w² - |v|²) I + 2 v vᵀ + 2 w [v]×, with v = (x, y, z).
    """
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    w, v = q[..., 0, None, None], q[..., 1:]
    eye = torch.eye(3, dtype=q.dtype, device=q.device)
    diagonal = w * w - (v * v).sum(-1)[..., None, None]
    return diagonal * eye + 2 * v[..., :, None] * v[..., None, :] + 2 * w * skew(v)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rotation matrix of an axis-angle vector, via the unit quaternion.  (..., 3) -> (..., 3, 3).

    At a = 0 the result is I and dR/da_k is skew(e_k), the so(3) generator.
    """
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Unit quaternion (w >= 0) of a rotation matrix.  (..., 3, 3) -> (..., 4).

    Shepperd's method: of the four algebraically equivalent formulas, use the one dividing by
    the largest of |w|, |x|, |y|, |z|, which is at least 1/2, so it is stable everywhere,
    including at 180 degrees where w = 0.
    """
    m = matrix
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4 q_k^2 for k = w, x, y, z
    four_sq = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        dim=-1,
    )
    # Row k holds 4 q_k · q: the quaternion scaled by 4 q_k.
    candidates = torch.stack(
        [
            torch.stack([four_sq[..., 0], m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, four_sq[..., 1], m01 + m10, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m01 + m10, four_sq[..., 2], m12 + m21], dim=-1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, four_sq[..., 3]], dim=-1),
        ],
        dim=-2,
    )
    best = four_sq.argmax(dim=-1, keepdim=True)
    scaled = torch.gather(candidates, -2, best[..., None].expand(*best.shape, 4)).squeeze(-2)
    q = scaled / scaled.norm(dim=-1, keepdim=True)
    return q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """Axis-angle of a unit quaternion, angle in [0, π].  (..., 4) -> (..., 3)."""
    q = quaternion * torch.where(quaternion[..., :1] < 0, -1.0, 1.0).to(quaternion)
    w, xyz = q[..., :1], q[..., 1:]
    sin_sq = (xyz * xyz).sum(-1, keepdim=True)
    small = sin_sq < SMALL_ANGLE_SQ
    sin_half = torch.sqrt(torch.where(small, torch.ones_like(sin_sq), sin_sq))
    # angle / sin(angle/2) = 2 atan2(s, w) / s, whose series at s -> 0 (w -> 1) is 2/w - 2s²/(3w³).
    safe_w = torch.where(small, w, torch.ones_like(w))
    series = 2.0 / safe_w - 2.0 * sin_sq / (3.0 * safe_w**3)
    ratio = torch.where(small, series, 2.0 * torch.atan2(sin_half, w) / sin_half)
    return ratio * xyz


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """Axis-angle of a rotation matrix, angle in [0, π].  (..., 3, 3) -> (..., 3).

    At exactly π the sign of the axis is arbitrary (both describe the same rotation).
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def _normalize(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(MIN_NORM)


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """Gram-Schmidt 6D -> rotation (Zhou et al.).  (..., 6) -> (..., 3, 3).

    x = a1 / |a1|, z = (x × a2) / |x × a2|, y = z × x; R = [x | y | z] as columns.
    """
    x = _normalize(d6[..., :3])
    z = _normalize(torch.linalg.cross(x, d6[..., 3:]))
    y = torch.linalg.cross(z, x)
    return torch.stack([x, y, z], dim=-1)


def rotation_6d_to_matrix_symmetric(d6: Tensor) -> Tensor:
    """6D -> rotation treating both input vectors alike.  (..., 6) -> (..., 3, 3).

    The bisector b and its orthogonal c of the two normalised inputs give x = (b + c)/√2 and
    y = (b - c)/√2, placed symmetrically about b; z = x × y.  R = [x | y | z] as columns.
    Gram-Schmidt keeps a1's direction exactly and bends a2; this version bends both equally.
    """
    u = _normalize(d6[..., :3])
    v = _normalize(d6[..., 3:])
    bisector = _normalize(u + v)
    orthogonal = _normalize(u - v)
    x = _normalize(bisector + orthogonal)
    y = _normalize(bisector - orthogonal)
    z = torch.linalg.cross(x, y)
    return torch.stack([x, y, z], dim=-1)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """First two columns of R, concatenated.  (..., 3, 3) -> (..., 6)."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


class _ProjectToSO3(torch.autograd.Function):
    """Nearest rotation R = U' V^T from the SVD M = U' diag(σ) V^T, where U' has its last
    column flipped when det(M) < 0 (so σ_3 may be negative and R is always proper).

    The backward is the closed form of the polar factor's derivative, dR = U' Ω V^T with
    Ω_ij = (X_ij - X_ji) / (σ_i + σ_j), X = U'^T dM V. Autograd through torch.linalg.svd
    divides by σ_i² - σ_j² instead, which is NaN whenever M is already a rotation.
    """

    @staticmethod
    def forward(ctx, matrix: Tensor) -> Tensor:
        u, s, vh = torch.linalg.svd(matrix)
        sign = torch.where(torch.det(u @ vh) < 0, -1.0, 1.0).to(matrix)
        flip = torch.stack([torch.ones_like(sign), torch.ones_like(sign), sign], dim=-1)
        u = u * flip[..., None, :]
        ctx.save_for_backward(u, s * flip, vh)
        return u @ vh

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:
        u, sigma, vh = ctx.saved_tensors
        a = u.transpose(-1, -2) @ grad @ vh.transpose(-1, -2)
        pair_sums = (sigma[..., :, None] + sigma[..., None, :]).abs()
        tiny = torch.finfo(sigma.dtype).tiny
        y = (a - a.transpose(-1, -2)) / pair_sums.clamp_min(tiny)
        return u @ y @ vh


def project_to_so3(matrix: Tensor) -> Tensor:
    """Closest rotation in Frobenius norm, by a batched SVD.  (..., 3, 3) -> (..., 3, 3).

    R = U diag(1, 1, det(U Vᵀ)) Vᵀ, so reflections are turned into the nearest proper rotation.
    The gradient is finite for rotation inputs (repeated singular values), see _ProjectToSO3.
    """
    return _ProjectToSO3.apply(matrix)


def mirror_axis_angle(axis_angle: Tensor) -> Tensor:
    """Axis-angle of S R S for S = diag(-1, 1, 1), the right <-> left hand mirror.  (..., 3)."""
    return axis_angle * axis_angle.new_tensor([1.0, -1.0, -1.0])
