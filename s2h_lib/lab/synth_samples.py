"""S2H-Synth samples as notebooks 03 and 04 show them: a small benchmark built where none is,
samples with their detector-like keypoints (and the truth), and a clip as frames."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.data.sample import HandSample
from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.layout import MANIFEST_NAME
from s2h_lib.data.synth.store import build_synth
from s2h_lib.viz.figures import blank_axes, draw_skeleton_2d, image_array

# A benchmark small enough to build in seconds, for notebooks run where none was built.
SMALL_SYNTH = SynthConfig(
    image_size=64, train=16, val=8, test=32, clips=2, clip_length=4, shard_size=32, supersample=1
)
TRUTH_COLOUR = "white"
ERROR_COLOUR = "red"


def synth_root(
    data_dir: str | Path, fallback: str | Path, config: SynthConfig = SMALL_SYNTH
) -> Path:
    """`data_dir` when it holds a built S2H-Synth (its manifest), else a benchmark built with
    `config` in `fallback` (kept there, so a second run reuses it)."""
    data_dir = Path(data_dir).expanduser()
    if (data_dir / MANIFEST_NAME).is_file():
        return data_dir
    build_synth(fallback, config, workers=1, contact_sheet=False)
    return Path(fallback).expanduser()


def samples_figure(
    samples: list[HandSample], columns: int = 6, panel_inches: float = 1.6, truth: bool = False
) -> Figure:
    """Samples (one image each) with their detector-like keypoints, markers sized by
    confidence; with `truth` (samples need it), the true keypoints as white crosses and a red
    line from each true keypoint to where it was reported."""
    columns = min(columns, len(samples))
    rows = -(-len(samples) // columns)
    figure = Figure(figsize=(panel_inches * columns, panel_inches * rows))
    FigureCanvasAgg(figure)
    for ax, sample in zip(blank_axes(figure, len(samples), columns), samples, strict=True):
        ax.imshow(image_array(sample.image))
        found = sample.confidence.numpy() > 0
        keypoints = sample.keypoints.numpy()
        if truth:
            true = sample.truth.keypoints2d.numpy()
            for t, k in zip(true[found], keypoints[found], strict=True):
                ax.plot([t[0], k[0]], [t[1], k[1]], color=ERROR_COLOUR, lw=0.8, zorder=6)
            ax.scatter(true[:, 0], true[:, 1], marker="x", s=8, c=TRUTH_COLOUR, zorder=7)
        if found.any():
            draw_skeleton_2d(ax, keypoints, confidence=sample.confidence.numpy())
        size = sample.image.shape[-1]
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        ax.set_title(f"{sample.name}" + ("" if found.any() else " (missed)"), fontsize=6)
    figure.tight_layout(pad=0.3)
    return figure


def clip_frames(clip: HandSample) -> list[HandSample]:
    """The T frames of one clip (fields (T, ...)) as single-image samples, named by frame."""
    return [
        HandSample(
            image=clip.image[t],
            K=clip.K[t],
            keypoints=clip.keypoints[t],
            confidence=clip.confidence[t],
            name=f"{clip.name} t={t}",
        )
        for t in range(clip.image.shape[0])
    ]
