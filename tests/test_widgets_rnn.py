"""helpers.widgets.rnn.GradientNormsPlot: every control, driven in plain pytest, changes the figure's data."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.text import Text

from helpers.gradients import StepGradientNorms
from helpers.widgets import LivePlot
from helpers.widgets.rnn import GradientNormsPlot


@pytest.fixture(scope="module")
def plot():
    widget = GradientNormsPlot(units=8, batch=4, max_length=60, rho=1.1, length=20)
    widget.update()
    return widget


def _y(line):
    return np.asarray(line.get_ydata(), dtype=float).copy()


def test_is_a_live_plot_with_four_controls(plot):
    assert isinstance(plot, LivePlot)
    assert set(plot.controls) == {"rho", "length", "cell", "activation"}
    for name in ("rho", "length"):
        assert plot.controls[name].continuous_update is False
    assert plot.axes[0].get_yscale() == "log"
    assert "time step" in plot.axes[0].get_xlabel()


def test_initial_linear_simple_rnn_lies_on_the_prediction(plot):
    hidden, predicted = _y(plot.hidden_line), _y(plot.prediction_line)
    assert hidden.shape == predicted.shape == (20,)
    np.testing.assert_allclose(hidden, predicted, rtol=1e-6)
    assert "largest relative gap" in plot.message.value


def test_rho_control(plot):
    before, updates = _y(plot.hidden_line), plot.updates
    plot.controls["rho"].value = 0.8
    after = _y(plot.hidden_line)
    assert plot.updates == updates + 1
    assert not np.allclose(before, after)
    assert after[0] < after[-1]  # ρ < 1: the gradient shrinks going back in time
    np.testing.assert_allclose(
        _y(plot.prediction_line), 0.8 ** np.arange(19, -1, -1) * after[-1], rtol=1e-6
    )
    plot.controls["rho"].value = 1.1


def test_length_control(plot):
    before = _y(plot.hidden_line)
    plot.controls["length"].value = 35
    after = _y(plot.hidden_line)
    assert after.shape == (35,) and before.shape == (20,)
    np.testing.assert_array_equal(plot.hidden_line.get_xdata(), np.arange(1, 36))
    assert plot.axes[0].get_xlim()[1] > 35
    plot.controls["length"].value = 20


def test_cell_control(plot):
    before = _y(plot.hidden_line)
    assert len(plot.cell_line.get_xdata()) == 0
    plot.controls["cell"].value = "LSTM"
    assert not np.allclose(before, _y(plot.hidden_line))
    assert _y(plot.cell_line).shape == (20,)  # the cell state's own line appears
    assert len(plot.prediction_line.get_xdata()) == 0  # the ρ-law is for the SimpleRNN only
    assert "cell state" in plot.message.value
    plot.controls["cell"].value = "GRU"
    assert len(plot.cell_line.get_xdata()) == 0
    plot.controls["cell"].value = "SimpleRNN"
    np.testing.assert_allclose(
        _y(plot.hidden_line), before
    )  # the cached model gives the same numbers back


def test_activation_control(plot):
    before = _y(plot.hidden_line)
    plot.controls["activation"].value = "tanh"
    assert not np.allclose(before, _y(plot.hidden_line))
    assert len(plot.prediction_line.get_xdata()) == 0
    assert plot.prediction is None
    plot.controls["activation"].value = "linear"
    assert len(plot.prediction_line.get_xdata()) == 20


def test_models_are_built_once(plot):
    model = plot.model("SimpleRNN", "linear")
    plot.controls["rho"].value = 0.9
    assert plot.model("SimpleRNN", "linear") is model
    assert plot.controls["rho"].value == 0.9
    plot.controls["rho"].value = 1.1


def test_limits_follow_the_data_and_text_is_readable(plot):
    for rho in (0.5, 1.5):  # the smallest and the largest ρ: the curve spans many decades
        plot.controls["rho"].value = rho
        values = np.concatenate([_y(plot.hidden_line), _y(plot.prediction_line)])
        low, high = plot.axes[0].get_ylim()
        assert low <= values.min() and values.max() <= high
    plot.controls["rho"].value = 1.1
    plot.png()  # draws ticks and legend
    texts = [t for t in plot.figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert min(t.get_fontsize() for t in texts) * plot.dpi / 72 >= 12  # px at 100 % zoom
    labels = [t.get_text() for t in plot.axes[0].get_legend().get_texts()]
    assert any(
        r"\partial L/\partial h_t" in label for label in labels
    )  # mathtext, no plain-text braces


def test_overflow_message(plot):
    hidden = np.array([np.inf, 2.0, 1.0])
    result = StepGradientNorms(hidden, None, np.zeros((1, 3, 1)), None, 1.0)
    assert "not finite from step 1" in plot._summary(result, 1.5, 3, linear=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"units": 0}, ValueError, "units must be an integer >= 1"),
        ({"batch": 0}, ValueError, "batch must be an integer >= 1"),
        ({"max_length": 5}, ValueError, "max_length must be an integer >= 10"),
        ({"rho": 2.0}, ValueError, "rho must be between 0.5 and 1.5"),
        ({"length": 1}, ValueError, "length must be an integer >= 2"),
        ({"length": 300}, ValueError, "length must be at most max_length=200"),
        ({"cell": "RNN"}, ValueError, "cell must be one of"),
        ({"activation": "relu"}, ValueError, "activation must be one of"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        GradientNormsPlot(**kwargs)


def test_model_and_data_bad_input(plot):
    with pytest.raises(ValueError, match="cell must be one of"):
        plot.model("RNN", "tanh")
    with pytest.raises(ValueError, match="activation must be one of"):
        plot.model("GRU", "sigmoid")
    with pytest.raises(ValueError, match="length must be an integer >= 2"):
        plot.data(1)


def test_draw_bad_input(plot):
    with pytest.raises(ValueError, match="rho must be a positive"):
        plot.draw(rho=0.0, length=20, cell="SimpleRNN", activation="linear")
    with pytest.raises(ValueError, match="cell must be one of"):
        plot.draw(rho=1.0, length=20, cell="RNN", activation="linear")
    with pytest.raises(ValueError, match="length must be an integer >= 2"):
        plot.draw(rho=1.0, length=0, cell="SimpleRNN", activation="linear")
