"""Notebook 01's widgets, driven as a student would: set a control's value, the figure's data changes."""

import numpy as np
import pytest

from helpers.widgets.recurrence import MatrixRecurrence, ScalarRecurrence


def test_scalar_recurrence_follows_w_and_steps():
    widget = ScalarRecurrence(w=1.1, steps=100)
    widget.update()
    np.testing.assert_allclose(widget.line.get_ydata(), 1.1 ** np.arange(101))
    widget.controls["w"].value = 0.8
    np.testing.assert_allclose(widget.line.get_ydata(), 0.8 ** np.arange(101))
    widget.controls["steps"].value = 200
    assert len(widget.line.get_xdata()) == 201
    assert widget.updates == 3


def test_matrix_recurrence_follows_every_control():
    widget = MatrixRecurrence(rho=1.2, activation="linear", steps=50)
    widget.update()
    np.testing.assert_allclose(widget.line.get_ydata(), 1.2 ** np.arange(51), rtol=1e-9)  # orthogonal: exactly rho^k
    before = widget.line.get_ydata().copy()
    widget.controls["activation"].value = "tanh"
    assert widget.line.get_ydata()[-1] < before[-1]  # saturation can only shrink the product
    widget.controls["rho"].value = 0.8
    assert widget.line.get_ydata()[-1] < 1e-4
    widget.controls["steps"].value = 100
    assert len(widget.line.get_ydata()) == 101


def test_controls_report_on_release():
    for widget in (ScalarRecurrence(), MatrixRecurrence()):
        for control in widget.controls.values():
            assert getattr(control, "continuous_update", False) is False


def test_bad_slider_value_is_refused_by_the_control():
    widget = ScalarRecurrence()
    with pytest.raises(Exception):  # noqa: B017 - traitlets raises TraitError for a value of the wrong type
        widget.controls["steps"].value = "many"
