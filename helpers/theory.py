"""The small models of notebook 01, in NumPy (float64 unless said otherwise).

- scalar recurrence ``h_t = w·h_{t-1}``: ``dh_T/dh_0 = w^T``
- matrix recurrence: ``‖W^k‖`` for ``W`` scaled to a chosen spectral radius
- the "cliff" of Pascanu, Mikolov & Bengio (2013, Fig. 6): ``x_t = w·σ(x_{t-1}) + b``, ``x_0 = 0.5``,
  loss ``(σ(x_50) − 0.7)²``, with its exact gradient over a grid of ``(w, b)`` (also used in notebook 03)
"""

from __future__ import annotations

import numpy as np

from helpers import checks


def scalar_jacobians(w: float, steps: int) -> np.ndarray:
    """``|dh_t/dh_0| = |w|^t`` for ``t = 0..steps``, shape ``(steps + 1,)``."""
    w = checks.finite("w", w)
    steps = checks.positive_int("steps", steps)
    return np.abs(w) ** np.arange(steps + 1, dtype=np.float64)


def matrix_with_spectral_radius(
    rho: float, size: int = 32, seed: int = 0, kind: str = "orthogonal"
) -> np.ndarray:
    """A random ``(size, size)`` matrix (from ``seed``) with spectral radius exactly ``rho``.

    Args:
        kind: ``"orthogonal"``: ``rho·Q``, ``Q`` orthogonal (every singular value is ``rho``); ``"gaussian"``: a
            Gaussian matrix rescaled, whose largest singular value exceeds ``rho`` (so ``‖W^k‖`` can first grow).
    """
    rho = checks.positive("rho", rho)
    size = checks.positive_int("size", size)
    checks.one_of("kind", kind, ("orthogonal", "gaussian"))
    rng = np.random.default_rng(checks.positive_int("seed", seed, minimum=0))
    a = rng.standard_normal((size, size))
    if kind == "orthogonal":
        q, r = np.linalg.qr(a)
        return rho * q * np.sign(np.diag(r))
    return rho * a / np.max(np.abs(np.linalg.eigvals(a)))


def _square(matrix) -> np.ndarray:
    matrix = checks.array("matrix", matrix, ndim=2)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square, got shape {matrix.shape}")
    return matrix


def matrix_power_norms(matrix: np.ndarray, steps: int) -> np.ndarray:
    """Spectral norms ``‖W^k‖₂`` for ``k = 0..steps``: the most a gradient sent back ``k`` steps through
    ``h_t = W h_{t-1}`` can grow."""
    matrix = _square(matrix)
    steps = checks.positive_int("steps", steps)
    norms = np.empty(steps + 1)
    power = np.eye(matrix.shape[0])
    for k in range(steps + 1):
        norms[k] = np.linalg.norm(power, 2)
        power = power @ matrix
    return norms


def sigmoid(x):
    """The logistic function, ``1 / (1 + e^-x)``."""
    return 1.0 / (1.0 + np.exp(-x))


CLIFF_STEPS = 50
CLIFF_X0 = 0.5
CLIFF_TARGET = 0.7


def cliff_loss_and_grad(
    w, b, steps: int = CLIFF_STEPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cliff's ``(L, dL/dw, dL/db)`` (exact, forward mode), each of the broadcast shape of ``w`` and ``b``.

    Args:
        w, b, steps: weights and biases (arrays, broadcast together, element-wise), the number of steps.
    """
    w = checks.array("w", w).astype(np.float64)
    b = checks.array("b", b).astype(np.float64)
    steps = checks.positive_int("steps", steps)
    w, b = np.broadcast_arrays(w, b)
    x = np.full(w.shape, CLIFF_X0)
    dx_dw = np.zeros(w.shape)
    dx_db = np.zeros(w.shape)
    for _ in range(steps):
        s = sigmoid(x)
        ds = s * (1.0 - s)
        dx_dw, dx_db = s + w * ds * dx_dw, 1.0 + w * ds * dx_db
        x = w * s + b
    s = sigmoid(x)
    dloss_dx = 2.0 * (s - CLIFF_TARGET) * s * (1.0 - s)
    return (s - CLIFF_TARGET) ** 2, dloss_dx * dx_dw, dloss_dx * dx_db


ACTIVATIONS = {
    # name: (function, derivative as a function of the pre-activation, bound γ on |σ'|)
    "linear": (lambda a: a, lambda a: np.ones_like(a), 1.0),
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2, 1.0),
    "sigmoid": (sigmoid, lambda a: sigmoid(a) * (1.0 - sigmoid(a)), 0.25),
}


def recurrent_preactivations(
    matrix: np.ndarray,
    steps: int,
    activation: str = "tanh",
    input_scale: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Pre-activations ``a_t = W h_{t-1} + x_t``, shape ``(steps, size)``, of ``h_t = σ(a_t)``, ``h_0 = 0``;
    ``σ'(a_t)`` tells how saturated the units are.

    Args:
        matrix, steps, activation: ``W`` (square), the number of steps, ``σ`` (a key of ``ACTIVATIONS``).
        input_scale, seed: the inputs ``x_t`` are standard normal (from ``seed``) times ``input_scale``.
    """
    matrix = _square(matrix)
    steps = checks.positive_int("steps", steps)
    checks.one_of("activation", activation, ACTIVATIONS)
    input_scale = checks.non_negative("input_scale", input_scale)
    function = ACTIVATIONS[activation][0]
    rng = np.random.default_rng(checks.positive_int("seed", seed, minimum=0))
    size = matrix.shape[0]
    h = np.zeros(size)
    preactivations = np.empty((steps, size))
    for k in range(steps):
        preactivations[k] = matrix @ h + input_scale * rng.standard_normal(size)
        h = function(preactivations[k])
    return preactivations


def recurrent_jacobian_norms(
    matrix: np.ndarray,
    steps: int,
    activation: str = "tanh",
    input_scale: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Spectral norms ``‖∂h_k/∂h_0‖₂`` for ``k = 0..steps`` of the recurrence of ``recurrent_preactivations``
    (same arguments, same numbers).

    Each step multiplies the Jacobian by ``diag(σ'(a_t))·W``: with ``|σ'| ≤ γ`` the norm shrinks geometrically when
    ``W``'s largest singular value is below ``1/γ`` (Pascanu et al. 2013, §2.1); above it growth is possible, not
    certain (large inputs saturate the units).
    """
    preactivations = recurrent_preactivations(matrix, steps, activation, input_scale, seed)
    matrix = np.asarray(matrix, dtype=np.float64)
    derivative = ACTIVATIONS[activation][1]
    jacobian = np.eye(matrix.shape[0])
    norms = np.empty(steps + 1)
    norms[0] = 1.0
    for k, a in enumerate(preactivations, start=1):
        jacobian = (derivative(a)[:, None] * matrix) @ jacobian
        norms[k] = np.linalg.norm(jacobian, 2)
    return norms
