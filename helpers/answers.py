"""Worked answers that stay folded after *Run All* (the exercises of every notebook).

JupyterLab unfolds a cell's output whenever the cell runs, so ``jupyter.outputs_hidden`` hides an answer only until
the notebook is run. A solution cell therefore wraps its code in ``folded()``, which shows what the code prints and
draws inside a closed HTML ``<details>``; the plain-text form keeps the captured text, for nbval and tests::

    # Solution to exercise 1
    with folded():
        print(...)
"""

from __future__ import annotations

import base64
import html
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from IPython.display import display
from IPython.utils.capture import capture_output

#: The text of the clickable line above a folded answer.
SUMMARY = "Show the answer"


@contextmanager
def folded(summary: str = SUMMARY) -> Iterator[None]:
    """Capture what the block prints and displays (text, figures), then show it folded under ``summary``."""
    if not isinstance(summary, str) or not summary.strip():
        raise ValueError(f"summary must be a non-empty string, got {summary!r}")
    with capture_output(display=True) as captured:
        yield
        left_open = _open_figures_as_png()
    pngs = _pngs(captured.outputs) + left_open
    text = captured.stdout + captured.stderr
    plain = text.rstrip() + "".join(f"\n[figure {i + 1} of the answer]" for i in range(len(pngs)))
    display({"text/html": fold_html(text, pngs, summary), "text/plain": plain.strip()}, raw=True)


def fold_html(text: str, pngs: list[bytes], summary: str = SUMMARY) -> str:
    """The closed ``<details>`` block holding ``text`` (preformatted) and the PNG images ``pngs``."""
    parts = [f"<details><summary>{html.escape(summary)}</summary>"]
    if text.strip():
        parts.append(f"<pre>{html.escape(text.rstrip())}</pre>")
    for png in pngs:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<img alt="figure of the answer" src="data:image/png;base64,{data}"/>')
    parts.append("</details>")
    return "".join(parts)


def _pngs(outputs) -> list[bytes]:
    images = []
    for output in outputs:
        png = output.data.get("image/png")
        if png is not None:
            images.append(png if isinstance(png, bytes) else base64.b64decode(png))
    return images


def _open_figures_as_png() -> list[bytes]:
    """PNGs of the figures the block left open (inline backends draw them only after the cell), then closed."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return []
    images = []
    for number in plt.get_fignums():
        buffer = io.BytesIO()
        plt.figure(number).savefig(buffer, format="png", bbox_inches="tight")
        images.append(buffer.getvalue())
    plt.close("all")
    return images
