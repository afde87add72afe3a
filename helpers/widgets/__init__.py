"""Figures that update in place, wired to ipywidgets controls: every lesson's interactive figure is a ``LivePlot``
(``live_plot``) with sliders from ``controls``.

One submodule per notebook holds that lesson's widgets: ``recurrence`` (01), ``rnn`` (02), ``clipping`` (03),
``lab`` (04) and ``thresholds`` (05).
"""

from helpers.widgets.controls import float_slider, int_slider, log_slider
from helpers.widgets.live_plot import DPI, STATIC_ENV, LivePlot, drawing_order

__all__ = [
    "DPI",
    "STATIC_ENV",
    "LivePlot",
    "drawing_order",
    "float_slider",
    "int_slider",
    "log_slider",
]
