"""Bad calls across the public helper API, as one table: every call raises ``ValueError`` or ``TypeError`` with a
message that names the argument at fault (issue 8). Module-specific tests check the behaviour of good calls; this
table is the place to look up what a bad one gets."""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from helpers import clipping, data, descent, gradients, models, theory, training
from helpers.widgets import lab as lab_widgets
from helpers.widgets.clipping import CliffDescent, ClippingGeometry
from helpers.widgets.recurrence import MatrixRecurrence, ScalarRecurrence
from helpers.widgets.rnn import GradientNormsPlot

G = [tf.constant([3.0, -4.0]), tf.constant([[1.0, 2.0], [0.5, -0.5]])]
W = [tf.constant([1.0, 1.0]), tf.constant([[1.0, 0.0], [0.0, 1.0]])]
NON_POSITIVE = [0.0, -1.0, math.nan, math.inf, -math.inf]


@functools.cache
def rnn():
    return models.recurrent_model("SimpleRNN", units=4, rho=1.0, activation="linear", timesteps=5)


def x5():
    return np.zeros((2, 5, 2), np.float32)


def images():
    return np.zeros((2, 28, 28), np.float32)


def nan_images():
    x = images()
    x[1, 3, 4] = np.nan
    return x


@functools.cache
def a_history():
    """A History holding the article model's initial weights (for evaluate's checks)."""
    n = np.zeros(1, np.float32)
    weights = training.initial_weights(models.article_lstm, 0)
    return training.History(training.Setting(), n, n, n, n.astype(bool), None, 1, 1, 0.0, weights)


#: Bad training data (issue 11): each is an error naming the argument, never a "diverged" run.
BAD_LABELS = {
    "label 10": [0, 10],
    "label 255": [255, 0],
    "label -1": [-1, 0],
    "label 2.5": [2.5, 1.0],
    "label nan": [np.nan, 1.0],
}


