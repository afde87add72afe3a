"""The line of text under every interactive figure (issue 23, widgets from the keyboard): after a control changes, it
says which control changed to what and what the figure now shows, in words and numbers computed from what was drawn,
so the figure's message does not depend on seeing it. Driven as in a notebook: set a control's value, read the line.
"""

from __future__ import annotations

import html

import numpy as np
import pytest

from helpers import data, theory
from helpers.widgets.clipping import CliffDescent, ClippingGeometry
from helpers.widgets.lab import ClippingLab
from helpers.widgets.recurrence import MatrixRecurrence, ScalarRecurrence
from helpers.widgets.rnn import GradientNormsPlot
from helpers.widgets.thresholds import ThresholdExplorer


def line(widget) -> str:
    """The caption as a reader sees it (the widget escapes it as HTML)."""
    return html.unescape(widget.caption.value)


def test_the_line_is_under_the_figure_and_says_the_state_before_any_change():
    widget = ScalarRecurrence(w=1.1, steps=100)
    widget.update()
    children = list(widget.widget.children)
    assert children.index(widget.caption) == children.index(widget.output) + 1
    factor = 1.1**100
    assert (
        line(widget)
        == f"after T = 100 steps the factor |w|^T = {factor:.3g}: the gradient grows (×1.10 per step)"
    )


def test_scalar_recurrence_says_the_new_weight_and_the_factor_it_gives():
    widget = ScalarRecurrence(w=1.1, steps=100)
    widget.update()
    widget.controls["w"].value = 0.9
    factor = theory.scalar_jacobians(0.9, 100)[-1]
    assert line(widget) == (
        f"weight w = 0.9 → after T = 100 steps the factor |w|^T = {factor:.3g}: the gradient shrinks (×0.90 per step)"
    )


def test_matrix_recurrence_says_the_measured_norm_and_the_linear_prediction():
    widget = MatrixRecurrence(rho=1.5, activation="tanh", input_scale=0.1, steps=100)
    widget.update()
    widget.controls["activation"].value = "linear"
    measured = float(widget.line.get_ydata()[-1])
    assert line(widget) == (
        f"σ = linear → linear, ρ = 1.50: after T = 100 steps ‖∂h_T/∂h_0‖ = {measured:.3g} (it grows); "
        f"the linear prediction ρ^T = {1.5**100:.3g}"
    )
    np.testing.assert_allclose(measured, 1.5**100, rtol=1e-6)  # orthogonal times ρ: exactly ρ^k


@pytest.fixture(scope="module")
def rnn_plot():
    plot = GradientNormsPlot(units=8, batch=4, max_length=60, rho=1.1, length=20)
    plot.update()
    return plot


def test_rnn_plot_says_how_the_gradient_changes_on_its_way_back(rnn_plot):
    rnn_plot.controls["rho"].value = 0.8
    hidden = rnn_plot.result.hidden
    assert line(rnn_plot) == (
        f"spectral radius ρ = 0.8 → SimpleRNN, linear, ρ = 0.80: the gradient that reaches step 1 is "
        f"{hidden[0] / hidden[-1]:.3g} × the one at step T = 20 (it shrinks on the way back); "
        f"the prediction ρ^(T−1) = {0.8**19:.3g}"
    )
    rnn_plot.controls["cell"].value = "GRU"  # a dropdown: its label, and no linear prediction
    assert line(rnn_plot).startswith(
        "cell = GRU → GRU, linear, ρ = 0.80: the gradient that reaches step 1 is "
    )
    assert "prediction" not in line(rnn_plot)
    rnn_plot.controls["cell"].value = "SimpleRNN"


def test_rnn_plot_models_are_shared_by_instances(rnn_plot):
    """Re-running the widget's cell makes a new plot: it reuses the models (and their compiled measurement)."""
    again = GradientNormsPlot(units=8, batch=4, max_length=60, rho=1.1, length=20)
    assert again.model("SimpleRNN", "linear") is rnn_plot.model("SimpleRNN", "linear")


def test_clipping_geometry_says_both_lengths_and_the_turn():
    widget = ClippingGeometry(length=2.5, angle=30.0, threshold=1.0)
    widget.update()
    widget.controls["threshold"].value = 0.5
    lengths, turn = widget.result["lengths"], widget.result["angle_change"]
    assert lengths["norm"] == pytest.approx(0.5)
    assert line(widget) == (
        f"threshold c = 0.5 → ‖g‖ = 2.50, c = 0.50: norm clipping keeps the direction at length 0.50; "
        f"value clipping gives length {lengths['value']:.2f} and turns g by {turn:.1f}°"
    )


def test_cliff_descent_says_steps_losses_and_clipped_updates():
    widget = CliffDescent(learning_rate=0.5, threshold=1.0, steps=40)
    widget.update()
    widget.controls["threshold"].value = 2.0
    free, clipped = widget.runs["unclipped"], widget.runs["clipped"]
    assert line(widget) == (
        f"threshold c = 2 → η = 0.5, c = 2: longest step unclipped {free.step_sizes.max():.3g}, clipped "
        f"{clipped.step_sizes.max():.3g}; final loss unclipped {free.losses[-1]:.3g}, clipped "
        f"{clipped.losses[-1]:.3g}"
    )
    assert widget.message.value.startswith(
        f"{int(clipped.clipped.sum())} of 40 clipped updates were shortened"
    )
    assert clipped.step_sizes.max() <= 0.5 * 2.0 + 1e-9  # the clipped step is at most η·c


def test_threshold_explorer_says_the_threshold_and_the_steps_it_clips():
    norms = np.exp(np.random.default_rng(0).normal(0.0, 0.4, 400))
    widget = ThresholdExplorer(norms, recipe="percentile", percentile=90.0)
    widget.update()
    widget.controls["percentile"].value = 75.0
    c = float(np.percentile(norms, 75.0))
    clipped = int(np.sum(norms > c))
    assert line(widget) == (
        f"percentile = 75 → c = percentile 75 = {c:.3g} would clip {clipped} of 400 steps "
        f"({clipped / 400:.1%}) of the recorded run"
    )
    widget.controls["recipe"].value = "median"
    assert line(widget).startswith(
        f"recipe = multiple of the median → c = 1 × median = {np.median(norms):.3g}"
    )


def test_lab_says_the_setting_its_loss_over_seeds_and_the_clipped_fraction():
    train = data.load_fashion_mnist()[0]
    lab = ClippingLab(
        train,
        steps=40,
        chunk=20,
        mode="global_norm",
        threshold=1.0,
        learning_rate=1.0,
        background=False,
    )
    lab.update()
    lab.controls["threshold"].value = 0.1
    setting = lab.trainer.setting("global_norm", 0.1, 1.0)
    runs = lab.trainer.seed_histories(setting)
    losses = np.array([h.final_loss(lab.window) for h in runs])
    clipped = 100 * np.mean([h.clipped_fraction for h in runs])
    text = line(lab)
    assert text.startswith(
        f"threshold c = 0.1 → {setting.label}: final loss {losses.mean():.3g} ± "
    )
    assert f"(mean ± sd, 3 seeds), {clipped:.0f} % of steps clipped; no clipping: " in text
    assert text.endswith(" of 3 seeds") and "\n" not in text
