import math

import pytest
import torch
from scipy.spatial.transform import Rotation

from s2h_lib.hand.rotations import (
    SMALL_ANGLE_SQ,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    mirror_axis_angle,
    project_to_so3,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_6d_to_matrix_symmetric,
    skew,
)

F64 = torch.float64


def random_axis_angle(n: int, seed: int = 0, max_angle: float = math.pi) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=F64), dim=-1)
    return axis * torch.rand(n, 1, generator=g, dtype=F64) * max_angle


def assert_rotation(R: torch.Tensor, atol: float = 1e-10) -> None:
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye, atol=atol, rtol=0)
    torch.testing.assert_close(torch.det(R), torch.ones(R.shape[:-2], dtype=R.dtype))


def test_axis_angle_to_matrix_matches_scipy():
    a = random_axis_angle(200)
    expected = torch.from_numpy(Rotation.from_rotvec(a.numpy()).as_matrix())
    torch.testing.assert_close(axis_angle_to_matrix(a), expected, atol=1e-12, rtol=0)


def test_axis_angle_to_matrix_keeps_leading_dims():
    a = random_axis_angle(24).view(2, 4, 3, 3)
    assert axis_angle_to_matrix(a).shape == (2, 4, 3, 3, 3)


@pytest.mark.parametrize(
    "angle", [0.0, 1e-12, 1e-7, 1e-4, 1e-3, 0.5, 2.0, math.pi - 1e-3, math.pi - 1e-6]
)
def test_axis_angle_round_trip(angle):
    axis = torch.nn.functional.normalize(torch.tensor([[0.3, -0.5, 0.8]], dtype=F64), dim=-1)
    a = axis * angle
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(a)), a, atol=1e-9, rtol=0)


def test_axis_angle_at_pi_gives_the_same_rotation():
    a = torch.tensor([[0.0, math.pi, 0.0], [math.pi / math.sqrt(2), 0.0, math.pi / math.sqrt(2)]])
    back = matrix_to_axis_angle(axis_angle_to_matrix(a.double()))
    torch.testing.assert_close(back.norm(dim=-1), torch.full((2,), math.pi, dtype=F64))
    torch.testing.assert_close(
        axis_angle_to_matrix(back), axis_angle_to_matrix(a.double()), atol=1e-12, rtol=0
    )


def test_matrix_to_axis_angle_matches_scipy():
    rotations = Rotation.random(300, random_state=1)
    expected = torch.from_numpy(rotations.as_rotvec())
    got = matrix_to_axis_angle(torch.from_numpy(rotations.as_matrix()))
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)


def test_quaternion_to_matrix_matches_scipy_and_normalises():
    rotations = Rotation.random(50, random_state=2)
    xyzw = torch.from_numpy(rotations.as_quat())
    wxyz = torch.cat([xyzw[:, 3:], xyzw[:, :3]], dim=1)
    expected = torch.from_numpy(rotations.as_matrix())
    torch.testing.assert_close(quaternion_to_matrix(wxyz), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(quaternion_to_matrix(3 * wxyz), expected, atol=1e-12, rtol=0)


def test_quaternion_is_unit_with_non_negative_w():
    q = matrix_to_quaternion(axis_angle_to_matrix(random_axis_angle(100, seed=3)))
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(100, dtype=F64))
    assert (q[:, 0] >= 0).all()


def test_both_sides_of_the_small_angle_branch_are_exact():
    direction = torch.tensor([0.6, 0.0, 0.8], dtype=F64)
    edge = math.sqrt(SMALL_ANGLE_SQ)
    a = torch.stack([direction * edge * (1 - 1e-9), direction * edge * (1 + 1e-9)])
    expected = torch.from_numpy(Rotation.from_rotvec(a.numpy()).as_matrix())
    torch.testing.assert_close(axis_angle_to_matrix(a), expected, atol=1e-15, rtol=0)
    torch.testing.assert_close(matrix_to_axis_angle(expected), a, atol=1e-15, rtol=0)


def test_derivative_at_zero_is_the_so3_generator():
    jacobian = torch.autograd.functional.jacobian(axis_angle_to_matrix, torch.zeros(3, dtype=F64))
    generators = skew(torch.eye(3, dtype=F64))  # generators[k] = skew(e_k)
    torch.testing.assert_close(jacobian.permute(2, 0, 1), generators, atol=1e-15, rtol=0)


def test_matrix_to_axis_angle_has_identity_derivative_at_zero():
    def round_trip(a):
        return matrix_to_axis_angle(axis_angle_to_matrix(a))

    jacobian = torch.autograd.functional.jacobian(round_trip, torch.zeros(3, dtype=F64))
    torch.testing.assert_close(jacobian, torch.eye(3, dtype=F64), atol=1e-12, rtol=0)


def test_float32_gradient_is_finite_at_zero():
    a = torch.zeros(4, 3, requires_grad=True)
    matrix_to_axis_angle(axis_angle_to_matrix(a)).sum().backward()
    assert torch.isfinite(a.grad).all()


@pytest.mark.parametrize("scale", [1e-5, 1e-2, 1.0, 3.0])
def test_gradcheck_axis_angle_to_matrix(scale):
    a = (random_axis_angle(5, seed=4) * scale / math.pi).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (a,))


