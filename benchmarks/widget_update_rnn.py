"""Time one update of notebook 02's widget (``helpers.widgets.rnn.GradientNormsPlot``), as a student sees it.

One update = a control released (here: ρ moved) → the per-step gradient norms measured again → the figure redrawn
and rendered to PNG (what Jupyter's inline display does). For each cell type, the first (cold) update of a fresh
widget builds the model and traces its measurement function; then, for T = 50, 100, 200, the median of a few warm
updates is printed with its ratio to the cold one. Target: a warm update for T <= 200 under 1 s on 2 cores.

Run: ``python benchmarks/widget_update_rnn.py [repeats]`` (prints, asserts nothing; timings on a shared machine are
noisy, compare the ratios).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from helpers.widgets.rnn import GradientNormsPlot  # noqa: E402

LENGTHS = (50, 100, 200)


def _timed(action, widget) -> float:
    """Seconds for ``action()`` (which triggers one update) plus rendering the figure to PNG."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # outside Jupyter, display() prints a repr
        action()
    if not hasattr(widget, "png"):  # a LivePlot that leaves the PNG to IPython: make it here
        widget.figure.savefig(io.BytesIO(), format="png")
    return time.perf_counter() - start


def main(repeats: int = 5) -> None:
    print(
        f"one widget update (measure + redraw + PNG), median of {repeats}, activation tanh, 32 units, batch 16"
    )
    print(
        f"{'cell':<10}{'cold (s)':>10}"
        + "".join(f"{f'T={t} (s)':>13}{'/cold':>7}" for t in LENGTHS)
    )
    for cell in ("SimpleRNN", "GRU", "LSTM"):
        widget = GradientNormsPlot(cell=cell, activation="tanh", length=LENGTHS[0])
        cold = _timed(widget.update, widget)
        row = f"{cell:<10}{cold:>10.3f}"
        for length in LENGTHS:
            _timed(lambda w=widget, t=length: setattr(w.controls["length"], "value", t), widget)
            times = []
            for k in range(repeats):
                rho = 1.2 if k % 2 == 0 else 1.0
                times.append(
                    _timed(lambda w=widget, r=rho: setattr(w.controls["rho"], "value", r), widget)
                )
            median = statistics.median(times)
            row += f"{median:>13.3f}{median / cold:>7.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
