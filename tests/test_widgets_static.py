"""The book's static widget mode (``HELPERS_STATIC_WIDGETS=1``, set by conf.py): every interactive figure shows a PNG
of its initial state and one line saying where it is interactive, and no widget view, empty box or ``VBox(...)``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from IPython.utils.capture import capture_output

import helpers.widgets
from helpers.widgets import STATIC_ENV, LivePlot
from helpers.widgets.clipping import ClippingGeometry
from helpers.widgets.recurrence import MatrixRecurrence, ScalarRecurrence
from helpers.widgets.thresholds import ThresholdExplorer

PNG = b"\x89PNG\r\n\x1a\n"


def _widget_classes() -> list[type]:
    classes = []
    for module in pkgutil.iter_modules(helpers.widgets.__path__):
        mod = importlib.import_module(f"helpers.widgets.{module.name}")
        classes += [
            c
            for _, c in inspect.getmembers(mod, inspect.isclass)
            if issubclass(c, LivePlot) and c is not LivePlot and c.__module__ == mod.__name__
        ]
    return classes


def test_every_widget_class_goes_through_the_static_hook():
    """No widget class (ClippingLab, ThresholdExplorer, ... every LivePlot subclass) replaces the display hook."""
    classes = _widget_classes()
    names = {c.__name__ for c in classes}
    assert {"ClippingLab", "ThresholdExplorer", "ScalarRecurrence", "GradientNormsPlot"} <= names
    for cls in classes:
        assert cls._ipython_display_ is LivePlot._ipython_display_, cls.__name__


@pytest.mark.parametrize(
    "make",
    [
        lambda: ScalarRecurrence(),
        lambda: MatrixRecurrence(),
        lambda: ClippingGeometry(),
        lambda: ThresholdExplorer(np.random.default_rng(0).lognormal(size=200)),
    ],
    ids=["ScalarRecurrence", "MatrixRecurrence", "ClippingGeometry", "ThresholdExplorer"],
)
def test_static_mode_shows_png_and_one_line(make, monkeypatch):
    InteractiveShell.instance()
    monkeypatch.setenv(STATIC_ENV, "1")
    widget = make()
    with capture_output() as captured:
        display(widget)
    data = [output.data for output in captured.outputs]
    assert len(data) == 2, data
    assert data[0]["image/png"][:8] == PNG or data[0]["image/png"].startswith(
        "iVBOR"
    )  # raw or base64
    assert (
        "JupyterLab or on Binder" in data[1]["text/plain"]
        and "static-widget-note" in data[1]["text/html"]
    )
    assert not any("application/vnd.jupyter.widget-view+json" in d for d in data)
    assert not any("VBox(" in str(d) or "HBox(" in str(d) for d in data)
    for name in widget.controls:  # the line names every control the reader could change
        assert (widget.controls[name].description or name) in data[1]["text/plain"]


def test_without_the_variable_the_widget_is_live(monkeypatch):
    InteractiveShell.instance()
    monkeypatch.delenv(STATIC_ENV, raising=False)
    with capture_output() as captured:
        display(ScalarRecurrence())
    assert any(
        "application/vnd.jupyter.widget-view+json" in output.data for output in captured.outputs
    )
