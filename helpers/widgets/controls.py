"""The controls of the lessons' interactive figures: sliders that report their value on release."""

from __future__ import annotations

import math

import ipywidgets as W

__all__ = ["ON_RELEASE", "float_slider", "int_slider", "log_slider"]

#: Every slider reports its value on release (not while dragged) and shows its whole description.
ON_RELEASE = {"continuous_update": False, "style": {"description_width": "initial"}}


def float_slider(
    description: str, value: float, low: float, high: float, step: float, **kwargs
) -> W.FloatSlider:
    """A slider named ``description`` from ``low`` to ``high`` by ``step``, at ``value``, reporting on release."""
    return W.FloatSlider(
        value=value, min=low, max=high, step=step, description=description, **ON_RELEASE, **kwargs
    )


def int_slider(
    description: str, value: int, low: int, high: int, step: int = 1, **kwargs
) -> W.IntSlider:
    """The integer ``float_slider``."""
    return W.IntSlider(
        value=value, min=low, max=high, step=step, description=description, **ON_RELEASE, **kwargs
    )


def log_slider(
    description: str, value: float, low: float, high: float, step: float = 0.25
) -> W.FloatLogSlider:
    """A base-10 log ``float_slider`` (``step`` in decades)."""
    return W.FloatLogSlider(
        value=value,
        base=10,
        min=math.log10(low),
        max=math.log10(high),
        step=step,
        description=description,
        readout_format=".3g",
        **ON_RELEASE,
    )
