"""Time one update of notebook 05's widget (``helpers.widgets.thresholds.ThresholdExplorer``), as a student sees it.

One update = the percentile slider released → the threshold recomputed, the histogram bars and the trace's marks
updated in place, the figure rendered to PNG (``LivePlot.png``). Printed beside it, in the same run and interleaved:
``Figure.savefig`` of the same figure, a fixed amount of drawing that shows how fast the machine is at the moment
(since the widget blits, savefig skips its animated artists: compare the ratio between runs of the same code; to
compare two versions of the code, use ``compare_commits.py``, which runs them in turn). Recorded
norms: 2,500 steps, log-normal (a run's pre-clip norms are spread over decades). Target: well under 0.2 s.

Run: ``python benchmarks/widget_update_thresholds.py [repeats]`` (prints, asserts nothing; timings on a shared
machine are noisy, compare the ratio).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time

os.environ.setdefault(
    "TF_CPP_MIN_LOG_LEVEL", "2"
)  # before TensorFlow is imported (helpers does not set them)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

from helpers.widgets.thresholds import ThresholdExplorer  # noqa: E402


def main(repeats: int = 15) -> None:
    norms = np.exp(np.random.default_rng(0).normal(0.0, 1.0, 2500))
    explorer = ThresholdExplorer(norms)
    explorer.png()  # warm: fonts, layout
    update, savefig = [], []
    for i in range(repeats):
        started = time.perf_counter()
        with contextlib.redirect_stdout(
            io.StringIO()
        ):  # outside a notebook, display() prints a repr
            explorer.controls["percentile"].value = (
                50.0 + i
            )  # runs draw() and render(), as a released slider does
        update.append(time.perf_counter() - started)
        started = time.perf_counter()
        explorer.figure.savefig(io.BytesIO(), format="png", dpi=explorer.dpi)
        savefig.append(time.perf_counter() - started)
    a, b = statistics.median(update), statistics.median(savefig)
    print(f"ThresholdExplorer, 2,500 recorded norms, median of {repeats} interleaved repeats:")
    print(
        f"  one update (draw + LivePlot.png)   {a * 1e3:6.0f} ms  {'under' if a < 0.2 else 'OVER'} 0.2 s"
    )
    print(
        f"  Figure.savefig of the same figure  {b * 1e3:6.0f} ms  ratio update / savefig: {a / b:.2f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
