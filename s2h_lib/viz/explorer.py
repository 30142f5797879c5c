"""Explore the hand model with sliders: PCA pose, one joint's angles and the shape betas.

The hand's articulation (15 joints x axis-angle, MANO order, radians) is

    hands_mean + pca @ hands_components[:n] + joint_offsets

so the PCA sliders move the whole hand along its principal poses, and the joint sliders (twist,
splay, bend of one chosen joint, shown as that joint's total angle in degrees) adjust a single
joint on top. Two views of one `HandExplorer`:

- `figure()` and `sweep_figure()`: plain plotly `go.Figure`s, no widget and no kernel needed to
  view them (headless papermill runs, HTML files).
- `widget()`: ipywidgets sliders driving a `go.FigureWidget` of the same mesh; it needs a live
  kernel and anywidget. Sliders use `continuous_update=False`, each change recomputes the mesh
  once and sends it in one `batch_update`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch

from s2h_lib.hand.hand_model import MM_PER_M, ManoLayer
from s2h_lib.hand.hand_poses import (
    FINGER_JOINTS,
    JOINT_LIMITS_HIGH_DEG,
    JOINT_LIMITS_LOW_DEG,
    NAMED_POSES,
    NUM_ARTICULATED_JOINTS,
)
from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.viz.figures import mesh_figure

KNUCKLE_NAMES = {"thumb": ("CMC", "MCP", "IP")}
FINGER_KNUCKLES = ("MCP", "PIP", "DIP")
JOINT_NAMES = tuple(
    f"{finger} {KNUCKLE_NAMES.get(finger, FINGER_KNUCKLES)[k]}"
    for finger, joints in FINGER_JOINTS.items()
    for k in range(len(joints))
)
ANGLE_NAMES = ("twist", "splay", "bend")
COEFF_RANGE = 3.0  # slider span of PCA coefficients and betas, in standard deviations
COEFF_STEP = 0.1
ANGLE_MARGIN_DEG = 30.0  # joint sliders reach this far beyond the joint's limits
ANGLE_STEP_DEG = 1.0
VIEW_MARGIN = 1.25  # axis half-range over the rest hand's radius, so posing never leaves the box
# Look at the palm (MANO's palm faces -y) with the fingers (-x) pointing up.
PALM_CAMERA = {"eye": {"x": 0.0, "y": -1.3, "z": 0.35}, "up": {"x": -1.0, "y": 0.0, "z": 0.0}}
# plotly's default light sits at +y, behind a palm seen from -y: light from the viewer's side
PALM_LIGHT = {"x": -1e4, "y": -1e5, "z": 3e4}
EXPLORER_CSS_CLASS = "s2h-explorer"


@dataclass
class ExplorerState:
    """What the sliders set: PCA coefficients `(n_pca,)`, joint offsets `(15, 3)` in radians
    added after PCA, and shape betas `(10,)`."""

    pca: np.ndarray
    joint_offsets: np.ndarray = field(default_factory=lambda: np.zeros((NUM_ARTICULATED_JOINTS, 3)))
    betas: np.ndarray = field(default_factory=lambda: np.zeros(NUM_BETAS))

    def copy(self) -> ExplorerState:
        return ExplorerState(self.pca.copy(), self.joint_offsets.copy(), self.betas.copy())


def default_layer() -> ManoLayer:
    """The open hand model, articulated by axis-angles with MANO's mean pose added."""
    return ManoLayer(use_pca=False, flat_hand_mean=False)