BAD_CALLS = [
    # --- clipping: thresholds, gradient lists, modes -------------------------------------------------------------
    *[
        (
            f"clip_by_value threshold={t}",
            lambda t=t: clipping.clip_by_value(G, t),
            ValueError,
            "threshold",
        )
        for t in NON_POSITIVE
    ],
    *[
        (
            f"clip_by_norm threshold={t}",
            lambda t=t: clipping.clip_by_norm(G, t),
            ValueError,
            "threshold",
        )
        for t in NON_POSITIVE
    ],
    *[
        (
            f"clip_by_global_norm threshold={t}",
            lambda t=t: clipping.clip_by_global_norm(G, t),
            ValueError,
            "threshold",
        )
        for t in NON_POSITIVE
    ],
    ("threshold as a string", lambda: clipping.clip(G, "norm", "1.0"), TypeError, "threshold"),
    ("threshold True", lambda: clipping.clip(G, "norm", True), TypeError, "threshold"),
    ("empty gradient list", lambda: clipping.clip([], "norm", 1.0), ValueError, "grads"),
    ("empty list, global norm", lambda: clipping.global_norm([]), ValueError, "grads"),
    ("one tensor, not a list", lambda: clipping.clip(G[0], "norm", 1.0), TypeError, "grads"),
    (
        "a None gradient",
        lambda: clipping.clip([G[0], None], "global_norm", 1.0),
        ValueError,
        r"grads\[1\]",
    ),
    (
        "integer gradients",
        lambda: clipping.clip_by_value([tf.constant([1, 2])], 1.0),
        TypeError,
        r"grads\[0\]",
    ),
    (
        "string gradients",
        lambda: clipping.global_norm([tf.constant(["a"])]),
        TypeError,
        r"grads\[0\]",
    ),
    (
        "mixed float dtypes",
        lambda: clipping.global_norm([G[0], tf.constant([1.0], tf.float64)]),
        TypeError,
        "grads",
    ),
    ("unknown mode", lambda: clipping.clip(G, "clipnorm", 1.0), ValueError, "mode"),
    ("two modes at once", lambda: clipping.clip(G, ["value", "norm"], 1.0), ValueError, "mode"),
    ("mode none with a threshold", lambda: clipping.clip(G, "none", 1.0), ValueError, "threshold"),
    ("mode norm without threshold", lambda: clipping.clip(G, "norm"), ValueError, "threshold"),
    # --- per-layer clipping -------------------------------------------------------------------------------------
    (
        "groups not a mapping",
        lambda: clipping.clip_per_layer(G, [[0], [1]], 1.0),
        TypeError,
        "groups",
    ),
    (
        "groups miss a gradient",
        lambda: clipping.clip_per_layer(G, {"a": [0]}, 1.0),
        ValueError,
        "groups",
    ),
    (
        "groups index out of range",
        lambda: clipping.clip_per_layer(G, {"a": [0, 1, 2]}, 1.0),
        ValueError,
        "groups",
    ),
    (
        "gradient in two groups",
        lambda: clipping.clip_per_layer(G, {"a": [0, 1], "b": [1]}, 1.0),
        ValueError,
        "gradient 1",
    ),
    (
        "thresholds with unknown layer",
        lambda: clipping.clip_per_layer(G, {"a": [0, 1]}, {"a": 1.0, "z": 1.0}),
        ValueError,
        "thresholds",
    ),
    *[
        (
            f"per-layer threshold {t}",
            lambda t=t: clipping.clip_per_layer(G, {"a": [0], "b": [1]}, {"a": 1.0, "b": t}),
            ValueError,
            r"thresholds\['b'\]",
        )
        for t in NON_POSITIVE
    ],
    ("layer_groups of a non-model", lambda: clipping.layer_groups([1, 2]), TypeError, "model"),
    # --- adaptive clipping ------------------------------------------------------------------------------------
    *[
        (f"agc factor={c}", lambda c=c: clipping.agc(G, W, c), ValueError, "factor")
        for c in NON_POSITIVE
    ],
    *[
        (f"agc eps={e}", lambda e=e: clipping.agc(G, W, 0.01, eps=e), ValueError, "eps")
        for e in NON_POSITIVE
    ],
    ("agc params missing one", lambda: clipping.agc(G, W[:1], 0.01), ValueError, "params"),
    (
        "agc mismatched shapes",
        lambda: clipping.agc(G, [W[0], tf.ones((3, 2))], 0.01),
        ValueError,
        r"params\[1\]",
    ),
    (
        "agc mismatched dtypes",
        lambda: clipping.agc(G, [W[0], tf.ones((2, 2), tf.float64)], 0.01),
        TypeError,
        r"params\[1\]",
    ),
    ("agc skip out of range", lambda: clipping.agc(G, W, 0.01, skip=[5]), ValueError, "skip"),
    (
        "unitwise_norm of rank 5",
        lambda: clipping.unitwise_norm(tf.ones((1, 1, 1, 1, 1))),
        ValueError,
        "rank",
    ),
    *[
        (f"percentile p={p}", lambda p=p: clipping.percentile([1.0, 2.0], p), ValueError, "p")
        for p in [0.0, -5.0, 100.5, math.nan]
    ],
    ("AutoClip capacity 0", lambda: clipping.AutoClip(capacity=0), ValueError, "capacity"),
    ("AutoClip dtype int", lambda: clipping.AutoClip(dtype="int32"), ValueError, "dtype"),
    # --- training settings and runs ---------------------------------------------------------------------------
    *[
        (
            f"Setting learning_rate={lr}",
            lambda lr=lr: training.Setting(learning_rate=lr),
            ValueError,
            "learning_rate",
        )
        for lr in NON_POSITIVE
    ],
    *[
        (f"Setting threshold={t}", lambda t=t: training.Setting("norm", t), ValueError, "threshold")
        for t in NON_POSITIVE
    ],
    ("Setting unknown mode", lambda: training.Setting("clipnorm", 1.0), ValueError, "mode"),
    (
        "Setting two clipping kinds",
        lambda: training.Setting(("value", "norm"), 1.0),
        ValueError,
        "mode",
    ),
    ("Setting threshold missing", lambda: training.Setting("value"), ValueError, "threshold"),
    ("Setting threshold with none", lambda: training.Setting("none", 1.0), ValueError, "threshold"),
    (
        "Setting unknown optimizer",
        lambda: training.Setting(optimizer="lion"),
        ValueError,
        "optimizer",
    ),
    ("Setting momentum 1", lambda: training.Setting(momentum=1.0), ValueError, "momentum"),
    (
        "Setting momentum with Adam",
        lambda: training.Setting(optimizer="adam", momentum=0.9),
        ValueError,
        "momentum",
    ),
    ("Setting AutoClip p > 100", lambda: training.Setting("autoclip", 150.0), ValueError, "p"),
    ("Setting seed -1", lambda: training.Setting(seed=-1), ValueError, "seed"),
    ("Setting seed 1.5", lambda: training.Setting(seed=1.5), TypeError, "seed"),
    (
        "train no settings",
        lambda: training.train([], (x5(), np.zeros(2)), 1),
        ValueError,
        "settings",
    ),
    (
        "train a dict as setting",
        lambda: training.train([{"mode": "none"}], (x5(), np.zeros(2)), 1),
        TypeError,
        r"settings\[0\]",
    ),
    (
        "train steps 0",
        lambda: training.train(training.Setting(), (x5(), np.zeros(2)), 0),
        ValueError,
        "steps",
    ),
    (
        "train steps 2.5",
        lambda: training.train(training.Setting(), (x5(), np.zeros(2)), 2.5),
        TypeError,
        "steps",
    ),
    (
        "train unknown engine",
        lambda: training.train(training.Setting(), (x5(), np.zeros(2)), 1, engine="gpu"),
        ValueError,
        "engine",
    ),
    (
        "train unknown loss",
        lambda: training.train(training.Setting(), (x5(), np.zeros(2)), 1, loss="hinge"),
        ValueError,
        "loss",
    ),
    (
        "train batch_size 0",
        lambda: training.train(training.Setting(), (x5(), np.zeros(2)), 1, batch_size=0),
        ValueError,
        "batch_size",
    ),
    (
        "Setting threshold 1e39 (inf in float32)",
        lambda: training.Setting("norm", 1e39),
        ValueError,
        "threshold",
    ),
    (
        "Setting learning_rate 1e39 (inf in float32)",
        lambda: training.Setting(learning_rate=1e39),
        ValueError,
        "learning_rate",
    ),
    *[
        (
            f"train {name}",
            lambda y=y: training.train(
                training.Setting(), (images(), np.array(y)), 1, progress=False
            ),
            ValueError,
            "y_train",
        )
        for name, y in BAD_LABELS.items()
    ],
    *[
        (
            f"train_seeds {name}",
            lambda y=y: training.train_seeds(
                training.Setting(), (images(), np.array(y)), 1, seeds=2, progress=False
            ),
            ValueError,
            "y_train",
        )
        for name, y in BAD_LABELS.items()
    ],
    (
        "train nan pixels",
        lambda: training.train(training.Setting(), (nan_images(), np.zeros(2)), 1, progress=False),
        ValueError,
        "x_train",
    ),
    (
        "train x and y of different lengths",
        lambda: training.train(training.Setting(), (images(), np.zeros(3)), 1, progress=False),
        ValueError,
        "x_train",
    ),
    (
        "train labels of rank 2",
        lambda: training.train(training.Setting(), (images(), np.zeros((2, 1))), 1, progress=False),
        ValueError,
        "y_train",
    ),
    (
        "train on a finite dataset too short",
        lambda: training.train(
            training.Setting(),
            lambda: tf.data.Dataset.from_tensor_slices((images(), np.zeros(2, np.int64))).batch(1),
            3,
            chunk=1,
            progress=False,
        ),
        ValueError,
        "data",
    ),
    (
        "train images of rank 2",
        lambda: training.train(
            training.Setting(), (np.zeros((2, 784)), np.zeros(2)), 1, progress=False
        ),
        ValueError,
        "x_train",
    ),
    *[
        (
            f"evaluate {name}",
            lambda y=y: training.evaluate(a_history(), images(), np.array(y)),
            ValueError,
            "y",
        )
        for name, y in BAD_LABELS.items()
    ],
    (
        "evaluate nan pixels",
        lambda: training.evaluate(a_history(), nan_images(), np.zeros(2)),
        ValueError,
        "x",
    ),
    (
        "evaluate x and y of different lengths",
        lambda: training.evaluate(a_history(), images(), np.zeros(3)),
        ValueError,
        "x and y",
    ),
    ("autoclip_rule capacity 0", lambda: clipping.autoclip_rule(0), ValueError, "capacity"),
    ("agc_rule eps nan", lambda: clipping.agc_rule(math.nan), ValueError, "eps"),
    # --- data -----------------------------------------------------------------------------------------------
    (
        "pipeline x and y differ",
        lambda: data.fashion_mnist_pipeline(images(), np.zeros(3)),
        ValueError,
        "x and y",
    ),
    (
        "pipeline batch_size 0",
        lambda: data.fashion_mnist_pipeline(images(), np.zeros(2), batch_size=0),
        ValueError,
        "batch_size",
    ),
    (
        "pipeline shuffle_buffer -1",
        lambda: data.fashion_mnist_pipeline(images(), np.zeros(2), shuffle_buffer=-1),
        ValueError,
        "shuffle_buffer",
    ),
    *[
        (
            f"pipeline {name}",
            lambda y=y: data.fashion_mnist_pipeline(images(), np.array(y)),
            ValueError,
            "y",
        )
        for name, y in BAD_LABELS.items()
    ],
    (
        "pipeline nan pixels",
        lambda: data.fashion_mnist_pipeline(nan_images(), np.zeros(2)),
        ValueError,
        "x",
    ),
    (
        "pipeline labels of rank 2",
        lambda: data.fashion_mnist_pipeline(images(), np.zeros((2, 1))),
        ValueError,
        "y",
    ),
    ("adding_problem length 1", lambda: data.adding_problem(4, 1), ValueError, "length"),
    ("adding_problem n 0", lambda: data.adding_problem(0, 10), ValueError, "n"),
    ("adding_problem n 2.0", lambda: data.adding_problem(2.0, 10), TypeError, "n"),
    (
        "adding_problem dtype int",
        lambda: data.adding_problem(4, 10, dtype="int32"),
        ValueError,
        "dtype",
    ),
    # --- models ---------------------------------------------------------------------------------------------
    ("article_lstm units 0", lambda: models.article_lstm(units=0), ValueError, "units"),
    (
        "recurrent_model unknown cell",
        lambda: models.recurrent_model("Transformer"),
        ValueError,
        "cell",
    ),
    (
        "recurrent_model unknown activation",
        lambda: models.recurrent_model(activation="gelu"),
        ValueError,
        "activation",
    ),
    *[
        (f"recurrent_model rho={r}", lambda r=r: models.recurrent_model(rho=r), ValueError, "rho")
        for r in NON_POSITIVE
    ],
    (
        "set_spectral_radius on a Dense layer",
        lambda: models.set_spectral_radius(rnn().layers[-1], 1.0),
        TypeError,
        "layer",
    ),
    # --- theory and descent (notebooks 01 and 03) ---------------------------------------------------------------
    *[
        (f"scalar_jacobians w={w}", lambda w=w: theory.scalar_jacobians(w, 10), ValueError, "w")
        for w in [math.nan, math.inf]
    ],
    ("scalar_jacobians steps 0", lambda: theory.scalar_jacobians(1.1, 0), ValueError, "steps"),
    (
        "matrix_with_spectral_radius rho 0",
        lambda: theory.matrix_with_spectral_radius(0.0),
        ValueError,
        "rho",
    ),
    (
        "matrix_with_spectral_radius unknown kind",
        lambda: theory.matrix_with_spectral_radius(1.0, kind="diag"),
        ValueError,
        "kind",
    ),
    (
        "matrix_power_norms not square",
        lambda: theory.matrix_power_norms(np.ones((2, 3)), 5),
        ValueError,
        "square",
    ),
    (
        "matrix_power_norms strings",
        lambda: theory.matrix_power_norms(np.array([["a"]]), 5),
        TypeError,
        "matrix",
    ),
    (
        "recurrent_jacobian_norms unknown activation",
        lambda: theory.recurrent_jacobian_norms(np.eye(2), 5, activation="swish"),
        ValueError,
        "activation",
    ),
    ("cliff_loss_and_grad strings", lambda: theory.cliff_loss_and_grad("1", 0.0), TypeError, "w"),
    (
        "descend_cliff start of 3 numbers",
        lambda: descent.descend_cliff([1.0, 2.0, 3.0], 0.1, 5),
        ValueError,
        "start",
    ),
    (
        "descend_cliff start nan",
        lambda: descent.descend_cliff([math.nan, 0.0], 0.1, 5),
        ValueError,
        "start",
    ),
    *[
        (
            f"descend_cliff learning_rate={lr}",
            lambda lr=lr: descent.descend_cliff([5.5, -2.0], lr, 5),
            ValueError,
            "learning_rate",
        )
        for lr in NON_POSITIVE
    ],
    *[
        (
            f"descend_cliff threshold={t}",
            lambda t=t: descent.descend_cliff([5.5, -2.0], 0.1, 5, t),
            ValueError,
            "threshold",
        )
        for t in NON_POSITIVE
    ],
    ("clip_norm of a matrix", lambda: descent.clip_norm(np.ones((2, 2)), 1.0), ValueError, "g"),
    # --- gradients (notebook 02) ----------------------------------------------------------------------------
    (
        "step_gradient_norms of a non-model",
        lambda: gradients.step_gradient_norms("rnn", x5(), np.zeros((2, 1))),
        TypeError,
        "model",
    ),
    (
        "step_gradient_norms wrong features",
        lambda: gradients.step_gradient_norms(rnn(), np.zeros((2, 5, 3)), np.zeros((2, 1))),
        ValueError,
        "x",
    ),
    (
        "step_gradient_norms x with nan",
        lambda: gradients.step_gradient_norms(rnn(), x5() + np.nan, np.zeros((2, 1))),
        ValueError,
        "x",
    ),
    (
        "step_gradient_norms y of other batch",
        lambda: gradients.step_gradient_norms(rnn(), x5(), np.zeros((3, 1))),
        ValueError,
        "y",
    ),
    (
        "step_gradient_norms unknown loss",
        lambda: gradients.step_gradient_norms(rnn(), x5(), np.zeros((2, 1)), loss="no_such_loss"),
        ValueError,
        "loss",
    ),
    *[
        (
            f"linear_prediction rho={r}",
            lambda r=r: gradients.linear_prediction(r, 1.0, 10),
            ValueError,
            "rho",
        )
        for r in NON_POSITIVE
    ],
    # --- widgets ------------------------------------------------------------------------------------------
    ("ScalarRecurrence w outside its slider", lambda: ScalarRecurrence(w=5.0), ValueError, "w"),
    ("ScalarRecurrence steps 0", lambda: ScalarRecurrence(steps=0), ValueError, "steps"),
    ("ScalarRecurrence steps 1000", lambda: ScalarRecurrence(steps=1000), ValueError, "steps"),
    ("MatrixRecurrence rho nan", lambda: MatrixRecurrence(rho=math.nan), ValueError, "rho"),
    (
        "MatrixRecurrence unknown activation",
        lambda: MatrixRecurrence(activation="relu6"),
        ValueError,
        "activation",
    ),
    ("GradientNormsPlot rho 3", lambda: GradientNormsPlot(rho=3.0), ValueError, "rho"),
    (
        "GradientNormsPlot length > max_length",
        lambda: GradientNormsPlot(length=300, max_length=200),
        ValueError,
        "length",
    ),
    ("GradientNormsPlot unknown cell", lambda: GradientNormsPlot(cell="RNN"), ValueError, "cell"),
    (
        "ClippingGeometry threshold 0",
        lambda: ClippingGeometry(threshold=0.0),
        ValueError,
        "threshold",
    ),
    (
        "CliffDescent learning_rate -1",
        lambda: CliffDescent(learning_rate=-1.0),
        ValueError,
        "learning_rate",
    ),
    (
        "ClippingLab unknown mode",
        lambda: lab_widgets.ClippingLab((x5(), np.zeros(2)), mode="both"),
        ValueError,
        "mode",
    ),
    (
        "ClippingLab threshold outside its range",
        lambda: lab_widgets.ClippingLab((x5(), np.zeros(2)), threshold=1e6),
        ValueError,
        "threshold",
    ),
    (
        "ClippingLab steps 0",
        lambda: lab_widgets.ClippingLab((x5(), np.zeros(2)), steps=0),
        ValueError,
        "steps",
    ),
    *[
        (
            f"ClippingLab {name}",
            lambda y=y: lab_widgets.ClippingLab((images(), np.array(y))),
            ValueError,
            "y_train",
        )
        for name, y in BAD_LABELS.items()
    ],
    (
        "ClippingLab nan pixels",
        lambda: lab_widgets.ClippingLab((nan_images(), np.zeros(2))),
        ValueError,
        "x_train",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "names"), [case[1:] for case in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_call_gives_a_clear_error(call, error, names):
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert re.search(rf"(^|\W){names}", message), f"the message does not name {names!r}: {message}"
    assert "Traceback" not in message and len(message) < 400


def test_the_table_has_no_duplicate_cases():
    ids = [c[0] for c in BAD_CALLS]
    assert len(ids) == len(set(ids))


@given(
    st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf)),
    st.sampled_from(clipping.MODES[1:]),
)
def test_every_non_positive_or_non_finite_threshold_is_refused_by_every_mode(threshold, mode):
    with pytest.raises(ValueError, match="threshold"):
        clipping.clip(G, mode, threshold)
    with pytest.raises(ValueError, match="threshold"):
        training.Setting(mode, threshold)


@given(
    st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf), st.just(-math.inf))
)
def test_every_non_positive_or_non_finite_learning_rate_is_refused(learning_rate):
    with pytest.raises(ValueError, match="learning_rate"):
        training.Setting(learning_rate=learning_rate)
    with pytest.raises(ValueError, match="learning_rate"):
        descent.descend_cliff([5.5, -2.0], learning_rate, 3)


@given(st.integers(0, 3), st.integers(0, 3))
def test_mismatched_gradient_and_weight_shapes_name_the_index(extra_rows, extra_cols):
    shape = (2 + extra_rows, 2 + extra_cols)
    if shape == (2, 2):
        return
    with pytest.raises(ValueError, match=r"params\[1\] has shape"):
        clipping.agc(G, [W[0], tf.ones(shape)], 0.01)
