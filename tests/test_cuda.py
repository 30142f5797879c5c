"""The CUDA paths, where a GPU is present (skipped elsewhere): bfloat16 autocast training, a
model file that moves between devices, and the losses, the renderer's gradients, the fitter,
refinement and the evaluation agreeing with the CPU."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers.tiny_training import build_tiny_synth, tiny_config

from s2h_lib.cli import main
from s2h_lib.data.factory import make_dataset
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.evaluation.errors import pa_mpjpe_mm
from s2h_lib.evaluation.eval_model import load_trained_model
from s2h_lib.fit.fit_config import FitConfig
from s2h_lib.fit.fitter import fit_batch, fit_predictor
from s2h_lib.fit.refine import refine_predictor
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import compute_losses
from s2h_lib.net.model import HandNet
from s2h_lib.train.trainer import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MM = 1e-3  # metres


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_synth(tmp_path_factory.mktemp("cuda") / "s2h_synth")


@pytest.fixture(scope="module")
def test_batch(synth_root: Path) -> HandSample:
    """The 8 test images of the tiny S2H-Synth, with their truth, on the CPU."""
    dataset = make_dataset(tiny_config(synth_root).data, "test", with_truth=True)
    return collate_samples([dataset[i] for i in range(len(dataset))])


@pytest.fixture(scope="module")
def cuda_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny config (both stages, the second with the render losses) trained on the GPU under
    bfloat16 autocast."""
    config = tiny_config(synth_root, device="cuda", amp=True)
    return config, train(config, tmp_path_factory.mktemp("run") / "cuda", progress=False)


@pytest.fixture(autouse=True)
def exact_float32():
    """Full float32 matrix products and convolutions, so the CPU comparisons can be tight."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def test_amp_training_on_the_gpu_takes_every_step(cuda_run):
    config, result = cuda_run
    assert result.global_step == config.total_steps
    assert result.skipped_steps == 0
    assert result.last_losses and all(math.isfinite(v) for v in result.last_losses.values())


def test_a_model_trained_on_the_gpu_predicts_the_same_on_the_cpu(cuda_run, test_batch):
    _, result = cuda_run
    on_gpu, _ = load_trained_model(result.model_path, "cuda")
    on_cpu, _ = load_trained_model(result.model_path, "cpu")
    assert next(on_gpu.parameters()).device.type == "cuda"
    assert next(on_cpu.parameters()).device.type == "cpu"
    with torch.no_grad():
        gpu = on_gpu.predict(test_batch.to("cuda"))
        cpu = on_cpu.predict(test_batch)
    assert gpu.joints.device.type == "cuda"
    torch.testing.assert_close(gpu.joints.cpu(), cpu.joints, atol=0.01 * MM, rtol=0)
    torch.testing.assert_close(gpu.keypoints2d.cpu(), cpu.keypoints2d, atol=1e-3, rtol=0)


def test_autocast_leaves_the_geometry_in_float32_with_finite_gradients(synth_root, test_batch):
    model = HandNet(tiny_config(synth_root).model).to("cuda").train()
    batch = test_batch.to("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        pred = model.predict(batch)
        result = compute_losses(pred, batch, model.faces, LossConfig(), stage="shape")
    for name in ("joints", "verts", "keypoints2d"):
        value = getattr(pred, name)
        assert value.dtype == torch.float32, name
        assert torch.isfinite(value).all(), name
    result.total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("stage", ["shape", "finetune"])
def test_losses_and_their_gradients_match_the_cpu(synth_root, test_batch, stage):
    """The same prediction scored on both devices; "finetune" renders (the photometric
    terms), so this covers the soft rasteriser's CUDA path too."""
    model = HandNet(tiny_config(synth_root).model).eval()
    with torch.no_grad():
        pred = model.predict(test_batch)
    values, grads = {}, {}
    for device in ("cpu", "cuda"):
        leaves = pred.map(lambda t, d=device: t.detach().to(d).requires_grad_(True))
        result = compute_losses(
            leaves, test_batch.to(device), model.faces.to(device), LossConfig(), stage=stage
        )
        result.total.backward()
        values[device] = {name: float(v.detach()) for name, v in result.terms.items()}
        grads[device] = {
            name: leaf.grad.cpu()
            for name, leaf in vars(leaves).items()
            if leaf is not None and leaf.grad is not None
        }
    assert values["cpu"].keys() == values["cuda"].keys()
    for name, value in values["cpu"].items():
        assert values["cuda"][name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    assert grads["cpu"] and grads["cpu"].keys() == grads["cuda"].keys()
    for name, grad in grads["cpu"].items():
        torch.testing.assert_close(grads["cuda"][name], grad, rtol=1e-3, atol=1e-6, msg=name)


def test_the_fitter_on_the_gpu_is_as_accurate_as_on_the_cpu(test_batch):
    config = FitConfig(steps=60)
    errors = {}
    for device in ("cpu", "cuda"):
        result = fit_batch(replace(test_batch.to(device), truth=None), config)
        assert result.prediction.joints.device.type == device
        joints = result.prediction.joints.detach().cpu().numpy()
        errors[device] = pa_mpjpe_mm(joints, test_batch.truth.joints3d.numpy())
    assert abs(errors["cuda"].mean() - errors["cpu"].mean()) < 0.5, errors


def test_eval_on_the_gpu_reports_the_cpus_metrics(cuda_run, tmp_path: Path):
    _, result = cuda_run
    metrics = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        assert (
            main(["eval", "--model", str(result.model_path), "--out", str(out), "--device", device])
            == 0
        )
        metrics[device] = json.loads((out / "metrics.json").read_text())
    for key in ("pa_mpjpe_mm", "pa_mpvpe_mm"):
        assert metrics["cuda"][key] == pytest.approx(metrics["cpu"][key], abs=0.01), key


def test_refinement_and_fitting_take_cpu_batches_and_fit_on_the_gpu(cuda_run, test_batch):
    """The evaluation loader yields CPU batches: refinement fits on its model's device and the
    fitting baseline on the one it is given, as accurately as on the CPU."""
    _, result = cuda_run
    batch = replace(test_batch, truth=None)
    truth = test_batch.truth.joints3d.numpy()
    config = FitConfig(steps=60)
    errors = {}
    for device in ("cpu", "cuda"):
        model, _ = load_trained_model(result.model_path, device)
        refined = refine_predictor(model)(batch)
        fitted = fit_predictor(config, device=device)(batch)
        for pred in (refined, fitted):
            assert pred.joints.device.type == device
        errors[device] = [
            pa_mpjpe_mm(pred.joints.detach().cpu().numpy(), truth).mean()
            for pred in (refined, fitted)
        ]
    for on_gpu, on_cpu in zip(errors["cuda"], errors["cpu"], strict=True):
        assert abs(on_gpu - on_cpu) < 0.5, errors