class HandExplorer:
    """Pose and shape the hand from a few numbers; show it as a plotly mesh.

    layer: a `ManoLayer` with `use_pca=False, flat_hand_mean=False` (the explorer applies the
    PCA itself, so the joint sliders can act on top of it); default: the open hand model.
    n_pca: PCA coefficients given sliders (1-45); n_betas: betas given sliders (0-10).
    """

    def __init__(self, layer: ManoLayer | None = None, n_pca: int = 6, n_betas: int = 5) -> None:
        layer = layer if layer is not None else default_layer()
        if layer.use_pca or layer.flat_hand_mean:
            raise ValueError(
                "HandExplorer needs a ManoLayer(use_pca=False, flat_hand_mean=False): it applies "
                f"the PCA itself, on top of MANO's mean pose; got {layer.extra_repr()}"
            )
        if not 1 <= n_pca <= layer.th_comps.shape[0]:
            raise ValueError(f"n_pca must be in [1, {layer.th_comps.shape[0]}], got {n_pca}")
        if not 0 <= n_betas <= NUM_BETAS:
            raise ValueError(f"n_betas must be in [0, {NUM_BETAS}], got {n_betas}")
        self.layer = layer
        self.n_pca, self.n_betas = n_pca, n_betas
        self.faces = layer.faces.cpu().numpy().astype(np.int32)
        self.components = layer.th_comps[:n_pca].double().cpu().numpy()  # (n_pca, 45)
        self.hands_mean = layer.th_hands_mean[0].double().cpu().numpy().reshape(-1, 3)
        self.state = ExplorerState(pca=np.zeros(n_pca))
        self.joint = 0  # the joint the angle sliders act on
        self.last_update_ms = float("nan")
        self.figure_widget: go.FigureWidget | None = None  # made by `widget()`
        self.controls: dict[str, Any] = {}  # the widget's sliders and labels, by name
        self._syncing = False
        rest_verts, _ = self.mesh()
        self._centre = (rest_verts.max(axis=0) + rest_verts.min(axis=0)) / 2 * MM_PER_M
        radius = np.linalg.norm(rest_verts * MM_PER_M - self._centre, axis=1).max()
        self._half_range = VIEW_MARGIN * radius

    # ---- the hand --------------------------------------------------------------------------

    def articulation(self, state: ExplorerState | None = None) -> np.ndarray:
        """Total joint angles `(15, 3)` in radians: mean pose + PCA + joint offsets, of
        `state` (default: the current one)."""
        state = state or self.state
        pca_pose = (state.pca @ self.components).reshape(-1, 3)
        return self.hands_mean + pca_pose + state.joint_offsets

    def mesh(self, state: ExplorerState | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vertices `(V, 3)` and 21 FreiHAND-order keypoints `(21, 3)`, metres, float32, of
        `state` (default: the current one)."""
        state = state or self.state
        buffer = self.layer.th_comps
        hand = self.articulation(state) - self.hands_mean  # the layer adds the mean itself
        pose = np.concatenate([np.zeros(3), hand.ravel()])[None]
        betas = state.betas[None]
        with torch.no_grad():
            verts, joints = self.layer(
                torch.as_tensor(pose, dtype=buffer.dtype, device=buffer.device),
                torch.as_tensor(betas, dtype=buffer.dtype, device=buffer.device),
            )
        return (
            verts[0].cpu().numpy().astype(np.float32),
            joints[0].cpu().numpy().astype(np.float32),
        )

    def set_named_pose(self, name: str) -> None:
        """Show one of `hand_poses.NAMED_POSES`: PCA coefficients zero, joints set exactly."""
        if name not in NAMED_POSES:
            raise ValueError(f"unknown pose {name!r}; named poses: {', '.join(NAMED_POSES)}")
        self.set_articulation(NAMED_POSES[name])

    def set_articulation(self, angles: np.ndarray) -> None:
        """Set every joint's total angles `(15, 3)` (radians), PCA coefficients back to zero."""
        angles = np.asarray(angles, dtype=float)
        if angles.shape != (NUM_ARTICULATED_JOINTS, 3):
            raise ValueError(f"angles must have shape (15, 3), got {angles.shape}")
        self.state.pca = np.zeros(self.n_pca)
        self.state.joint_offsets = angles - self.hands_mean
        self._refresh()

    def set_pca(self, index: int, value: float) -> None:
        """Set PCA coefficient `index` (0-based) to `value` standard deviations."""
        self.state.pca[index] = value
        self._refresh()

    def set_beta(self, index: int, value: float) -> None:
        """Set shape beta `index` (0-based) to `value`."""
        self.state.betas[index] = value
        self._refresh()

    def set_joint_angle(self, joint: int, component: int, degrees: float) -> None:
        """Make the total angle `component` (0 twist, 1 splay, 2 bend) of `joint` (MANO order
        without the root, 0-14) equal `degrees`, whatever the PCA pose."""
        total = self.articulation()[joint, component]
        self.state.joint_offsets[joint, component] += np.deg2rad(degrees) - total
        self._refresh()

    def reset(self) -> None:
        """Back to the mean pose and mean shape."""
        self.state = ExplorerState(pca=np.zeros(self.n_pca))
        self._refresh()

    # ---- static figures --------------------------------------------------------------------

    def _style(self, figure: go.Figure) -> go.Figure:
        """Fixed axes around the rest hand (posing never rescales the view), palm camera,
        and `uirevision` so a user's rotation survives updates."""
        axes = {
            f"{name}axis": {
                "range": [c - self._half_range, c + self._half_range],
                "title": f"{name} (mm)",
            }
            for name, c in zip("xyz", self._centre, strict=True)
        }
        figure.update_traces(lightposition=PALM_LIGHT, selector={"type": "mesh3d"})
        figure.update_layout(
            scene={**axes, "aspectmode": "cube", "camera": PALM_CAMERA},
            uirevision="hand-explorer",
            height=480,
            legend={"x": 0.0, "y": 1.0},
        )
        return figure

    def figure(self, title: str = "", state: ExplorerState | None = None) -> go.Figure:
        """A plain plotly figure of the hand (mesh and skeleton, millimetres) in `state`
        (default: the current one)."""
        verts, joints = self.mesh(state)
        return self._style(mesh_figure(verts, self.faces, joints, title=title))

    def sweep_figure(self, kind: str, index: int, values: Sequence[float]) -> go.Figure:
        """A plain plotly figure with its own slider (no kernel needed) stepping PCA coefficient
        or beta `index` (`kind` 'pca' or 'beta') through `values`, from the current state
        (which it leaves as it is). It opens at the value nearest the current one."""
        if kind not in ("pca", "beta"):
            raise ValueError(f"kind must be 'pca' or 'beta', got {kind!r}")
        states = []
        for value in values:
            state = self.state.copy()
            (state.pca if kind == "pca" else state.betas)[index] = value
            states.append(state)
        frames = []
        for value, state in zip(values, states, strict=True):
            updates = self._trace_updates(*self.mesh(state))
            traces = ["mesh3d"] + ["scatter3d"] * (len(updates) - 1)
            data = [{"type": t, **update} for t, update in zip(traces, updates, strict=True)]
            frames.append(go.Frame(data=data, name=f"{value:+.2f}"))
        current = (self.state.pca if kind == "pca" else self.state.betas)[index]
        active = int(np.argmin(np.abs(np.asarray(values, dtype=float) - current)))
        figure = self.figure(title=f"{kind} {index + 1} sweep", state=states[active])
        figure.frames = frames
        steps = [
            {
                "label": frame.name,
                "method": "animate",
                "args": [[frame.name], {"mode": "immediate", "frame": {"duration": 0}}],
            }
            for frame in frames
        ]
        prefix = f"{kind} {index + 1} = "
        figure.update_layout(
            sliders=[{"steps": steps, "active": active, "currentvalue": {"prefix": prefix}}]
        )
        return figure

    @staticmethod
    def _trace_updates(verts: np.ndarray, joints: np.ndarray) -> list[dict]:
        """Coordinates for the figure's traces in order: the mesh, then one chain per finger."""
        mm, kp = verts * MM_PER_M, joints * MM_PER_M
        updates = [{"x": mm[:, 0], "y": mm[:, 1], "z": mm[:, 2]}]
        for finger in range(5):
            chain = [0, *range(1 + 4 * finger, 5 + 4 * finger)]
            updates.append({"x": kp[chain, 0], "y": kp[chain, 1], "z": kp[chain, 2]})
        return updates

    # ---- the widget ------------------------------------------------------------------------

    def update(self) -> float:
        """Recompute the mesh and send it to the figure widget in one message; return the time
        it took in milliseconds (also kept in `last_update_ms`)."""
        start = time.perf_counter()
        updates = self._trace_updates(*self.mesh())
        if self.figure_widget is not None:
            with self.figure_widget.batch_update():
                for trace, values in zip(self.figure_widget.data, updates, strict=True):
                    trace.update(values)
        self.last_update_ms = 1e3 * (time.perf_counter() - start)
        status = self.controls.get("status")
        if status is not None:
            status.value = f"mesh update: {self.last_update_ms:.0f} ms"
        return self.last_update_ms

    def _refresh(self) -> None:
        """After a state change: move the sliders to match, then redraw (widget mode only)."""
        if self.figure_widget is None:
            return
        self._sync_sliders()
        self.update()

    def widget(self) -> widgets.HBox:
        """Sliders and a `go.FigureWidget` of the hand; needs a live kernel (and anywidget)."""
        self.figure_widget = go.FigureWidget(self.figure())
        controls = [widgets.HTML("<b>PCA pose</b> (standard deviations)")]
        controls += [self._pca_slider(k) for k in range(self.n_pca)]
        controls += self._joint_controls()
        if self.n_betas:
            controls.append(widgets.HTML("<b>Shape betas</b>"))
            controls += [self._beta_slider(k) for k in range(self.n_betas)]
        controls += self._pose_controls()
        status = widgets.HTML()
        self.controls["status"] = status
        panel = widgets.VBox(controls, layout=widgets.Layout(width="340px"))
        box = widgets.HBox([panel, widgets.VBox([self.figure_widget, status])])
        box.add_class(EXPLORER_CSS_CLASS)
        self._sync_sliders()
        return box

    @staticmethod
    def _slider(description: str, low: float, high: float, step: float) -> widgets.FloatSlider:
        return widgets.FloatSlider(
            value=0.0,
            min=low,
            max=high,
            step=step,
            description=description,
            continuous_update=False,
            readout_format=".1f",
            style={"description_width": "70px"},
        )

    def _on_value(self, slider: widgets.FloatSlider, action: Callable[[float], None]) -> None:
        """Call `action(new_value)` when the user moves `slider` (not when code moves it)."""

        def changed(change: dict) -> None:
            if not self._syncing:
                action(change["new"])

        slider.observe(changed, names="value")

    def _pca_slider(self, k: int) -> widgets.FloatSlider:
        slider = self._slider(f"pca {k + 1}", -COEFF_RANGE, COEFF_RANGE, COEFF_STEP)
        self._on_value(slider, lambda value: self.set_pca(k, value))
        self.controls[f"pca{k}"] = slider
        return slider

    def _beta_slider(self, k: int) -> widgets.FloatSlider:
        slider = self._slider(f"beta {k + 1}", -COEFF_RANGE, COEFF_RANGE, COEFF_STEP)
        self._on_value(slider, lambda value: self.set_beta(k, value))
        self.controls[f"beta{k}"] = slider
        return slider

    def _joint_controls(self) -> list[widgets.Widget]:
        chooser = widgets.Dropdown(
            options=[(name, j) for j, name in enumerate(JOINT_NAMES)],
            value=self.joint,
            description="joint",
            style={"description_width": "70px"},
        )
        limits = widgets.HTML()
        angles = []
        for c, name in enumerate(ANGLE_NAMES):
            slider = self._slider(f"{name} °", -180.0, 180.0, ANGLE_STEP_DEG)
            self._on_value(
                slider, lambda value, c=c: self.set_joint_angle(self.joint, c, float(value))
            )
            angles.append(slider)

        def chosen(change: dict) -> None:
            self.joint = change["new"]
            self._sync_sliders()

        chooser.observe(chosen, names="value")
        self.controls.update(joint=chooser, limits=limits, angles=angles)
        heading = widgets.HTML("<b>One joint</b> (total angle, degrees)")
        return [heading, chooser, *angles, limits]

    def _pose_controls(self) -> list[widgets.Widget]:
        named = widgets.Dropdown(
            options=["(choose)", *NAMED_POSES],
            description="pose",
            style={"description_width": "70px"},
        )
        reset = widgets.Button(description="reset")

        def picked(change: dict) -> None:
            if change["new"] in NAMED_POSES:
                self.set_named_pose(change["new"])

        named.observe(picked, names="value")
        reset.on_click(lambda _: self.reset())
        return [widgets.HTML("<b>Poses</b>"), named, reset]

    def _sync_sliders(self) -> None:
        """Show the state on the sliders without their observers acting on it."""
        if not self.controls:
            return
        self._syncing = True
        try:
            for k in range(self.n_pca):
                self.controls[f"pca{k}"].value = float(self.state.pca[k])
            for k in range(self.n_betas):
                self.controls[f"beta{k}"].value = float(self.state.betas[k])
            angles = np.rad2deg(self.articulation()[self.joint])
            low, high = JOINT_LIMITS_LOW_DEG[self.joint], JOINT_LIMITS_HIGH_DEG[self.joint]
            for c, slider in enumerate(self.controls["angles"]):
                slider.min, slider.max = -360.0, 360.0  # widen first: min <= max at each step
                slider.max = float(high[c] + ANGLE_MARGIN_DEG)
                slider.min = float(low[c] - ANGLE_MARGIN_DEG)
                slider.value = float(angles[c])
            ranges = ", ".join(
                f"{name} [{lo:.0f}, {hi:.0f}]"
                for name, lo, hi in zip(ANGLE_NAMES, low, high, strict=True)
            )
            self.controls["limits"].value = f"<small>limits: {ranges}</small>"
        finally:
            self._syncing = False
