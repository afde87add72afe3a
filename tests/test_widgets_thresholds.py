"""Notebook 05's threshold widget, driven as a student would: choose a recipe for c and move its slider; the
threshold, marked steps and the histogram's bars follow; bad parameters are refused with the argument's name."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.training import History, Setting
from helpers.widgets.thresholds import ThresholdExplorer, clipped_steps, recorded_norms, threshold


def _norms(n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(0)
    norms = np.exp(rng.normal(0.0, 0.4, n))
    norms[rng.choice(n, 8, replace=False)] *= 30.0  # a few spikes: the mean sits above the median
    return norms


def _heights(bars) -> np.ndarray:
    return np.array([bar.get_height() for bar in bars])


def _check(widget: ThresholdExplorer) -> None:
    norms, result = widget.norms, widget.result
    c = result["threshold"]
    np.testing.assert_array_equal(result["clipped"], np.flatnonzero(norms > c))
    xs, ys = widget.marks.get_data()
    np.testing.assert_array_equal(
        xs, np.flatnonzero(norms > c)
    )  # the marked steps are the clipped ones
    np.testing.assert_array_equal(ys, norms[norms > c])
    assert widget.hist_line.get_xdata()[0] == pytest.approx(c)
    assert widget.trace_line.get_ydata()[0] == pytest.approx(c)
    kept, cut = _heights(widget.kept_bars), _heights(widget.clipped_bars)
    assert kept.sum() + cut.sum() == norms.size  # every step in one bar
    assert cut.sum() == result["clipped"].size
    assert f"{result['clipped'].size} of {norms.size} steps" in widget.ax_trace.get_title()


def test_each_recipe_and_parameter_changes_the_figure():
    norms = _norms()
    widget = ThresholdExplorer(norms, recipe="percentile", percentile=90.0)
    widget.update()
    _check(widget)
    assert widget.result["threshold"] == pytest.approx(np.percentile(norms, 90))
    assert widget.result["fraction"] == pytest.approx(0.1, abs=0.01)
    assert widget.controls["multiple"].disabled and not widget.controls["percentile"].disabled
    before = _heights(widget.clipped_bars).copy()

    widget.controls["percentile"].value = 50.0
    _check(widget)
    assert widget.result["fraction"] == pytest.approx(0.5, abs=0.01)
    assert not np.array_equal(_heights(widget.clipped_bars), before)

    widget.controls["recipe"].value = "median"
    widget.controls["multiple"].value = 2.0
    _check(widget)
    assert widget.result["threshold"] == pytest.approx(2.0 * np.median(norms), rel=1e-9)
    assert widget.controls["percentile"].disabled and not widget.controls["multiple"].disabled

    widget.controls["recipe"].value = "pascanu"
    widget.controls["factor"].value = 10.0
    _check(widget)
    assert widget.result["threshold"] == pytest.approx(10.0 * norms.mean())
    assert (
        0 < widget.result["clipped"].size <= 8
    )  # only (some of) the 8 spikes lie above 10 × the mean
    assert widget.updates == 6


def test_callbacks_are_plain_functions_and_refuse_bad_parameters():
    widget = ThresholdExplorer(_norms())
    widget.draw(recipe="median", multiple=1.0, percentile=90.0, factor=1.0)
    _check(widget)
    assert widget.result["fraction"] == pytest.approx(0.5, abs=0.01)
    for kwargs, name in (
        ({"recipe": "mean"}, "recipe"),
        ({"multiple": 0.0}, "multiple"),
        ({"percentile": 100.0}, "percentile"),
        ({"factor": 20.0}, "factor"),
        ({"factor": float("nan")}, "factor"),
    ):
        values = {"recipe": "median", "multiple": 1.0, "percentile": 90.0, "factor": 1.0, **kwargs}
        with pytest.raises(ValueError, match=name):
            widget.draw(**values)
    with pytest.raises(ValueError, match="parameter"):
        threshold(widget.norms, "pascanu", 0.1)  # below Pascanu's range
    with pytest.raises(ValueError, match="c"):
        clipped_steps(widget.norms, -1.0)


def test_norms_from_a_history_and_bad_norms():
    grad_norm = np.array([1.0, 2.0, 3.0, np.inf], np.float32)  # a run that diverged at step 3
    history = History(
        Setting(), grad_norm, grad_norm, grad_norm, np.zeros(4, bool), 3, 4, 10, 0.0, ()
    )
    np.testing.assert_array_equal(recorded_norms(history), [1.0, 2.0, 3.0])
    widget = ThresholdExplorer(history, recipe="median", multiple=1.0)
    widget.update()
    np.testing.assert_array_equal(widget.result["clipped"], [2])
    for bad in ([1.0, np.nan, 2.0], [1.0], [[1.0, 2.0]], [1.0, -2.0], "abc"):
        with pytest.raises((ValueError, TypeError), match="norms"):
            ThresholdExplorer(bad)
    with pytest.raises(ValueError, match="percentile"):
        ThresholdExplorer(_norms(), percentile=0.5)


def test_an_update_redraws_the_png():
    widget = ThresholdExplorer(_norms(), recipe="percentile", percentile=90.0)
    first = widget.png()
    widget.controls["percentile"].value = 20.0
    assert widget.png() != first


@pytest.mark.parametrize("low, high", [(0.15, 0.7), (0.3, 0.45), (0.05, 8.0), (1e-4, 1e3)])
def test_log_tick_labels_are_plain_and_do_not_overlap(low, high):
    # notebook 05's recorded norms span about one decade: matplotlib labelled the minor ticks 2×10⁻¹, 3×10⁻¹, ...
    norms = np.geomspace(low, high, 300)
    widget = ThresholdExplorer(norms)
    widget.update()
    for ax, axis, limits in (
        (widget.ax_hist, "x", ax_limits(widget.ax_hist.get_xlim())),
        (widget.ax_trace, "y", ax_limits(widget.ax_trace.get_ylim())),
    ):
        labels = (
            ax.get_xticklabels(which="both") if axis == "x" else ax.get_yticklabels(which="both")
        )
        shown = [
            label
            for label in labels
            if label.get_text() and limits(label.get_position()[axis == "y"])
        ]
        assert len(shown) >= 2, f"{axis} axis of {low}..{high}: fewer than 2 tick labels"
        assert all(
            "10^" not in label.get_text() and "times" not in label.get_text() for label in shown
        )
        boxes = sorted((label.get_window_extent() for label in shown), key=lambda b: (b.x0, b.y0))
        for first, second in zip(boxes, boxes[1:]):
            assert not first.overlaps(second), f"{axis} tick labels overlap for norms {low}..{high}"


def ax_limits(limits):
    low, high = sorted(limits)
    return lambda value: low <= value <= high