def test_gradcheck_matrix_to_axis_angle():
    a = random_axis_angle(6, seed=5, max_angle=3.0)
    R = axis_angle_to_matrix(a).requires_grad_()
    assert torch.autograd.gradcheck(matrix_to_axis_angle, (R,))


def test_6d_round_trip():
    R = axis_angle_to_matrix(random_axis_angle(50, seed=6))
    d6 = matrix_to_rotation_6d(R)
    assert d6.shape == (50, 6)
    torch.testing.assert_close(rotation_6d_to_matrix(d6), R, atol=1e-12, rtol=0)
    torch.testing.assert_close(rotation_6d_to_matrix_symmetric(d6), R, atol=1e-12, rtol=0)


def test_6d_gram_schmidt_keeps_the_first_vector():
    d6 = torch.randn(40, 6, generator=torch.Generator().manual_seed(7), dtype=F64)
    R = rotation_6d_to_matrix(d6)
    assert_rotation(R)
    x = torch.nn.functional.normalize(d6[:, :3], dim=-1)
    torch.testing.assert_close(R[:, :, 0], x)
    # the second input lies in the plane of the first two columns, on the y side
    assert (torch.einsum("ni,ni->n", R[:, :, 2], d6[:, 3:]).abs() < 1e-12).all()
    assert (torch.einsum("ni,ni->n", R[:, :, 1], d6[:, 3:]) > 0).all()


def test_6d_symmetric_variant_treats_both_vectors_alike():
    d6 = torch.randn(40, 6, generator=torch.Generator().manual_seed(8), dtype=F64)
    R = rotation_6d_to_matrix_symmetric(d6)
    assert_rotation(R)
    swapped = rotation_6d_to_matrix_symmetric(torch.cat([d6[:, 3:], d6[:, :3]], dim=-1))
    torch.testing.assert_close(swapped[:, :, 0], R[:, :, 1])
    torch.testing.assert_close(swapped[:, :, 1], R[:, :, 0])
    # the bisector of the inputs is the bisector of the first two columns
    u = torch.nn.functional.normalize(d6[:, :3], dim=-1)
    v = torch.nn.functional.normalize(d6[:, 3:], dim=-1)
    bisector = torch.nn.functional.normalize(u + v, dim=-1)
    torch.testing.assert_close(bisector, (R[:, :, 0] + R[:, :, 1]) / math.sqrt(2))


def test_project_to_so3_of_noisy_matrices():
    g = torch.Generator().manual_seed(9)
    R = axis_angle_to_matrix(random_axis_angle(64, seed=9)).view(4, 16, 3, 3)
    noisy = R + 0.2 * torch.randn(R.shape, generator=g, dtype=F64)
    projected = project_to_so3(noisy)
    assert projected.shape == (4, 16, 3, 3)
    assert_rotation(projected)
    # the closest rotation: closer to the noisy matrix than the clean one and than a nudge of it
    err = (projected - noisy).square().sum((-1, -2))
    assert (err <= (R - noisy).square().sum((-1, -2)) + 1e-12).all()
    nudged = axis_angle_to_matrix(torch.full((4, 16, 3), 1e-3, dtype=F64)) @ projected
    assert (err <= (nudged - noisy).square().sum((-1, -2))).all()


def test_project_to_so3_fixes_reflections_and_keeps_rotations():
    R = axis_angle_to_matrix(random_axis_angle(10, seed=10))
    torch.testing.assert_close(project_to_so3(R), R, atol=1e-12, rtol=0)
    reflected = R * torch.tensor([1.0, 1.0, -1.0], dtype=F64)
    assert (torch.det(reflected) < 0).all()
    assert_rotation(project_to_so3(reflected))


@pytest.mark.parametrize("noise", [0.0, 1e-3, 0.3])
def test_gradcheck_project_to_so3(noise):
    g = torch.Generator().manual_seed(13)
    R = axis_angle_to_matrix(random_axis_angle(6, seed=13))
    matrix = R + noise * torch.randn(R.shape, generator=g, dtype=F64)
    assert torch.autograd.gradcheck(project_to_so3, (matrix.requires_grad_(),))


def test_gradcheck_project_to_so3_of_reflections():
    g = torch.Generator().manual_seed(14)
    R = axis_angle_to_matrix(random_axis_angle(6, seed=14)) * torch.tensor([1.0, -1.0, 1.0])
    matrix = R + 0.1 * torch.randn(R.shape, generator=g, dtype=F64)
    assert (torch.det(matrix) < 0).all()
    assert torch.autograd.gradcheck(project_to_so3, (matrix.requires_grad_(),))


def test_mirror_axis_angle_is_conjugation_by_the_x_reflection():
    a = random_axis_angle(30, seed=11)
    S = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=F64))
    torch.testing.assert_close(
        axis_angle_to_matrix(mirror_axis_angle(a)), S @ axis_angle_to_matrix(a) @ S
    )


def test_skew_is_the_cross_product():
    v, x = torch.randn(2, 5, 3, dtype=F64, generator=torch.Generator().manual_seed(12))
    torch.testing.assert_close((skew(v) @ x[..., None])[..., 0], torch.linalg.cross(v, x))
