"""``LivePlot``: a figure that updates in place, wired to ipywidgets controls (every lesson's interactive figure)."""

from __future__ import annotations

import base64
import html
import io
import os
import threading

import ipywidgets as W
import numpy as np
import PIL.Image
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers import figures

__all__ = ["DPI", "STATIC_ENV", "LivePlot", "drawing_order"]

#: Resolution of every LivePlot figure: text of 8 pt (the smallest the widgets use) is 13 px at 100 % zoom.
DPI = 120
#: Set to "1" by the book build (conf.py): widgets show a static image of their initial state instead of controls.
STATIC_ENV = "HELPERS_STATIC_WIDGETS"


def drawing_order(ax, artists: list) -> list:
    """Mark ``artists`` of ``ax`` animated and return them in the order a whole draw paints them (z-order, then as
    ``ax`` holds them), so that blitting them (``LivePlot.png``) gives the same pixels."""
    children = ax.get_children()
    for artist in artists:
        artist.set_animated(True)
    return sorted(artists, key=lambda artist: (artist.get_zorder(), children.index(artist)))


class LivePlot:
    """Controls above a matplotlib ``Figure`` (not registered with pyplot, so never shown twice) that is redrawn
    whenever a control's ``value`` changes.

    Subclasses set up their axes in ``__init__`` (after ``super().__init__``) and implement ``draw(**values)``, and
    ``summary()``: what the figure shows, in words and numbers computed from what was drawn. ``caption``, the line under
    the figure, says after every update which control changed to what and that summary (``caption_text``), so the
    figure's message does not depend on seeing it.

    Blitting: a subclass whose updates change only a few artists marks them animated (``drawing_order``) and lists
    them in ``self.animated``; ``png`` then draws the rest once (again when ``background_key()`` changes) and only
    those artists over it (``figure.savefig`` skips animated artists: save ``png()``). ``self.lock`` guards the figure
    when a subclass draws from another thread.

    Args:
        controls: the controls by name, the names of ``draw``'s arguments.
        nrows, ncols: the grid of axes (``self.axes``, flattened).
        figsize: in inches.
    """

    def __init__(
        self, controls: dict[str, W.ValueWidget], nrows: int = 1, ncols: int = 1, figsize=(9.0, 3.0)
    ):
        self.controls = dict(controls)
        self.figure = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        self.axes = np.atleast_1d(self.figure.subplots(nrows, ncols)).ravel()
        self.output = W.Output()
        self.message = W.HTML()
        self.caption = W.HTML(layout=W.Layout(margin="0 0 0 8px"))
        self.changed: str | None = (
            None  # the name of the control changed last (None before any change)
        )
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        row = W.HBox(
            list(self.controls.values()), layout=W.Layout(flex_flow="row wrap")
        )  # wrap rather than squeeze
        self.widget = W.VBox([row, self.message, self.output, self.caption])
        self.updates = 0
        self.dpi = DPI
        self.animated: list = []
        self.lock = threading.RLock()
        self._background = self._background_key = None

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def draw(self, **values) -> None:  # pragma: no cover - every subclass implements it
        raise NotImplementedError

    def describe(self) -> str:
        """The figure as drawn, in one or two sentences with its numbers: the alt text of its static image."""
        raise NotImplementedError(
            f"{type(self).__name__} must say what its figure shows (describe)"
        )

    def summary(self) -> str:
        """What the figure shows now, in words and numbers (each subclass says it from what ``draw`` computed)."""
        return ""

    def describe_control(self, name: str) -> str:
        """``"description = value"`` of the control ``name`` as it reads on screen (a dropdown's label, 3 digits)."""
        control = self.controls[name]
        value = (
            getattr(control, "label", None)
            if isinstance(control, W.widgets.widget_selection._Selection)
            else None
        )
        if value is None:
            value = control.value
            value = f"{value:.3g}" if isinstance(value, float) else str(value)
        return f"{control.description or name} = {value}"

    def caption_text(self) -> str:
        """The line under the figure: the control changed last and its new value, then ``summary()``."""
        summary = self.summary()
        return (
            f"{self.describe_control(self.changed)} → {summary}"
            if self.changed is not None
            else summary
        )

    def update(self) -> None:
        """Redraw the figure for the controls' current values, show it in place and say what it shows."""
        self.draw(**self.values())
        self.updates += 1
        self.render()
        self.caption.value = html.escape(self.caption_text())

    def background_key(self):
        """What the blitted background depends on (e.g. axis limits): when it changes, ``png`` redraws it."""
        return None

    def png(self) -> bytes:
        """The figure as PNG bytes at ``self.dpi``: one Agg draw or a blit (``savefig`` would draw twice)."""
        with self.lock:
            if self.figure.dpi != self.dpi:
                self.figure.set_dpi(self.dpi)
                self._background = None
            canvas = self.figure.canvas
            if not isinstance(canvas, FigureCanvasAgg):
                canvas = FigureCanvasAgg(self.figure)  # attaches itself to the figure: made once
            key = self.background_key()
            if self.animated and self._background is not None and key == self._background_key:
                canvas.restore_region(self._background)
            else:
                canvas.draw()  # skips the animated artists
                if self.animated:
                    self._background, self._background_key = (
                        canvas.copy_from_bbox(self.figure.bbox),
                        key,
                    )
            for artist in self.animated:
                if artist.get_visible():
                    self.figure.draw_artist(artist)
            buffer = io.BytesIO()
            PIL.Image.fromarray(np.asarray(canvas.buffer_rgba())).save(
                buffer, format="png", compress_level=1
            )  # fast
            return buffer.getvalue()

    def render(self) -> None:
        """Replace the output area's contents by ``png()`` (safe from another thread, unlike ``with self.output:``;
        IPython's figure formatter would print ``<Figure ...>`` for a widget shown before pyplot chose a backend)."""
        data = {
            "image/png": base64.b64encode(self.png()).decode("ascii"),
            "text/plain": f"<{type(self).__name__}>",
        }
        self.output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

    def _on_change(self, change) -> None:
        self.changed = self._name(change)
        self.update()

    def _name(self, change) -> str | None:
        """The name of the control a traitlets ``change`` comes from."""
        return next(
            (name for name, control in self.controls.items() if control is change["owner"]), None
        )

    def _ipython_display_(self) -> None:
        if os.environ.get(STATIC_ENV) == "1":
            self.show_static()
            return
        self.update()
        display(self.widget)

    def show_static(self) -> None:
        """Show the initial state for a page without a kernel (``STATIC_ENV``): the figure, described by
        ``describe()`` (its alt text in the book), and where the controls work."""
        self.draw(**self.values())
        names = ", ".join(control.description or name for name, control in self.controls.items())
        line = (
            f"Interactive figure, shown here in its initial state: open this notebook in JupyterLab or on Binder "
            f"to change {names}."
        )
        alt = self.describe()
        png = base64.b64encode(figures.with_alt(self.png(), alt)).decode("ascii")
        display({"image/png": png, "text/plain": alt}, raw=True)
        note = f'<p class="static-widget-note"><em>{html.escape(line)}</em></p>'
        if self.message.value:  # the widget's status line, e.g. "diverged at step ..."
            note = f"<p>{self.message.value}</p>{note}"
        display({"text/html": note, "text/plain": line}, raw=True)
