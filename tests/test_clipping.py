"""helpers.clipping (and helpers.descent): Keras's exact semantics on a real model, property tests of every rule,
inf/NaN behaviour, Keras's silent disable at 0, bad input, per-layer clipping, use inside jit-compiled functions."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from helpers import clipping, data, descent, models
from helpers.theory import cliff_loss_and_grad

# Property tests: enough examples to find edge cases, few enough to take seconds (each example runs TF eagerly).
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("value", "norm", "global_norm")


# ---------------------------------------------------------------------------------------------------------------
# Real model, real data, real optimizers


@pytest.fixture(scope="module")
def batches():
    """Three Fashion-MNIST batches of 32 sequences (28 steps x 28 pixels) and their labels."""
    (x, y), _ = data.load_fashion_mnist()
    return [
        (tf.constant(x[i * 32 : (i + 1) * 32]), tf.constant(y[i * 32 : (i + 1) * 32]))
        for i in range(3)
    ]


def _twin_models(seed: int = 7):
    keras.utils.set_random_seed(seed)
    first = models.article_lstm()
    second = models.article_lstm()
    second.set_weights(first.get_weights())
    return first, second


def _gradients(model, x, y) -> list[tf.Tensor]:
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    return tape.gradient(loss, model.trainable_variables)


def _threshold_that_clips(grads, mode: str) -> float:
    """A threshold that clips some but (for per-tensor rules) not all of ``grads``."""
    if mode == "value":
        return float(np.quantile(np.concatenate([np.abs(g.numpy()).ravel() for g in grads]), 0.9))
    if mode == "norm":
        return float(np.median(clipping.tensor_norms(grads).numpy()))
    return 0.5 * float(clipping.global_norm(grads))


def _max_difference(first, second) -> float:
    return max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(first.get_weights(), second.get_weights(), strict=True)
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("optimizer", "steps"),
    [
        (lambda **kw: keras.optimizers.SGD(learning_rate=0.5, **kw), 1),
        (lambda **kw: keras.optimizers.Adam(**kw), 3),
    ],
    ids=["SGD", "Adam"],
)
def test_keras_argument_equals_helper_clip_then_unclipped_step(batches, mode, optimizer, steps):
    with_keras, with_helper = _twin_models()
    unclipped, _ = _twin_models()
    threshold = _threshold_that_clips(_gradients(with_keras, *batches[0]), mode)
    keras_optimizer = optimizer(**{clipping.KERAS_ARGUMENT[mode]: threshold})
    plain_optimizer, unclipped_optimizer = optimizer(), optimizer()
    for step, (x, y) in enumerate(batches[:steps]):
        raw = _gradients(with_helper, x, y)
        clipped, _ = clipping.clip(raw, mode, threshold)
        changed = [
            not np.allclose(g.numpy(), c.numpy(), rtol=1e-6, atol=0)
            for g, c in zip(raw, clipped, strict=True)
        ]
        assert any(changed), "the threshold must actually clip"
        if mode == "norm" and step == 0:
            assert not all(changed), "per-tensor clipping must leave the small tensors alone"
        keras_optimizer.apply_gradients(
            zip(_gradients(with_keras, x, y), with_keras.trainable_variables, strict=True)
        )
        plain_optimizer.apply_gradients(zip(clipped, with_helper.trainable_variables, strict=True))
        unclipped_optimizer.apply_gradients(
            zip(_gradients(unclipped, x, y), unclipped.trainable_variables, strict=True)
        )
    assert _max_difference(with_keras, with_helper) <= 1e-6
    assert _max_difference(with_keras, unclipped) > 1e-4, "clipping must have changed the step"


@pytest.mark.parametrize("argument", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_keras_silently_disables_clipping_at_zero(batches, argument):
    with_zero, unclipped = _twin_models()
    before = with_zero.get_weights()
    zero_optimizer = keras.optimizers.SGD(learning_rate=0.5, **{argument: 0.0})
    plain_optimizer = keras.optimizers.SGD(learning_rate=0.5)
    x, y = batches[0]
    zero_optimizer.apply_gradients(
        zip(_gradients(with_zero, x, y), with_zero.trainable_variables, strict=True)
    )
    plain_optimizer.apply_gradients(
        zip(_gradients(unclipped, x, y), unclipped.trainable_variables, strict=True)
    )
    moved = max(
        float(np.max(np.abs(a - b))) for a, b in zip(before, with_zero.get_weights(), strict=True)
    )
    assert moved > 1e-3, "a threshold of 0 would zero every gradient if Keras applied it"
    assert _max_difference(with_zero, unclipped) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        clipping.clip(_gradients(with_zero, x, y), "norm" if "norm" in argument else "value", 0.0)


def test_keras_refuses_two_clipping_arguments():
    with pytest.raises(ValueError, match="Only one of"):
        keras.optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_layer_groups_of_the_article_lstm():
    keras.utils.set_random_seed(0)
    model = models.article_lstm()
    groups = clipping.layer_groups(model)
    assert groups == {"lstm": [0, 1, 2], "softmax": [3, 4]}
    paths = [model.trainable_variables[i].path for i in groups["softmax"]]
    assert all("/softmax/" in path for path in paths)


def test_layer_groups_bad_input():
    with pytest.raises(TypeError, match="model"):
        clipping.layer_groups([tf.zeros(3)])
    empty = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5)])
    with pytest.raises(ValueError, match="no trainable variables"):
        clipping.layer_groups(empty)


def test_per_layer_clipping_on_real_gradients(batches):
    model, _ = _twin_models()
    grads = _gradients(model, *batches[0])
    groups = clipping.layer_groups(model)
    layer_norms = {
        name: float(clipping.global_norm([grads[i] for i in idx])) for name, idx in groups.items()
    }
    # hidden layer clipped to half its norm, output layer given a wider range than its norm: left alone
    thresholds = {"lstm": 0.5 * layer_norms["lstm"], "softmax": 2.0 * layer_norms["softmax"]}
    clipped, norms = clipping.clip_per_layer(grads, groups, thresholds)
    assert {name: float(n) for name, n in norms.items()} == pytest.approx(layer_norms, rel=1e-6)
    lstm_after = float(clipping.global_norm([clipped[i] for i in groups["lstm"]]))
    assert lstm_after == pytest.approx(thresholds["lstm"], rel=1e-5)
    for i in groups["softmax"]:
        np.testing.assert_allclose(clipped[i].numpy(), grads[i].numpy(), rtol=1e-6)
    expected, _ = clipping.clip_by_global_norm(
        [grads[i] for i in groups["lstm"]], thresholds["lstm"]
    )
    for i, e in zip(groups["lstm"], expected, strict=True):
        np.testing.assert_array_equal(clipped[i].numpy(), e.numpy())


# ---------------------------------------------------------------------------------------------------------------
# Property tests on random gradient lists

finite32 = st.floats(
    -1e3, 1e3, width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False
)
gradient_lists = st.lists(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), elements=finite32),
    min_size=1,
    max_size=4,
)
thresholds = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)


def _norm(a) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


@FAST
@given(gradient_lists, thresholds)
def test_norm_clipping_bounds_each_tensor_and_keeps_its_direction(grads, c):
    clipped, norms = clipping.clip_by_norm(grads, c)
    for g, out, norm in zip(grads, clipped, norms.numpy(), strict=True):
        out = out.numpy()
        assert _norm(out) <= c * (1 + 1e-5)
        assert norm == pytest.approx(_norm(g), rel=1e-5, abs=1e-30)
        scale = min(1.0, c / _norm(g)) if _norm(g) > 0 else 1.0
        np.testing.assert_allclose(out, g * scale, rtol=1e-5, atol=1e-6 * c)


@FAST
@given(gradient_lists, thresholds)
def test_global_norm_clipping_scales_everything_by_one_factor(grads, c):
    clipped, norm = clipping.clip_by_global_norm(grads, c)
    total = math.sqrt(sum(_norm(g) ** 2 for g in grads))
    assert float(norm) == pytest.approx(total, rel=1e-5)
    assert math.sqrt(sum(_norm(out) ** 2 for out in clipped)) <= c * (1 + 1e-5)
    scale = min(1.0, c / total) if total > 0 else 1.0
    for g, out in zip(grads, clipped, strict=True):
        np.testing.assert_allclose(out.numpy(), g * scale, rtol=1e-5, atol=1e-6 * c)


@FAST
@given(gradient_lists, thresholds)
def test_global_norm_clipping_equals_tf_clip_by_global_norm(grads, c):
    clipped, norm = clipping.clip_by_global_norm(grads, c)
    expected, expected_norm = tf.clip_by_global_norm([tf.constant(g) for g in grads], c)
    assert float(norm) == pytest.approx(float(expected_norm), rel=1e-6)
    for out, e in zip(clipped, expected, strict=True):
        np.testing.assert_allclose(out.numpy(), e.numpy(), rtol=1e-6, atol=1e-7 * c)


@FAST
@given(gradient_lists, thresholds)
def test_value_clipping_keeps_every_entry_in_bounds(grads, c):
    clipped, _ = clipping.clip_by_value(grads, c)
    c32 = np.float32(c)
    for g, out in zip(grads, clipped, strict=True):
        out = out.numpy()
        assert np.all(np.abs(out) <= c32)
        inside = np.abs(g) <= c32
        np.testing.assert_array_equal(out[inside], g[inside])
        np.testing.assert_array_equal(out[~inside], np.sign(g[~inside]) * c32)


@FAST
@given(gradient_lists, st.floats(1.001, 100.0))
def test_thresholds_above_the_norm_change_nothing(grads, factor):
    c = factor * math.sqrt(sum(_norm(g) ** 2 for g in grads)) + 1e-3
    for mode in MODES:
        clipped, _ = clipping.clip(grads, mode, c)
        for g, out in zip(grads, clipped, strict=True):
            # atol: Keras computes g·c before dividing by max(‖g‖, c), so an entry near float32's smallest normal
            # number (~1e-38) times c underflows to 0 (found by hypothesis: g = 1.1754944e-38)
            np.testing.assert_allclose(out.numpy(), g, rtol=1e-6, atol=1e-30)


@FAST
@given(gradient_lists, st.data())
def test_per_layer_clipping_is_global_clipping_within_each_layer(grads, draw):
    labels = draw.draw(st.lists(st.sampled_from("abc"), min_size=len(grads), max_size=len(grads)))
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    limits = {name: draw.draw(st.one_of(st.none(), thresholds)) for name in groups}
    clipped, norms = clipping.clip_per_layer(grads, groups, limits)
    for name, indices in groups.items():
        layer = [grads[i] for i in indices]
        assert float(norms[name]) == pytest.approx(
            math.sqrt(sum(_norm(g) ** 2 for g in layer)), rel=1e-5
        )
        if limits[name] is None:
            expected = layer
        else:
            expected = [e.numpy() for e in clipping.clip_by_global_norm(layer, limits[name])[0]]
            assert math.sqrt(sum(_norm(clipped[i]) ** 2 for i in indices)) <= limits[name] * (
                1 + 1e-5
            )
        for i, e in zip(indices, expected, strict=True):
            np.testing.assert_array_equal(clipped[i].numpy(), e)


# ---------------------------------------------------------------------------------------------------------------
# inf and NaN gradients: what the module docstring claims, and that Keras's optimizer does the same


def _keras_clipped(grads, argument: str, c: float) -> list[np.ndarray]:
    """What a Keras SGD(learning_rate=1) step with ``argument=c`` does to ``grads``: starting from zero weights,
    the weights after the step are minus the clipped gradients."""
    variables = [keras.Variable(np.zeros(g.shape, np.float32)) for g in grads]
    keras.optimizers.SGD(learning_rate=1.0, **{argument: c}).apply_gradients(
        zip([tf.constant(g) for g in grads], variables, strict=True)
    )
    return [-v.numpy() for v in variables]


INF, NAN = np.float32(np.inf), np.float32(np.nan)
WITH_INF = np.array([INF, 1.0, -5.0], np.float32)
WITH_NAN = np.array([NAN, 1.0, -5.0], np.float32)
FINITE = np.array([3.0, -4.0], np.float32)


def test_value_clipping_maps_inf_to_the_threshold_and_keeps_nan():
    grads = [np.array([INF, -INF, NAN, 3.0, -0.5], np.float32)]
    clipped, norm = clipping.clip_by_value(grads, 2.0)
    np.testing.assert_array_equal(clipped[0].numpy(), [2.0, -2.0, np.nan, 2.0, -0.5])
    np.testing.assert_array_equal(clipped[0].numpy(), _keras_clipped(grads, "clipvalue", 2.0)[0])
    assert math.isnan(float(norm))  # inf and NaN in the gradient: the norm is NaN


def test_norm_clipping_of_non_finite_tensors():
    grads = [WITH_INF, WITH_NAN, FINITE]
    clipped, norms = clipping.clip_by_norm(grads, 2.0)
    np.testing.assert_array_equal(
        clipped[0].numpy(), [np.nan, 0.0, 0.0]
    )  # NaN where inf, 0 elsewhere
    assert np.all(np.isnan(clipped[1].numpy()))  # a NaN anywhere: NaN everywhere
    np.testing.assert_allclose(
        clipped[2].numpy(), FINITE * 2.0 / 5.0, rtol=1e-6
    )  # the others: clipped as usual
    for ours, theirs in zip(clipped, _keras_clipped(grads, "clipnorm", 2.0), strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs)
    norms = norms.numpy()
    assert math.isinf(norms[0]) and math.isnan(norms[1]) and norms[2] == pytest.approx(5.0)


@pytest.mark.parametrize("bad", [WITH_INF, WITH_NAN], ids=["inf", "nan"])
def test_global_norm_clipping_turns_everything_nan(bad):
    grads = [bad, FINITE]
    clipped, norm = clipping.clip_by_global_norm(grads, 2.0)
    assert all(np.all(np.isnan(c.numpy())) for c in clipped)
    assert not math.isfinite(float(norm))
    for ours, theirs in zip(clipped, _keras_clipped(grads, "global_clipnorm", 2.0), strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs)
    expected, _ = tf.clip_by_global_norm([tf.constant(g) for g in grads], 2.0)
    assert all(np.all(np.isnan(e.numpy())) for e in expected)


def test_per_layer_clipping_confines_nan_to_the_layer_with_inf():
    grads = [WITH_INF, FINITE, FINITE]
    clipped, norms = clipping.clip_per_layer(grads, {"bad": [0, 1], "good": [2]}, 2.0)
    assert np.all(np.isnan(clipped[0].numpy())) and np.all(np.isnan(clipped[1].numpy()))
    np.testing.assert_allclose(clipped[2].numpy(), FINITE * 2.0 / 5.0, rtol=1e-6)
    assert math.isinf(float(norms["bad"]))


def test_clip_reports_the_non_finite_global_norm_in_every_mode():
    for mode in ("none", *MODES):
        _, norm = clipping.clip([WITH_NAN, FINITE], mode, None if mode == "none" else 1.0)
        assert math.isnan(float(norm))


# ---------------------------------------------------------------------------------------------------------------
# Bad input

BAD_VALUES = [0, 0.0, -1.0, float("nan"), float("inf"), -float("inf"), np.float32(0.0)]
BAD_TYPES = ["1.0", [1.0], True, np.array([1.0, 2.0]), object()]
FUNCTIONS = {
    "clip_by_value": clipping.clip_by_value,
    "clip_by_norm": clipping.clip_by_norm,
    "clip_by_global_norm": clipping.clip_by_global_norm,
    **{
        f"clip/{mode}": (lambda grads, c, mode=mode: clipping.clip(grads, mode, c))
        for mode in MODES
    },
    "clip_per_layer": lambda grads, c: clipping.clip_per_layer(grads, {"a": [0]}, c),
    "clip_per_layer/mapping": lambda grads, c: clipping.clip_per_layer(grads, {"a": [0]}, {"a": c}),
}


@pytest.mark.parametrize("function", FUNCTIONS.values(), ids=FUNCTIONS.keys())
@pytest.mark.parametrize("bad", BAD_VALUES, ids=repr)
def test_zero_negative_nan_and_inf_thresholds_are_refused(function, bad):
    with pytest.raises(ValueError, match="threshold"):
        function([FINITE], bad)


@pytest.mark.parametrize("function", FUNCTIONS.values(), ids=FUNCTIONS.keys())
@pytest.mark.parametrize("bad", BAD_TYPES, ids=lambda b: type(b).__name__)
def test_thresholds_that_are_not_numbers_are_refused(function, bad):
    with pytest.raises(TypeError, match="threshold"):
        function([FINITE], bad)


def test_clip_dispatcher_bad_input():
    with pytest.raises(ValueError, match="mode"):
        clipping.clip([FINITE], "clipnorm", 1.0)
    with pytest.raises(ValueError, match="threshold is required"):
        clipping.clip([FINITE], "norm")
    with pytest.raises(ValueError, match="threshold must be None"):
        clipping.clip([FINITE], "none", 1.0)


@pytest.mark.parametrize(
    "function", [clipping.clip_by_norm, clipping.global_norm, clipping.tensor_norms]
)
def test_grads_must_be_a_non_empty_list(function):
    args = (1.0,) if function is clipping.clip_by_norm else ()
    with pytest.raises(TypeError, match="grads"):
        function(tf.constant(FINITE), *args)
    with pytest.raises(ValueError, match="grads"):
        function([], *args)


@pytest.mark.parametrize(
    ("groups", "limits", "error", "match"),
    [
        ([[0, 1]], 1.0, TypeError, "groups must be a mapping"),
        ({"a": 0, "b": [1]}, 1.0, TypeError, r"groups\['a'\]"),
        ({"a": [], "b": [0, 1]}, 1.0, ValueError, "empty"),
        ({"a": [0, 2], "b": [1]}, 1.0, ValueError, "only 2 gradients"),
        ({"a": [0, 1], "b": [1]}, 1.0, ValueError, "two groups"),
        ({"a": [0]}, 1.0, ValueError, r"indices \[1\] are in no group"),
        ({"a": [0], "b": [1.5]}, 1.0, TypeError, "integer"),
        ({"a": [0], "b": [1]}, {"a": 1.0}, ValueError, r"missing \['b'\]"),
        ({"a": [0], "b": [1]}, {"a": 1.0, "b": 1.0, "c": 1.0}, ValueError, r"unknown \['c'\]"),
        ({"a": [0], "b": [1]}, {"a": 1.0, "b": -2.0}, ValueError, r"thresholds\['b'\]"),
    ],
)
def test_clip_per_layer_bad_input(groups, limits, error, match):
    with pytest.raises(error, match=match):
        clipping.clip_per_layer([FINITE, FINITE], groups, limits)


# ---------------------------------------------------------------------------------------------------------------
# Inside a jit-compiled tf.function, with the threshold as a tensor (how helpers.training calls it)


def test_clip_runs_in_jit_compiled_function_with_tensor_threshold():
    grads = [tf.constant([[3.0, -4.0], [0.5, 0.25]]), tf.constant([12.0, 0.0, -5.0])]

    @tf.function(jit_compile=True)
    def compiled(gs, threshold):
        return {mode: clipping.clip(gs, mode, threshold) for mode in MODES}

    for c in (0.5, 2.0, 100.0):
        results = compiled(grads, tf.constant(c))
        for mode in MODES:
            clipped, norm = results[mode]
            eager_clipped, eager_norm = clipping.clip(grads, mode, c)
            assert float(norm) == pytest.approx(float(eager_norm), rel=1e-6)
            for a, b in zip(clipped, eager_clipped, strict=True):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_clip_per_layer_runs_in_jit_compiled_function():
    grads = [tf.constant([3.0, -4.0]), tf.constant([12.0, 0.0, -5.0]), tf.constant([1.0])]
    groups = {"hidden": [0, 2], "output": [1]}

    @tf.function(jit_compile=True)
    def compiled(gs, hidden, output):
        return clipping.clip_per_layer(gs, groups, {"hidden": hidden, "output": output})

    clipped, norms = compiled(grads, tf.constant(1.0), tf.constant(20.0))
    assert float(norms["hidden"]) == pytest.approx(math.sqrt(26.0))
    assert float(clipping.global_norm([clipped[0], clipped[2]])) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(clipped[1].numpy(), grads[1].numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# helpers.descent: gradient descent on the cliff of notebook 01


def test_clip_norm_is_min_one_c_over_norm_times_g():
    g = np.array([3.0, -4.0])
    np.testing.assert_allclose(descent.clip_norm(g, 1.0), g / 5.0)
    np.testing.assert_array_equal(descent.clip_norm(g, 10.0), g)
    np.testing.assert_array_equal(descent.clip_norm(np.zeros(2), 1.0), np.zeros(2))
    clipped, _ = clipping.clip_by_global_norm([tf.constant(g, tf.float64)], 1.0)
    np.testing.assert_allclose(descent.clip_norm(g, 1.0), clipped[0].numpy())


def test_unclipped_descent_catapults_off_the_cliff_and_clipped_descent_does_not():
    start, rate = (5.5, -2.0), 0.5
    free = descent.descend_cliff(start, rate, steps=40)
    safe = descent.descend_cliff(start, rate, steps=40, threshold=1.0)
    assert (
        free.points.shape == (41, 2) and free.step_sizes.shape == (40,) and not free.clipped.any()
    )
    assert (
        free.step_sizes.max() > 100 * rate * 1.0
    )  # one step far longer than any clipped step can be
    assert safe.step_sizes.max() <= rate * 1.0 + 1e-12
    assert safe.clipped.any()
    assert np.all(np.abs(safe.points) < 10)
    # the first update is the plain gradient step, recomputed here from the loss's gradient
    _, dw, db = cliff_loss_and_grad(*start)
    np.testing.assert_allclose(free.points[1], np.array(start) - rate * np.array([dw, db]).ravel())
    np.testing.assert_allclose(free.losses[0], cliff_loss_and_grad(*start)[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"start": (1.0,)}, ValueError, "start"),
        ({"start": (np.nan, 0.0)}, ValueError, "start"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"threshold": -1.0}, ValueError, "threshold"),
        ({"threshold": "1"}, TypeError, "threshold"),
    ],
)
def test_descend_cliff_bad_input(kwargs, error, match):
    arguments = {"start": (5.5, -2.0), "learning_rate": 0.5, "steps": 3} | kwargs
    with pytest.raises(error, match=match):
        descent.descend_cliff(**arguments)


def test_float64_gradients_keep_the_threshold_in_float64():
    grads = [tf.constant([3.0, 4.0], tf.float64)]
    for mode in ("norm", "global_norm"):
        clipped, _ = clipping.clip(grads, mode, 0.1)
        assert clipped[0].dtype == tf.float64
        assert float(tf.norm(clipped[0])) == pytest.approx(0.1, rel=1e-15)
    clipped, _ = clipping.clip_by_value(grads, 0.1)
    assert float(clipped[0][0]) == 0.1
