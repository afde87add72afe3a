"""Notebook 04's clipping lab, driven as in a notebook but in plain pytest: set control values, read the figure back.

The lab trains the four clipping modes of a (threshold, learning rate) together (K = 4) with chunk=20, the shapes the
training tests compile too, so the compiled function is shared within one pytest run.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import data, training
from helpers.training import Setting
from helpers.widgets.lab import ClippingLab, plot_histories

STEPS = 40


@pytest.fixture(scope="module")
def train_data():
    return data.load_fashion_mnist()[0]


def make_lab(train_data, **kwargs):
    kwargs.setdefault("background", False)
    return ClippingLab(train_data, steps=STEPS, chunk=20, **kwargs)


def loss_curve(lab):
    return np.array(lab.line["loss"].get_ydata(), dtype=float)


def trained_settings(lab):
    return [setting for group in lab.runs for setting in group]


def test_first_display_trains_the_four_modes_and_draws(train_data):
    lab = make_lab(train_data, mode="global_norm", threshold=1.0, learning_rate=1.0)
    lab.update()
    assert len(lab.runs) == 1 and {s.mode for s in lab.runs[0]} == {"none", "value", "norm", "global_norm"}
    curve = loss_curve(lab)
    assert curve.shape == (STEPS,) and np.all(np.isfinite(curve))
    assert len(lab.reference["loss"].get_xdata()) == STEPS  # the no-clipping run drawn for comparison
    assert list(lab.threshold_line.get_ydata()) == [1.0, 1.0] and lab.threshold_line.get_visible()
    assert lab.output.outputs[0]["data"]["image/png"]  # a PNG in the output area
    assert lab.progress.value == STEPS and "trained 4 settings" in lab.message.value


def test_cached_setting_redraws_without_training(train_data):
    lab = make_lab(train_data)
    lab.update()
    before = loss_curve(lab)
    lab.controls["mode"].value = "value"
    assert len(lab.runs) == 1  # no new training: the four modes were trained together
    assert not np.array_equal(before, loss_curve(lab))
    assert lab.message.value == "from the cache" and not lab.threshold_line.get_visible()
    np.testing.assert_allclose(loss_curve(lab), lab.cache[lab.setting("value", 1.0, 1.0)].smoothed("loss", 50))
    lab.controls["mode"].value = "none"
    assert len(lab.runs) == 1 and len(lab.reference["loss"].get_xdata()) == 0  # no reference for itself


def test_new_threshold_and_learning_rate_train_and_update_in_place(train_data):
    lab = make_lab(train_data)
    lab.update()
    figure, line = lab.figure, lab.line["loss"]
    first = loss_curve(lab)
    lab.controls["threshold"].value = 0.1
    assert len(lab.runs) == 2 and all(s.threshold in (None, 0.1) for s in lab.runs[1])
    assert list(lab.threshold_line.get_ydata()) == [0.1, 0.1]
    second = loss_curve(lab)
    assert not np.array_equal(first, second)
    lab.controls["learning_rate"].value = 0.01
    assert len(lab.runs) == 3 and all(s.learning_rate == 0.01 for s in lab.runs[2])
    assert not np.array_equal(second, loss_curve(lab))
    assert lab.figure is figure and lab.line["loss"] is line  # the same artists, updated in place
    assert lab.updates == 3


@pytest.mark.parametrize("threshold", [0.1, 1.0, 10.0])
def test_a_threshold_on_a_power_of_ten_is_drawn_inside_the_norm_panel(train_data, threshold):
    lab = make_lab(train_data, threshold=threshold)
    lab.update()
    low, high = lab.panel["grad_norm"].get_ylim()
    assert low < threshold < high
    norms = lab.cache[lab.setting("global_norm", threshold, 1.0)].grad_norm
    assert low <= norms[np.isfinite(norms)].min() and norms[np.isfinite(norms)].max() <= high


def test_histories_from_the_notebook_fill_the_cache(train_data):
    group = [Setting(m, None if m == "none" else 10**-0.5, 1.0, momentum=0.9) for m in ("none", "norm")]
    histories = training.train(group, train_data, STEPS, chunk=20, progress=False)
    lab = make_lab(train_data, mode="norm", threshold=10**-0.5, histories=histories)
    lab.update()
    assert lab.runs == []
    np.testing.assert_allclose(loss_curve(lab), histories[1].smoothed("loss", 50))
    other_length = make_lab(train_data, histories=training.train(group, train_data, 20, chunk=20, progress=False))
    assert other_length.cache == {}  # runs of another length are not mistaken for this lab's


def test_diverged_run_is_marked_and_reported(train_data):
    lab = make_lab(train_data, optimizer="adam", momentum=0.0, lr_range=(1e-3, 1e38), learning_rate=1e37)
    lab.update()
    history = lab.cache[lab.setting("global_norm", 1.0, 1e37)]
    assert history.diverged_at == 1
    x, y = lab.cross["loss"].get_data()
    assert list(x) == [1.0] and np.isfinite(y[0])
    assert "step 1" in lab.note["loss"].get_text()
    assert "diverged" in lab.message.value and "step 1" in lab.message.value
    lab.controls["learning_rate"].value = 1e-3
    assert len(lab.cross["loss"].get_xdata()) == 0 and lab.note["loss"].get_text() == ""


def test_last_setting_wins_when_controls_move_quickly(train_data):
    lab = make_lab(train_data, background=True)
    lab.update()  # first display: trained in this thread
    for threshold in (0.01, 0.1, 10.0):  # three releases in quick succession
        lab.controls["threshold"].value = threshold
    lab.wait(timeout=120)
    trained = {s.threshold for s in trained_settings(lab)}
    assert 0.1 not in trained  # superseded before its turn: never trained
    assert lab.runs[-1][1].threshold == 10.0 and lab.setting("norm", 10.0, 1.0) in lab.cache
    assert 0.01 not in {s.threshold for s in lab.cache}  # started, then abandoned at its first chunk
    assert "≤ 10," in lab.title.get_text() and lab.message.value.startswith("trained")
    np.testing.assert_allclose(loss_curve(lab), lab.cache[lab.setting("global_norm", 10.0, 1.0)].smoothed("loss", 50))


def test_going_back_to_a_cached_setting_abandons_the_running_one(train_data):
    lab = make_lab(train_data, background=True)
    lab.update()
    cached = loss_curve(lab)
    lab.controls["learning_rate"].value = 0.1  # starts training in the background
    lab.controls["learning_rate"].value = 1.0  # back to the cached setting: drawn at once
    np.testing.assert_array_equal(loss_curve(lab), cached)
    lab.wait(timeout=120)
    assert not any(s.learning_rate == 0.1 for s in lab.cache)
    np.testing.assert_array_equal(loss_curve(lab), cached)


def test_plot_histories_draws_four_panels_and_marks_divergence(train_data):
    calm, wild = training.train(
        [Setting("global_norm", 1.0, learning_rate=0.1), Setting("none", optimizer="adam", learning_rate=1e37)],
        train_data,
        STEPS,
        chunk=20,
        progress=False,
    )
    figure = plot_histories([calm, wild], window=5)
    axes = figure.axes
    assert len(axes) == 4 and axes[2].get_yscale() == "log"
    crosses = [line for line in axes[0].lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [wild.diverged_at]
    assert any("stopped" in text.get_text() for text in axes[0].texts)
    assert [line.get_ydata()[0] for line in axes[2].lines if line.get_linestyle() == ":"] == [1.0]
    with pytest.raises(TypeError, match="histories"):
        plot_histories([])
    with pytest.raises(ValueError, match="labels"):
        plot_histories([calm], labels=["a", "b"])
    with pytest.raises(ValueError, match="window"):
        plot_histories(calm, window=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps must be an integer >= 1"),
        ({"mode": "clip"}, ValueError, "mode must be one of"),
        ({"threshold": 1e5}, ValueError, "threshold must be between"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be between"),
        ({"threshold_range": (1.0, 0.1)}, ValueError, "threshold_range must have low < high"),
        ({"lr_range": 3}, TypeError, "lr_range must be a"),
        ({"lr_range": (0.0, 1.0)}, ValueError, r"lr_range\[0\] must be a positive"),
        ({"optimizer": "adagrad"}, ValueError, "optimizer must be one of"),
        ({"optimizer": "adam"}, ValueError, "momentum is an SGD option"),
        ({"window": 0}, ValueError, "window must be an integer >= 1"),
        ({"histories": ["run"]}, TypeError, "histories must hold History objects"),
    ],
)
def test_bad_arguments_are_refused(train_data, kwargs, error, match):
    with pytest.raises(error, match=match):
        ClippingLab(train_data, **kwargs)
