"""helpers.clipping's adaptive rules (notebook 05): AGC (Brock et al. 2021) against its unit-wise formula written out
in NumPy, the final layer left alone; AutoClip (Seetharaman et al. 2020) against ``np.percentile`` over every prefix of
the recorded norms; both eagerly and inside jit-compiled functions; inf/NaN behaviour; bad parameters."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import clipping, models

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INF, NAN = float("inf"), float("nan")


def _np_unitwise_norm(x: np.ndarray) -> np.ndarray:
    """The unit-wise norm written out: one unit per output column (kernels are (inputs, outputs) in Keras)."""
    x = np.asarray(x, np.float64)
    if x.ndim <= 1:
        return np.full(x.shape, np.sqrt(np.sum(x**2)))
    axes = (0,) if x.ndim in (2, 3) else (0, 1, 2)
    return np.broadcast_to(np.sqrt(np.sum(x**2, axis=axes, keepdims=True)), x.shape)


def _np_agc(grads, params, lam, eps=1e-3, skip=()):
    """Brock et al. (2021), eq. 3, unit by unit."""
    out = []
    for i, (g, w) in enumerate(zip(grads, params, strict=True)):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        if i in skip:
            out.append(g)
            continue
        w_star = np.maximum(_np_unitwise_norm(w), eps)
        g_norm = _np_unitwise_norm(g)
        ratio = g_norm / w_star
        out.append(np.where(ratio > lam, lam * w_star / np.where(g_norm > 0, g_norm, 1.0) * g, g))
    return out


# ---------------------------------------------------------------------------------------------------------------
# AGC on hand-made tensors


def test_unitwise_norm_is_per_output_column_for_kernels_and_whole_for_vectors():
    kernel = np.array([[3.0, 0.0, 1.0], [4.0, 2.0, 0.0]])  # (inputs=2, outputs=3)
    np.testing.assert_allclose(
        clipping.unitwise_norm(kernel).numpy(), [[5.0, 2.0, 1.0], [5.0, 2.0, 1.0]]
    )
    np.testing.assert_allclose(clipping.unitwise_norm(np.array([3.0, 4.0])).numpy(), [5.0, 5.0])
    assert float(clipping.unitwise_norm(np.float64(-2.0))) == 2.0
    rng = np.random.default_rng(0)
    for shape in [(4, 3, 2), (2, 2, 3, 5)]:
        x = rng.normal(size=shape)
        np.testing.assert_allclose(
            clipping.unitwise_norm(x).numpy(), _np_unitwise_norm(x), rtol=1e-12
        )
    conv = clipping.unitwise_norm(rng.normal(size=(2, 2, 3, 5))).numpy()
    assert np.allclose(conv, conv[:1, :1, :1, :])  # one value per output channel
    with pytest.raises(ValueError, match="rank"):
        clipping.unitwise_norm(np.zeros((1, 1, 1, 1, 1)))


def test_agc_matches_the_unit_wise_formula_by_hand():
    # kernel (2 inputs, 2 units): unit 0 has ‖W‖ = 5, ‖G‖ = 1 -> ratio 0.2 > λ = 0.1: rescaled to ‖G‖ = 0.5;
    #                             unit 1 has ‖W‖ = 10, ‖G‖ = 0.5 -> ratio 0.05: left alone
    kernel = np.array([[3.0, 6.0], [4.0, 8.0]])
    g_kernel = np.array([[0.6, 0.3], [0.8, 0.4]])
    # bias (one unit): ‖W‖ = 0 -> max(0, ε) = 1e-3, ‖G‖ = 5 -> rescaled to λ·ε = 1e-4
    bias, g_bias = np.zeros(2), np.array([3.0, -4.0])
    # a final layer with a huge gradient, skipped
    final, g_final = np.ones((2, 1)), np.array([[100.0], [0.0]])
    grads, params = [g_kernel, g_bias, g_final], [kernel, bias, final]
    clipped, norm = clipping.agc(grads, params, 0.1, skip=[2])
    np.testing.assert_allclose(clipped[0].numpy(), [[0.3, 0.3], [0.4, 0.4]], rtol=1e-12)
    np.testing.assert_allclose(clipped[1].numpy(), [0.6e-4, -0.8e-4], rtol=1e-12)
    np.testing.assert_array_equal(clipped[2].numpy(), g_final)
    assert float(norm) == pytest.approx(math.sqrt(1.0 + 0.25 + 25.0 + 100.0**2), rel=1e-12)
    ratios = clipping.unitwise_ratios(grads, params)
    np.testing.assert_allclose(ratios[0].numpy()[0], [0.2, 0.05], rtol=1e-12)
    np.testing.assert_allclose(ratios[1].numpy(), [5000.0, 5000.0], rtol=1e-12)
    # without skip, the final layer is clipped too: ‖W_0‖ = √2, λ·√2 / 100
    clipped_all, _ = clipping.agc(grads, params, 0.1)
    np.testing.assert_allclose(clipped_all[2].numpy(), [[0.1 * math.sqrt(2.0)], [0.0]], rtol=1e-12)


def test_agc_eps_floors_the_weight_norm():
    g, w = [np.array([1.0, 0.0])], [np.zeros(2)]
    small, _ = clipping.agc(g, w, 1.0, eps=1e-3)
    large, _ = clipping.agc(g, w, 1.0, eps=0.5)
    np.testing.assert_allclose(small[0].numpy(), [1e-3, 0.0])
    np.testing.assert_allclose(large[0].numpy(), [0.5, 0.0])


def test_agc_rescales_tiny_gradients_exactly_to_the_bound():
    # ‖G‖ = 1.2e-7 > λ·ε = 1e-7: rescaled to exactly 1e-7 (a 1e-6 floor on ‖G‖, as optax has, would give 1.2e-8)
    clipped, _ = clipping.agc(
        [np.array([1.1920929e-07], np.float32)], [np.zeros(1, np.float32)], 1e-3, eps=1e-4
    )
    np.testing.assert_allclose(clipped[0].numpy(), [1e-7], rtol=1e-5)


finite32 = st.floats(
    -1e3, 1e3, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False
)


@st.composite
def grads_and_params(draw):
    shapes = draw(
        st.lists(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), min_size=1, max_size=4)
    )
    grads = [draw(hnp.arrays(np.float32, shape, elements=finite32)) for shape in shapes]
    params = [draw(hnp.arrays(np.float32, shape, elements=finite32)) for shape in shapes]
    return grads, params


@FAST
@given(grads_and_params(), st.floats(1e-3, 10.0), st.floats(1e-4, 1.0))
def test_agc_bounds_every_unit_ratio_and_keeps_each_unit_direction(gp, lam, eps):
    grads, params = gp
    clipped, norm = clipping.agc(grads, params, lam, eps=eps)
    expected = _np_agc(grads, params, lam, eps)
    for g, w, out, e in zip(grads, params, clipped, expected, strict=True):
        out = out.numpy()
        np.testing.assert_allclose(out, e, rtol=2e-5, atol=1e-6 * lam * max(eps, 1.0))
        ratio = _np_unitwise_norm(out) / np.maximum(_np_unitwise_norm(w), eps)
        assert np.all(ratio <= lam * (1 + 1e-5))
        # each unit is only scaled, by a factor in (0, 1]
        np.testing.assert_array_equal(np.sign(out), np.sign(g) * (np.abs(out) > 0))
    total = math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads))
    assert float(norm) == pytest.approx(total, rel=1e-5, abs=1e-30)


# ---------------------------------------------------------------------------------------------------------------
# AGC on a real model: the final layer is left alone


@pytest.fixture(scope="module")
def lstm_and_grads():
    keras.utils.set_random_seed(3)
    model = models.article_lstm()
    x = tf.random.stateless_uniform((16, 28, 28), seed=(1, 2))
    y = tf.random.stateless_uniform((16,), seed=(3, 4), maxval=10, dtype=tf.int64)
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    return model, tape.gradient(loss, model.trainable_variables)


def test_last_layer_of_the_article_lstm_is_the_softmax_layer(lstm_and_grads):
    model, _ = lstm_and_grads
    assert clipping.last_layer(model) == [3, 4]
    assert all("/softmax/" in model.trainable_variables[i].path for i in clipping.last_layer(model))


def test_agc_on_real_gradients_leaves_the_final_layer_alone(lstm_and_grads):
    model, grads = lstm_and_grads
    params = model.trainable_variables
    # λ below the typical ratio, so that the recurrent layer is clipped
    ratios = np.concatenate(
        [r.numpy().ravel() for r in clipping.unitwise_ratios(grads[:3], params[:3])]
    )
    lam = float(np.median(ratios))
    clipped, norm = clipping.agc(grads, params, lam, skip=clipping.last_layer(model))
    assert float(norm) == pytest.approx(float(clipping.global_norm(grads)), rel=1e-6)
    expected = _np_agc([g.numpy() for g in grads], [w.numpy() for w in params], lam, skip={3, 4})
    changed = []
    for i, (out, e, g) in enumerate(zip(clipped, expected, grads, strict=True)):
        np.testing.assert_allclose(out.numpy(), e, rtol=1e-5, atol=1e-9)
        changed.append(not np.array_equal(out.numpy(), g.numpy()))
        if i in (3, 4):
            np.testing.assert_array_equal(out.numpy(), g.numpy())
    assert any(changed[:3]), "λ at the median ratio must clip some unit of the LSTM"


def test_agc_runs_in_a_jit_compiled_function_with_tensor_lambda(lstm_and_grads):
    model, grads = lstm_and_grads
    skip = clipping.last_layer(model)

    @tf.function(jit_compile=True)
    def compiled(gs, lam):
        return clipping.agc(gs, model.trainable_variables, lam, skip=skip)

    for lam in (1e-3, 0.05):
        out, norm = compiled(grads, tf.constant(lam))
        eager, eager_norm = clipping.agc(grads, model.trainable_variables, lam, skip=skip)
        assert float(norm) == pytest.approx(float(eager_norm), rel=1e-6)
        for a, b in zip(out, eager, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# AGC and non-finite values (the module docstring's claims)


def test_agc_non_finite_gradients_stay_in_their_unit():
    w = np.ones((2, 3))
    g = np.array([[INF, NAN, 1.0], [1.0, 1.0, 0.1]])
    clipped, norm = clipping.agc([g], [w], 0.1)
    out = clipped[0].numpy()
    assert np.isnan(out[0, 0]) and out[1, 0] == 0.0  # inf unit: NaN where inf, 0 elsewhere
    assert np.all(np.isnan(out[:, 1]))  # NaN unit: NaN everywhere
    expected_unit = 0.1 * math.sqrt(2.0) / math.sqrt(1.01) * np.array([1.0, 0.1])
    np.testing.assert_allclose(
        out[:, 2], expected_unit, rtol=1e-12
    )  # the other unit clipped as usual
    assert math.isnan(float(norm))


def test_agc_nan_weight_makes_its_unit_nan_and_infinite_weight_leaves_it_unclipped():
    w = np.array([[NAN, INF, 1.0], [0.0, 0.0, 1.0]])
    g = np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    clipped, _ = clipping.agc([g], [w], 0.1)
    out = clipped[0].numpy()
    assert np.all(np.isnan(out[:, 0]))
    np.testing.assert_array_equal(out[:, 1], [0.5, 0.5])
    np.testing.assert_allclose(out[:, 2], [0.1, 0.1], rtol=1e-12)  # ‖G‖ = √0.5 rescaled to 0.1·√2


# ---------------------------------------------------------------------------------------------------------------
# AutoClip: the threshold sequence is the running percentile of the recorded norms


def _norm_stream(steps: int, seed: int = 0) -> np.ndarray:
    """Log-normal norms with a few spikes, like a training run's."""
    rng = np.random.default_rng(seed)
    norms = rng.lognormal(0.0, 0.5, steps)
    norms[rng.choice(steps, steps // 10, replace=False)] *= 30.0
    return norms


def _grads_with_norm(norm: float) -> list[tf.Tensor]:
    """Two tensors whose global norm is ``norm`` (3-4-5 split)."""
    return [tf.constant([0.6 * norm], tf.float64), tf.constant([[0.0, 0.8 * norm]], tf.float64)]


@pytest.mark.parametrize("p", [10.0, 0.5, 50.0, 87.5, 100.0])
def test_autoclip_threshold_sequence_is_the_running_percentile(p):
    norms = _norm_stream(60)
    clipper = clipping.AutoClip(p, capacity=100, dtype="float64")
    for t, n in enumerate(norms):
        clipped, norm = clipper(_grads_with_norm(n))
        expected = np.percentile(
            norms[: t + 1], p
        )  # the current norm included, linear interpolation
        assert float(clipper.last_threshold) == pytest.approx(expected, rel=1e-12)
        assert float(norm) == pytest.approx(n, rel=1e-12)
        assert float(clipping.global_norm(clipped)) == pytest.approx(min(n, expected), rel=1e-12)
    np.testing.assert_allclose(clipper.history(), norms, rtol=1e-15)
    # the first step is never clipped: its threshold is its own norm
    first = clipping.AutoClip(p, dtype="float64")
    first(_grads_with_norm(norms[0]))
    assert float(first.last_threshold) == pytest.approx(norms[0], rel=1e-15)


def test_percentile_over_a_batch_of_histories_with_counts():
    values = np.random.default_rng(1).random((3, 9))
    counts = [1, 4, 9]
    got = clipping.percentile(tf.constant(values), 10.0, count=tf.constant(counts)).numpy()
    expected = [np.percentile(values[i, :k], 10.0) for i, k in enumerate(counts)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert math.isnan(float(clipping.percentile(tf.constant(values[0]), 10.0, count=0)))


def test_autoclip_in_a_jit_compiled_function_matches_eager():
    norms = _norm_stream(30, seed=4).astype(np.float32)
    eager, compiled_clipper = (
        clipping.AutoClip(10.0, capacity=64),
        clipping.AutoClip(10.0, capacity=64),
    )

    @tf.function(jit_compile=True)
    def step(g):
        clipped, norm = compiled_clipper(g)
        return clipped, norm, compiled_clipper.last_threshold.read_value()

    for n in norms:
        grads = [tf.constant([0.6 * n], tf.float32), tf.constant([0.8 * n], tf.float32)]
        clipped, _, threshold = step(grads)
        eager_clipped, _ = eager(grads)
        assert float(threshold) == pytest.approx(float(eager.last_threshold), rel=1e-6)
        for a, b in zip(clipped, eager_clipped, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert step.experimental_get_tracing_count() == 1
    np.testing.assert_allclose(compiled_clipper.history(), norms, rtol=1e-6)
    assert float(compiled_clipper.last_threshold) == pytest.approx(
        np.percentile(norms, 10.0), rel=1e-5
    )


def test_autoclip_keeps_a_sliding_window_beyond_its_capacity():
    norms = _norm_stream(25, seed=2)
    clipper = clipping.AutoClip(30.0, capacity=8, dtype="float64")
    for t, n in enumerate(norms):
        clipper(_grads_with_norm(n))
        window = norms[max(0, t + 1 - 8) : t + 1]
        assert float(clipper.last_threshold) == pytest.approx(
            np.percentile(window, 30.0), rel=1e-12
        )
    np.testing.assert_allclose(clipper.history(), norms[-8:])
    clipper.reset()
    assert clipper.history().size == 0 and math.isnan(float(clipper.threshold()))


def test_autoclip_does_not_record_non_finite_norms():
    clipper = clipping.AutoClip(50.0, dtype="float64")
    for n in (1.0, 3.0):
        clipper(_grads_with_norm(n))
    before = float(clipper.last_threshold)
    for bad in ([tf.constant([INF], tf.float64)], [tf.constant([NAN, 1.0], tf.float64)]):
        clipped, norm = clipper(bad)
        assert not math.isfinite(float(norm))
        assert all(np.all(np.isnan(c.numpy())) for c in clipped)  # as global-norm clipping does
        assert float(clipper.last_threshold) == before
    np.testing.assert_array_equal(clipper.history(), [1.0, 3.0])
    clipper(_grads_with_norm(5.0))
    assert float(clipper.last_threshold) == pytest.approx(3.0)
    # before any finite norm the threshold is NaN, and the step is NaN
    fresh = clipping.AutoClip(10.0)
    clipped, _ = fresh([tf.constant([INF, 1.0])])
    assert math.isnan(float(fresh.last_threshold)) and np.all(np.isnan(clipped[0].numpy()))


# ---------------------------------------------------------------------------------------------------------------
# Bad parameters

BAD_POSITIVE = [0, 0.0, -1.0, NAN, INF, -INF]
BAD_TYPES = ["0.1", [0.1], True, None, object()]
G, W = [np.array([3.0, -4.0])], [np.array([1.0, 1.0])]


@pytest.mark.parametrize("bad", BAD_POSITIVE, ids=repr)
def test_agc_refuses_bad_lambda_and_eps(bad):
    with pytest.raises(ValueError, match="factor"):
        clipping.agc(G, W, bad)
    with pytest.raises(ValueError, match="eps"):
        clipping.agc(G, W, 0.1, eps=bad)
    with pytest.raises(ValueError, match="eps"):
        clipping.unitwise_ratios(G, W, eps=bad)


@pytest.mark.parametrize("bad", BAD_TYPES, ids=lambda b: type(b).__name__)
def test_agc_refuses_lambda_and_eps_that_are_not_numbers(bad):
    with pytest.raises(TypeError, match="factor"):
        clipping.agc(G, W, bad)
    with pytest.raises(TypeError, match="eps"):
        clipping.agc(G, W, 0.1, eps=bad)


@pytest.mark.parametrize(
    ("grads", "params", "skip", "error", "match"),
    [
        (G, tf.constant([1.0, 1.0]), (), TypeError, "params must be a list"),
        (G, [np.ones(2), np.ones(2)], (), ValueError, "one tensor per gradient"),
        (G, [np.ones(3)], (), ValueError, r"params\[0\] has shape"),
        (G, W, [1], ValueError, "only 1 gradients"),
        (G, W, [-1], ValueError, "skip index"),
        (G, W, [0.5], TypeError, "skip index"),
        (G, W, 0, TypeError, "skip must be a list"),
        (G, W, "0", TypeError, "skip must be a list"),
        ([], [], (), ValueError, "grads"),
    ],
)
def test_agc_bad_input(grads, params, skip, error, match):
    with pytest.raises(error, match=match):
        clipping.agc(grads, params, 0.1, skip=skip)


@pytest.mark.parametrize("bad", [0, 0.0, -5.0, 100.5, 1e9, NAN, INF])
def test_autoclip_refuses_percentiles_outside_0_100(bad):
    with pytest.raises(ValueError, match="p"):
        clipping.AutoClip(bad)
    with pytest.raises(ValueError, match="p"):
        clipping.percentile(tf.constant([1.0, 2.0]), bad)


@pytest.mark.parametrize("bad", ["10", True, None, [10.0]], ids=repr)
def test_autoclip_refuses_percentiles_that_are_not_numbers(bad):
    with pytest.raises(TypeError, match="p"):
        clipping.AutoClip(bad)


def test_autoclip_bad_capacity_and_dtype():
    with pytest.raises(ValueError, match="capacity"):
        clipping.AutoClip(10.0, capacity=0)
    with pytest.raises(TypeError, match="capacity"):
        clipping.AutoClip(10.0, capacity=2.5)
    with pytest.raises(ValueError, match="dtype"):
        clipping.AutoClip(10.0, dtype="float16")
    with pytest.raises(TypeError, match="grads"):
        clipping.AutoClip(10.0)(tf.constant([1.0]))
