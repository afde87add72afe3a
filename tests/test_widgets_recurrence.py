"""Notebook 01's widgets, driven as a student would: set a control's value, the figure's data changes."""

import numpy as np
import pytest
from matplotlib.text import Text

from helpers import theory
from helpers.widgets.recurrence import MatrixRecurrence, ScalarRecurrence, log_limits


def smallest_text_px(widget) -> float:
    """The smallest visible text of the widget's rendered figure, in pixels at 100 % zoom (pt · dpi / 72)."""
    widget.png()  # draws the figure, ticks included
    sizes = [
        t.get_fontsize()
        for t in widget.figure.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return min(sizes) * widget.dpi / 72


def assert_limits_hold(ax, *lines):
    """The y-limits of a log axis contain every positive value of ``lines``."""
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in lines])
    values = values[np.isfinite(values) & (values > 0)]
    low, high = ax.get_ylim()
    assert low <= values.min() and values.max() <= high


def test_scalar_recurrence_follows_w_and_steps():
    widget = ScalarRecurrence(w=1.1, steps=100)
    widget.update()
    np.testing.assert_allclose(widget.line.get_ydata(), 1.1 ** np.arange(101))
    widget.controls["w"].value = 0.8
    np.testing.assert_allclose(widget.line.get_ydata(), 0.8 ** np.arange(101))
    widget.controls["steps"].value = 200
    assert len(widget.line.get_xdata()) == 201
    assert widget.updates == 3


def test_scalar_recurrence_limits_follow_the_data():
    widget = ScalarRecurrence(w=1.1, steps=100)
    widget.update()
    widget.controls["steps"].value = 300
    widget.controls["w"].value = 0.55  # 0.55^300 ≈ 1.3e-78, far below the old fixed floor of 1e-30
    assert widget.line.get_ydata()[-1] == pytest.approx(0.55**300)
    assert_limits_hold(widget.ax, widget.line, *widget.references)
    assert widget.ax.get_ylim()[0] < 1e-78
    assert f"{0.55**300:.3g}" in widget.ax.get_title()
    widget.controls["w"].value = 1.5  # and the top: 1.5^300 ≈ 1.4e52
    assert_limits_hold(widget.ax, widget.line, *widget.references)


def test_matrix_recurrence_follows_every_control():
    widget = MatrixRecurrence(rho=1.2, activation="linear", steps=50)
    widget.update()
    np.testing.assert_allclose(
        widget.line.get_ydata(), 1.2 ** np.arange(51), rtol=1e-9
    )  # orthogonal: exactly rho^k
    before = widget.line.get_ydata().copy()
    widget.controls["activation"].value = "tanh"
    assert widget.line.get_ydata()[-1] < before[-1]  # saturation can only shrink the product
    widget.controls["rho"].value = 0.8
    assert widget.line.get_ydata()[-1] < 1e-4
    widget.controls["steps"].value = 100
    assert len(widget.line.get_ydata()) == 101
    assert_limits_hold(widget.ax, widget.line, widget.prediction)


def test_matrix_recurrence_input_scale_decides_for_tanh():
    widget = MatrixRecurrence(rho=1.5, activation="tanh", steps=100, input_scale=0.1)
    widget.update()
    assert widget.controls["input_scale"].disabled is False
    small = widget.line.get_ydata()[-1]
    matrix = theory.matrix_with_spectral_radius(1.5, 32)
    assert small == pytest.approx(
        theory.recurrent_jacobian_norms(matrix, 100, "tanh", input_scale=0.1)[-1]
    )
    widget.controls["input_scale"].value = 1.0
    large = widget.line.get_ydata()[-1]
    assert small > 1.0 > large  # grows with small inputs, vanishes with saturating ones
    assert_limits_hold(widget.ax, widget.line, widget.prediction)
    widget.controls["activation"].value = "linear"
    assert widget.controls["input_scale"].disabled is True  # no effect on a linear recurrence
    assert "s =" not in widget.ax.get_title()


def test_controls_report_on_release():
    for widget in (ScalarRecurrence(), MatrixRecurrence()):
        for control in widget.controls.values():
            assert getattr(control, "continuous_update", False) is False


def test_text_is_at_least_12_px():
    for widget in (ScalarRecurrence(w=0.55, steps=300), MatrixRecurrence(activation="tanh")):
        widget.update()
        assert smallest_text_px(widget) >= 12


def test_log_limits():
    assert log_limits(np.array([1e-80, 1.0, np.inf, 0.0, np.nan, 10.0])) == pytest.approx(
        (1e-80 / 3, 30.0)
    )
    assert log_limits(np.array([0.0, np.nan])) == (0.1, 10.0)  # nothing drawable: a neutral decade


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ScalarRecurrence(w=2.0), "w"),
        (lambda: ScalarRecurrence(w=float("nan")), "w"),
        (lambda: ScalarRecurrence(steps=5), "steps"),
        (lambda: ScalarRecurrence(steps=400), "steps"),
        (lambda: MatrixRecurrence(rho=0.1), "rho"),
        (lambda: MatrixRecurrence(activation="relu"), "activation"),
        (lambda: MatrixRecurrence(steps=0), "steps"),
        (lambda: MatrixRecurrence(size=0), "size"),
        (lambda: MatrixRecurrence(input_scale=0.0), "input_scale"),
        (lambda: MatrixRecurrence(input_scale=100.0), "input_scale"),
    ],
)
def test_bad_arguments_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_slider_value_is_refused_by_the_control():
    widget = ScalarRecurrence()
    with pytest.raises(Exception):  # noqa: B017 - traitlets raises TraitError for a value of the wrong type
        widget.controls["steps"].value = "many"
