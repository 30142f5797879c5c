"""Tiny papermill parameters for every notebook, shared by the notebook and exercise tests."""

from __future__ import annotations

# Tiny parameters per notebook (each run well under a minute on 2 CPU cores); `out_dir` and
# `interactive=False` are added by the test. A new notebook needs one line here.
TINY_PARAMETERS: dict[str, dict[str, object]] = {
    "00_tour.ipynb": {
        "model_path": "no_such_model.pt",  # the untrained-network branch
        "fit_steps": 30,
        "views": ["palm"],
        "dpi": 40,
    },
    "01_hand_model_explorer.ipynb": {"sweep_steps": 2, "n_pca_sliders": 2, "dpi": 40},
    "02_differentiable_rendering.ipynb": {
        "image_size": 48,
        "fit_steps": 12,
        "sigmas": [0.5, 5.0],
        "gammas": [0.0001, 1.0],
        "dpi": 40,
    },
    "05_train.ipynb": {
        "steps": 2,
        "batch_size": 4,
        "image_size": 64,
        "workers": 0,
        "eval_samples": 4,
        "dpi": 40,
    },
    "06_ablations.ipynb": {
        "grid": ["biomech"],
        "seeds": 1,
        "steps": 2,
        "workers": 1,
        "train_params": {"batch_size": 4, "image_size": 64, "workers": 0, "eval_samples": 4},
        "dpi": 40,
    },
    "07_evaluate_and_browse.ipynb": {
        "split": "val",
        "eval_samples": 4,
        "sample_index": 1,
        "dpi": 40,
    },
    "08_video_and_motion.ipynb": {
        "fit_steps": 10,
        "train_steps": 2,
        "video_steps": 1,
        "batch_size": 4,
        "clip_batch": 2,
        "image_size": 64,
        "eval_clips": 4,
        "dpi": 40,
    },
    "03_data_and_keypoints.ipynb": {
        "data_dir": "no_such_synth",  # so the notebook builds its small benchmark in out_dir
        "n_samples": 6,
        "n_photos": 3,
        "noise_hands": 300,
        "dpi": 40,
    },
    "04_losses.ipynb": {"data_dir": "no_such_synth", "batch_size": 2, "dpi": 40},
    "09_fit_your_photo.ipynb": {"steps": 30, "views": ["palm"], "crop_size": 128, "dpi": 40},
}
