"""helpers.training.train_seeds / SeedRuns and helpers.plots.plot_seed_runs: every setting over several seeds
(initial weights and batch order), their summary table and figure. Tiny runs (20 steps) on the offline subset."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from helpers import data, plots, training
from helpers.training import Setting

STEPS = 20
TWO = [Setting("none", learning_rate=0.05), Setting("global_norm", 0.1, learning_rate=0.05)]


@pytest.fixture(scope="module")
def train_data():
    return data.load_fashion_mnist()[0]


@pytest.fixture(scope="module")
def runs(train_data):
    return training.train_seeds(TWO, train_data, STEPS, seeds=3, chunk=STEPS, progress=False)


def test_shape_and_seeds(runs):
    assert runs.settings == tuple(TWO) and runs.seeds == (0, 1, 2)
    assert len(runs.histories) == 2 and all(len(row) == 3 for row in runs.histories)
    for row, setting in zip(runs.histories, TWO):
        for history, seed in zip(row, runs.seeds):
            assert history.setting == dataclasses.replace(setting, seed=seed)
            assert history.steps == STEPS
    assert runs.final_losses().shape == (2, 3) and runs.diverged().shape == (2, 3)
    assert not runs.diverged().any()


def test_seed_sets_weights_and_batches(runs, train_data):
    """Seed s is Setting.seed = s and data_seed = s: equal to train() called so."""
    for j, seed in enumerate(runs.seeds):
        alone = training.train(
            dataclasses.replace(TWO[1], seed=seed),
            train_data,
            STEPS,
            data_seed=seed,
            chunk=STEPS,
            progress=False,
        )
        np.testing.assert_array_equal(alone.loss, runs.histories[1][j].loss)
    losses = [row.loss for row in runs.histories[0]]
    assert not np.array_equal(losses[0], losses[1]) and not np.array_equal(losses[1], losses[2])


def test_final_losses_wins_and_summary(runs):
    losses = runs.final_losses()
    expected = [[h.final_loss() for h in row] for row in runs.histories]
    np.testing.assert_array_equal(losses, expected)
    assert runs.wins(1) == int(np.sum(losses[1] < losses[0]))
    assert runs.wins(0, reference=1) == int(np.sum(losses[0] < losses[1]))
    assert runs.wins(0) == 0  # never lower than itself
    table = runs.summary()
    lines = table.splitlines()
    assert "n=3 seeds" in lines[0] and len(lines) == 2 + 2 + 1
    row = lines[3]
    assert TWO[1].label in row and f"{runs.wins(1)}/3" in row and "0/3" in row  # wins, diverged
    finite = losses[1]
    assert f"{finite.mean():.3g} ± {finite.std(ddof=1):.3g}" in row
    assert f"{finite.min():.3g}–{finite.max():.3g}" in row
    assert "reference" in lines[2]


def _history(loss, diverged_at=None):
    loss = np.asarray(loss, np.float32)
    zeros = np.zeros_like(loss)
    return training.History(
        Setting(),
        loss,
        zeros,
        zeros + 1,
        zeros.astype(bool),
        diverged_at,
        len(loss),
        len(loss),
        0.0,
        (),
    )


def test_diverged_runs_are_inf_never_win_and_are_counted():
    ok = [_history([1.0, 1.0]), _history([2.0, 2.0])]
    bad = [_history([0.5, np.inf], diverged_at=1), _history([1.5, 1.5])]
    runs = training.SeedRuns((Setting(), Setting("value", 1.0)), (0, 1), [ok, bad])
    np.testing.assert_array_equal(runs.diverged(), [[False, False], [True, False]])
    assert math.isinf(runs.final_losses()[1, 0])
    assert runs.wins(1) == 1 and runs.wins(0, reference=1) == 1
    row = runs.summary().splitlines()[3]
    assert "1.5 ± n/a" in row and "1/2" in row
    all_bad = training.SeedRuns((Setting(),), (0,), [[_history([np.nan], diverged_at=0)]])
    assert "all diverged" in all_bad.summary()


@pytest.mark.parametrize(
    "seeds, error",
    [
        (0, ValueError),
        ([], ValueError),
        ([1, 1], ValueError),
        ([-1], ValueError),
        (2.0, TypeError),
        (True, TypeError),
        ("3", TypeError),
    ],
)
def test_bad_seeds(train_data, seeds, error):
    with pytest.raises(error, match="seeds"):
        training.train_seeds(TWO, train_data, STEPS, seeds=seeds, progress=False)


def test_bad_arguments(train_data):
    with pytest.raises(TypeError, match="data_seed"):
        training.train_seeds(TWO, train_data, STEPS, seeds=2, data_seed=1)
    with pytest.raises(TypeError, match=r"settings\[1\]"):
        training.train_seeds([TWO[0], "none"], train_data, STEPS)
    with pytest.raises(ValueError, match="settings"):
        training.train_seeds([], train_data, STEPS)


def test_plot_seed_runs_draws_mean_and_band(runs):
    figure = plots.plot_seed_runs(runs, labels=["none", "global"])
    assert isinstance(figure, Figure)
    loss_ax, acc_ax, norm_ax = figure.axes[:3]
    assert norm_ax.get_yscale() == "log"
    mean, low, high = plots.seed_band(runs.histories[0], "loss")
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), mean)
    stacked = np.array([plots.smoothed_curve(h, "loss") for h in runs.histories[0]])
    np.testing.assert_allclose(mean, stacked.mean(axis=0))
    np.testing.assert_allclose(low, stacked.min(axis=0))
    assert len(loss_ax.collections) == 2  # one band per setting
    assert "3 seeds" in figure._suptitle.get_text() and "min–max" in figure._suptitle.get_text()
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["none", "global"]
    with pytest.raises(ValueError, match="labels"):
        plots.plot_seed_runs(runs, labels=["one"])
    with pytest.raises(TypeError, match="SeedRuns"):
        plots.plot_seed_runs(runs.histories)


def test_plot_marks_diverged_seeds():
    bad = [_history([0.5, 0.6, np.inf], diverged_at=2), _history([1.5, 1.5, 1.5])]
    runs = training.SeedRuns((Setting(),), (0, 1), [bad])
    figure = plots.plot_seed_runs(runs)
    texts = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "1/2 diverged" in texts[0]
    crosses = [line for line in figure.axes[0].lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_xdata()[0] == 2
    mean, _, _ = plots.seed_band(bad, "loss")
    assert mean[2] == pytest.approx(1.5)  # the diverged seed leaves the mean


def test_plot_of_seeds_that_all_diverge_at_once_warns_nothing():
    gone = [_history([np.inf], diverged_at=0), _history([np.nan], diverged_at=0)]
    runs = training.SeedRuns((Setting(),), (0, 1), [gone])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = plots.plot_seed_runs(runs)
    assert "2/2 diverged" in figure.legends[0].get_texts()[0].get_text()


def test_uint8_pixels_train_and_evaluate_like_scaled_images(runs):
    """load_fashion_mnist(scaled=False) keeps a quarter of the memory; training and evaluation scale each chunk to
    the same float32 values, so every recorded number is bitwise the same as with scaled images."""
    (pixels, labels), (test_pixels, test_labels) = data.load_fashion_mnist(scaled=False)
    assert pixels.dtype == np.uint8
    again = training.train_seeds(TWO, (pixels, labels), STEPS, seeds=3, chunk=STEPS, progress=False)
    for row, same_row in zip(runs.histories, again.histories):
        for history, same in zip(row, same_row):
            for name in ("loss", "accuracy", "grad_norm", "clipped"):
                np.testing.assert_array_equal(getattr(history, name), getattr(same, name))
    (_, _), (x_test, y_test) = data.load_fashion_mnist()
    history = runs.histories[1][0]
    assert training.evaluate(history, test_pixels, test_labels) == training.evaluate(
        history, x_test, y_test
    )


# One answer per setting, whatever the caller set before: a fresh process that seeds everything (op determinism on,
# as every notebook's setup cell does) and one that turns op determinism off, sets a mixed-precision policy and
# another global seed must train the same setting to the same bits.
CALLER = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import keras
import tensorflow as tf
from tensorflow.python.framework import config as tf_config
import helpers
from helpers import data, training

if sys.argv[1] == "notebook":
    helpers.seed_everything(42)
else:
    tf_config.disable_op_determinism()
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(123)
unstable = training.Setting("none", learning_rate=1.0, momentum=0.9)
runs = training.train_seeds(unstable, data.load_fashion_mnist(scaled=False)[0], 150, seeds=2, progress=False)
print("RESULT " + json.dumps({
    "loss": [h.loss.tolist() for h in runs.histories[0]],
    "grad_norm": [h.grad_norm.tolist() for h in runs.histories[0]],
    "policy": keras.config.dtype_policy().name,
    "determinism": tf_config.is_op_determinism_enabled(),
}))
"""


def test_numbers_do_not_depend_on_what_the_caller_set():
    import json
    import subprocess
    import sys

    results = {}
    for caller in ("notebook", "script"):
        done = subprocess.run(
            [sys.executable, "-c", CALLER, caller], capture_output=True, text=True, timeout=300
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        assert done.returncode == 0 and lines, done.stderr[-3000:]
        results[caller] = json.loads(lines[-1][len("RESULT ") :])
    notebook, script = results["notebook"], results["script"]
    assert notebook["loss"] == script["loss"] and notebook["grad_norm"] == script["grad_norm"]
    assert (
        script["policy"] == "mixed_float16" and not script["determinism"]
    )  # the caller's settings restored
    assert notebook["determinism"]
