"""HandPrediction's field-by-field helpers: every tensor field follows, None fields stay None."""

import dataclasses

import torch

from s2h_lib.net.prediction import HandPrediction

SHAPES = {
    "pose_coeffs": (2, 45),
    "global_rot": (2, 3),
    "joint_angles": (2, 16, 3),
    "betas": (2, 10),
    "scale": (2,),
    "trans": (2, 3),
    "verts": (2, 5, 3),
    "joints": (2, 21, 3),
    "keypoints2d": (2, 21, 2),
    "lights": (2, 11),
}


def prediction(seed: int) -> HandPrediction:
    generator = torch.Generator().manual_seed(seed)
    return HandPrediction(
        **{name: torch.randn(shape, generator=generator) for name, shape in SHAPES.items()}
    )


def test_map_applies_to_every_tensor_and_keeps_none():
    pred = prediction(0)
    second = pred.map(lambda tensor: tensor[1:])
    for field in dataclasses.fields(HandPrediction):
        value = getattr(pred, field.name)
        if value is None:
            assert getattr(second, field.name) is None
        else:
            assert torch.equal(getattr(second, field.name), value[1:])


def test_map_detach_cuts_the_graph():
    pred = prediction(0)
    pred.verts.requires_grad_()
    assert not pred.map(torch.Tensor.detach).verts.requires_grad


def test_combine_concatenates_field_by_field():
    first, second = prediction(0), prediction(1)
    both = HandPrediction.combine([first, second], torch.cat)
    assert both.joints.shape == (4, 21, 3) and both.texture is None
    assert torch.equal(both.trans[2:], second.trans)
    assert torch.equal(both.keypoints2d[:2], first.keypoints2d)
