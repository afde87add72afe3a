"""Notebook 04's clipping lab, driven as in a notebook but in plain pytest: set control values, read the figure back.

The lab trains the chosen setting and its unclipped reference over 3 seeds (train_seeds) with chunk=20, the shapes the
training tests compile too, so the compiled function is shared within one pytest run.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.text
import numpy as np
import pytest

from helpers import data, plots, training
from helpers.training import Setting
from helpers.widgets.lab import ClippingLab

STEPS = 40


@pytest.fixture(scope="module")
def train_data():
    return data.load_fashion_mnist()[0]


def make_lab(train_data, **kwargs):
    kwargs.setdefault("background", False)
    return ClippingLab(train_data, steps=STEPS, chunk=20, **kwargs)


def loss_curve(lab, line="line"):
    return np.array(getattr(lab, line)["loss"].get_ydata(), dtype=float)


def trained_settings(lab):
    return [setting for group in lab.trainer.runs for setting in group]


def seed_mean(lab, setting, name="loss"):
    return plots.seed_band(
        [lab.trainer.cache[replace(setting, seed=s)] for s in lab.trainer.seeds], name, lab.window
    )[0]


def legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_first_display_trains_the_setting_and_its_reference_over_three_seeds(train_data):
    lab = make_lab(train_data, mode="global_norm", threshold=1.0, learning_rate=1.0)
    lab.update()
    assert lab.trainer.seeds == (0, 1, 2)
    assert lab.trainer.runs == [
        (lab.trainer.setting("global_norm", 1.0, 1.0), lab.trainer.setting("none", 1.0, 1.0))
    ]
    curve = loss_curve(lab)
    assert curve.shape == (STEPS,) and np.all(np.isfinite(curve))
    np.testing.assert_allclose(curve, seed_mean(lab, lab.trainer.setting("global_norm", 1.0, 1.0)))
    np.testing.assert_allclose(
        loss_curve(lab, "reference_line"), seed_mean(lab, lab.trainer.setting("none", 1.0, 1.0))
    )
    assert ("line", "loss") in lab.bands and (
        "reference",
        "loss",
    ) in lab.bands  # the spread over seeds
    assert list(lab.threshold_line.get_ydata()) == [1.0, 1.0] and lab.threshold_line.get_visible()
    assert lab.output.outputs[0]["data"]["image/png"]  # a PNG in the output area
    assert lab.progress.value == STEPS and "trained 2 settings × 3 seeds" in lab.message.value
    assert "3 seeds" in lab.title.get_text() and "in " in lab.title.get_text()


def test_grey_reference_equals_a_table_printed_with_the_same_seeds(train_data):
    """The cache holds per-seed runs; a run is bitwise the same however it was grouped, so the lab's reference is
    what train_seeds prints for the same seeds."""
    lab = make_lab(train_data)
    lab.update()
    table = training.train_seeds(
        [
            Setting("value", 0.5, 1.0, momentum=0.9),
            Setting("none", learning_rate=1.0, momentum=0.9),
        ],
        train_data,
        STEPS,
        seeds=3,
        chunk=20,
        progress=False,
    )
    for seed, history in zip(table.seeds, table.histories[1]):
        cached = lab.trainer.cache[lab.trainer.setting("none", 1.0, 1.0, seed)]
        np.testing.assert_array_equal(cached.loss, history.loss)
        for a, b in zip(cached.weights, history.weights):
            np.testing.assert_array_equal(a, b)


def test_cached_setting_redraws_without_training_and_none_mode_disables_the_threshold(train_data):
    lab = make_lab(train_data)
    lab.update()
    before = loss_curve(lab)
    lab.controls["mode"].value = "value"
    assert lab.trainer.runs[1] == (
        lab.trainer.setting("value", 1.0, 1.0),
    )  # only the new setting; the reference is cached
    assert not np.array_equal(before, loss_curve(lab)) and not lab.threshold_line.get_visible()
    np.testing.assert_allclose(
        loss_curve(lab), seed_mean(lab, lab.trainer.setting("value", 1.0, 1.0))
    )
    assert legend_texts(lab.panel["grad_norm"]) == []  # no threshold line drawn: not in a legend
    lab.controls["mode"].value = "none"
    assert len(lab.trainer.runs) == 2 and lab.message.value == "from the cache"
    assert len(lab.reference_line["loss"].get_xdata()) == 0  # no reference for itself
    assert lab.controls["threshold"].disabled
    assert [t for t in legend_texts(lab.panel["loss"]) if "no clipping" in t] == []
    assert len(legend_texts(lab.panel["loss"])) == 1
    lab.controls["mode"].value = "norm"
    assert not lab.controls["threshold"].disabled
    assert legend_texts(lab.panel["grad_norm"]) == ["threshold c"]
    assert any("no clipping" in t for t in legend_texts(lab.panel["loss"]))


def test_text_is_at_least_12_px_at_100_percent_zoom(train_data):
    lab = make_lab(train_data)
    lab.update()
    lab.png()
    texts = [
        t for t in lab.figure.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()
    ]
    assert texts
    for text in texts:
        assert text.get_fontsize() * lab.figure.dpi / 72 >= 12, text.get_text()
    assert lab.figure.dpi == lab.dpi >= 100


def test_axis_limits_follow_the_data(train_data):
    lab = make_lab(train_data, learning_rate=0.01)
    lab.update()
    low, high = lab.panel["loss"].get_ylim()
    band_high = max(
        np.nanmax(lab.bands[key, "loss"].get_paths()[0].vertices[:, 1])
        for key in ("line", "reference")
    )
    assert band_high <= high <= 2 * band_high
    assert lab.panel["loss"].get_xlim() == (0, STEPS)
    _, accuracy_high = lab.panel["accuracy"].get_ylim()
    assert accuracy_high <= 1.0


def test_new_threshold_and_learning_rate_train_and_update_in_place(train_data):
    lab = make_lab(train_data)
    lab.update()
    figure, line = lab.figure, lab.line["loss"]
    first = loss_curve(lab)
    lab.controls["threshold"].value = 0.1
    assert len(lab.trainer.runs) == 2 and lab.trainer.runs[1] == (
        lab.trainer.setting("global_norm", 0.1, 1.0),
    )
    assert list(lab.threshold_line.get_ydata()) == [0.1, 0.1]
    second = loss_curve(lab)
    assert not np.array_equal(first, second)
    lab.controls["learning_rate"].value = 0.01
    assert (
        len(lab.trainer.runs) == 3
        and all(s.learning_rate == 0.01 for s in lab.trainer.runs[2])
        and len(lab.trainer.runs[2]) == 2
    )
    assert not np.array_equal(second, loss_curve(lab))
    assert lab.figure is figure and lab.line["loss"] is line  # the same artists, updated in place
    assert lab.updates == 3


@pytest.mark.parametrize("threshold", [0.1, 1.0, 10.0])
def test_a_threshold_on_a_power_of_ten_is_drawn_inside_the_norm_panel(train_data, threshold):
    lab = make_lab(train_data, threshold=threshold)
    lab.update()
    low, high = lab.panel["grad_norm"].get_ylim()
    assert low < threshold < high
    mean = seed_mean(lab, lab.trainer.setting("global_norm", threshold, 1.0), "grad_norm")
    assert low <= np.nanmin(mean) and np.nanmax(mean) <= high


def test_histories_from_the_notebook_fill_the_cache(train_data):
    group = [
        Setting(m, None if m == "none" else 10**-0.5, 1.0, momentum=0.9) for m in ("none", "norm")
    ]
    runs = training.train_seeds(group, train_data, STEPS, seeds=3, chunk=20, progress=False)
    lab = make_lab(train_data, mode="norm", threshold=10**-0.5, histories=runs)
    lab.update()
    assert lab.trainer.runs == []
    np.testing.assert_allclose(loss_curve(lab), plots.seed_band(runs.histories[1], "loss")[0])
    other = training.train_seeds(group, train_data, 20, seeds=3, chunk=20, progress=False)
    assert (
        make_lab(train_data, histories=other).trainer.cache == {}
    )  # runs of another length are not this lab's


def test_diverged_runs_are_marked_and_reported(train_data):
    lab = make_lab(
        train_data, optimizer="adam", momentum=0.0, lr_range=(1e-3, 1e38), learning_rate=1e37
    )
    lab.update()
    histories = [
        lab.trainer.cache[lab.trainer.setting("global_norm", 1.0, 1e37, s)]
        for s in lab.trainer.seeds
    ]
    assert all(h.diverged for h in histories)
    x, y = lab.cross["loss"].get_data()
    assert sorted(x) == sorted(float(h.diverged_at) for h in histories) and np.all(np.isfinite(y))
    assert "3 of 3 seeds stopped" in lab.note["loss"].get_text()
    assert "diverged" in lab.message.value and "3 of 3 seeds" in lab.message.value
    assert any("diverged" in t for t in legend_texts(lab.panel["loss"]))
    lab.controls["learning_rate"].value = 1e-3
    assert len(lab.cross["loss"].get_xdata()) == 0 and lab.note["loss"].get_text() == ""
    assert not any("diverged" in t for t in legend_texts(lab.panel["loss"]))


def test_last_setting_wins_when_controls_move_quickly(train_data):
    lab = make_lab(train_data, background=True)
    lab.update()  # first display: trained in this thread
    for threshold in (0.01, 0.1, 10.0):  # three releases in quick succession
        lab.controls["threshold"].value = threshold
    lab.trainer.wait(timeout=300)
    trained = {s.threshold for s in trained_settings(lab)}
    assert 0.1 not in trained  # superseded before its turn: never trained
    assert lab.trainer.runs[-1] == (lab.trainer.setting("global_norm", 10.0, 1.0),)
    assert 0.01 not in {
        s.threshold for s in lab.trainer.cache
    }  # started, then abandoned at its first chunk
    assert "≤ 10," in lab.title.get_text() and lab.message.value.startswith("trained")
    np.testing.assert_allclose(
        loss_curve(lab), seed_mean(lab, lab.trainer.setting("global_norm", 10.0, 1.0))
    )


def test_going_back_to_a_cached_setting_abandons_the_running_one(train_data):
    lab = make_lab(train_data, background=True)
    lab.update()
    cached = loss_curve(lab)
    lab.controls["learning_rate"].value = 0.1  # starts training in the background
    lab.controls["learning_rate"].value = 1.0  # back to the cached setting: drawn at once
    np.testing.assert_array_equal(loss_curve(lab), cached)
    lab.trainer.wait(timeout=300)
    assert not any(s.learning_rate == 0.1 for s in lab.trainer.cache)
    np.testing.assert_array_equal(loss_curve(lab), cached)


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
        ({"seeds": 2}, ValueError, "seeds must be at least 3 seeds"),
        ({"seeds": [0, 1, 1]}, ValueError, "seeds must be distinct"),
    ],
)
def test_bad_arguments_are_refused(train_data, kwargs, error, match):
    with pytest.raises(error, match=match):
        ClippingLab(train_data, **kwargs)
