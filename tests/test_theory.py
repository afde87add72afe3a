"""helpers.theory: the small models of notebook 01 agree with their closed forms."""

import numpy as np
import pytest

from helpers import theory


@pytest.mark.parametrize("w", [0.5, -0.9, 1.0, 1.1])
def test_scalar_jacobians_are_powers(w):
    np.testing.assert_allclose(theory.scalar_jacobians(w, 50), np.abs(w) ** np.arange(51))


@pytest.mark.parametrize("kind", ["orthogonal", "gaussian"])
@pytest.mark.parametrize("rho", [0.7, 1.0, 1.3])
def test_matrix_has_the_requested_spectral_radius(kind, rho):
    matrix = theory.matrix_with_spectral_radius(rho, 16, seed=1, kind=kind)
    assert np.max(np.abs(np.linalg.eigvals(matrix))) == pytest.approx(rho, rel=1e-9)


def test_orthogonal_powers_follow_rho_to_the_k():
    rho = 1.2
    norms = theory.matrix_power_norms(theory.matrix_with_spectral_radius(rho, 8), 30)
    np.testing.assert_allclose(norms, rho ** np.arange(31), rtol=1e-9)


def test_linear_jacobian_norms_equal_matrix_power_norms():
    matrix = theory.matrix_with_spectral_radius(1.1, 8, kind="gaussian", seed=2)
    np.testing.assert_allclose(
        theory.recurrent_jacobian_norms(matrix, 20, "linear"),
        theory.matrix_power_norms(matrix, 20),
        rtol=1e-9,
    )


def test_sigmoid_below_one_over_gamma_vanishes():
    # Pascanu et al. 2013: lambda_1 < 1/gamma = 4 is sufficient for vanishing with the sigmoid.
    norms = theory.recurrent_jacobian_norms(
        theory.matrix_with_spectral_radius(3.9, 16), 200, "sigmoid"
    )
    assert norms[-1] < 1e-6 * norms[0]


def test_preactivations_drive_the_jacobian_norms():
    # recurrent_jacobian_norms runs the recurrence of recurrent_preactivations: the product of diag(σ'(a_t))·W
    matrix = theory.matrix_with_spectral_radius(1.5, 8)
    a = theory.recurrent_preactivations(matrix, 30, "tanh", input_scale=0.3, seed=4)
    assert a.shape == (30, 8)
    jacobian = np.eye(8)
    for a_t in a:
        jacobian = np.diag(1 - np.tanh(a_t) ** 2) @ matrix @ jacobian
    norms = theory.recurrent_jacobian_norms(matrix, 30, "tanh", input_scale=0.3, seed=4)
    assert norms[-1] == pytest.approx(np.linalg.norm(jacobian, 2), rel=1e-9)
    np.testing.assert_array_equal(
        a[0], 0.3 * np.random.default_rng(4).standard_normal(8)
    )  # h_0 = 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_input_scale_decides_for_tanh_above_one_over_gamma(seed):
    # lambda_1 = 1.5 > 1/gamma = 1: with small inputs the product grows, large inputs saturate tanh (vanishing)
    matrix = theory.matrix_with_spectral_radius(1.5, 32)
    small = theory.recurrent_jacobian_norms(matrix, 100, "tanh", input_scale=0.1, seed=seed)[-1]
    large = theory.recurrent_jacobian_norms(matrix, 100, "tanh", input_scale=1.0, seed=seed)[-1]
    assert small > 1e2 and large < 1e-2
    tanh_prime = theory.ACTIVATIONS["tanh"][1]
    means = [
        tanh_prime(theory.recurrent_preactivations(matrix, 100, "tanh", s, seed)).mean()
        for s in (0.1, 1.0)
    ]
    assert means[0] > means[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tanh_above_one_saturates_by_itself(seed):
    # lambda_1 = 1.5: the origin is unstable, so even tiny inputs grow until tanh saturates (notebook 01, §2)
    matrix = theory.matrix_with_spectral_radius(1.5, 32)
    a = theory.recurrent_preactivations(matrix, 100, "tanh", input_scale=1e-3, seed=seed)
    first = int(np.argmax(np.abs(np.tanh(a)).max(axis=1) > 0.9))
    assert 0 < first < 50  # no unit near saturation at step 1, some well before step 50
    assert theory.ACTIVATIONS["tanh"][1](a[50:]).mean() < 0.8  # far from the linear tanh' = 1
    norms = theory.recurrent_jacobian_norms(matrix, 100, "tanh", input_scale=1e-3, seed=seed)
    linear = theory.recurrent_jacobian_norms(matrix, 100, "linear")
    assert 1.0 < norms[-1] < 1e-6 * linear[-1]  # grows, but nowhere near 1.5^100


def test_cliff_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    w, b = rng.uniform(-2, 12, 20), rng.uniform(-8, 4, 20)
    _, grad_w, grad_b = theory.cliff_loss_and_grad(w, b)
    eps = 1e-6
    fd_w = (
        theory.cliff_loss_and_grad(w + eps, b)[0] - theory.cliff_loss_and_grad(w - eps, b)[0]
    ) / (2 * eps)
    fd_b = (
        theory.cliff_loss_and_grad(w, b + eps)[0] - theory.cliff_loss_and_grad(w, b - eps)[0]
    ) / (2 * eps)
    np.testing.assert_allclose(grad_w, fd_w, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(grad_b, fd_b, rtol=1e-4, atol=1e-9)


def test_cliff_has_a_wall():
    w, b = np.meshgrid(np.linspace(-2, 12, 141), np.linspace(-8, 4, 121))
    _, grad_w, grad_b = theory.cliff_loss_and_grad(w, b)
    norm = np.hypot(grad_w, grad_b)
    assert norm.max() > 100 * np.median(norm)


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: theory.scalar_jacobians(float("nan"), 5), ValueError, "w"),
        (lambda: theory.scalar_jacobians(1.0, 0), ValueError, "steps"),
        (lambda: theory.matrix_with_spectral_radius(0.0), ValueError, "rho"),
        (lambda: theory.matrix_with_spectral_radius(1.0, size=0), ValueError, "size"),
        (lambda: theory.matrix_with_spectral_radius(1.0, kind="unitary"), ValueError, "kind"),
        (lambda: theory.matrix_power_norms(np.zeros((2, 3)), 3), ValueError, "matrix"),
        (lambda: theory.matrix_power_norms(np.zeros(3), 3), ValueError, "matrix"),
        (lambda: theory.recurrent_jacobian_norms(np.eye(2), 3, "relu"), ValueError, "activation"),
        (
            lambda: theory.recurrent_jacobian_norms(np.eye(2), 3, input_scale=-1),
            ValueError,
            "input_scale",
        ),
        (
            lambda: theory.recurrent_preactivations(np.eye(2), 3, input_scale=-1),
            ValueError,
            "input_scale",
        ),
        (lambda: theory.recurrent_preactivations(np.ones((2, 3)), 3), ValueError, "square"),
        (lambda: theory.recurrent_preactivations(np.eye(2), 0), ValueError, "steps"),
        (lambda: theory.cliff_loss_and_grad(1.0, 1.0, steps=-2), ValueError, "steps"),
        (lambda: theory.cliff_loss_and_grad("w", 1.0), TypeError, "w"),
    ],
)
def test_bad_input(call, error, name):
    with pytest.raises(error, match=name):
        call()
