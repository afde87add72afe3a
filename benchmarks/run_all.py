"""One command for the whole collection's performance, as a markdown report.

1. Every notebook executed headless in its own fresh kernel, with full-size Fashion-MNIST (``notebook_memory.py``'s
   measurement, data made offline from ``../shared`` or the Keras cache): wall time and peak kernel memory; limits
   60 s and 1,150 MB. Then notebooks 04 and 05 run at the same time in one JupyterLab server: the peak of the server
   plus both kernels; limit 2000 MB (Binder's memory).
2. The trainer ratios of notebook 04 (``trainer_speed.py``): instrumented loop vs ``model.fit``, 8 settings vs 1 fit.
3. One uncached update of notebook 04's lab against one ``model.fit`` run (``lab_update.py``).
4. Widget update times (``widget_update_rnn.py``: one update of notebook 02's widget for T = 50, 100, 200;
   ``widget_update_thresholds.py``: one update of notebook 05's widget).

Prints the report and writes it to ``benchmarks/results/performance.md``. The machine is shared and noisy: compare
ratios measured side by side, not absolute times across runs.

Usage: python benchmarks/run_all.py
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_memory  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TIME_LIMIT_S = 60.0
SCRIPTS = (
    "trainer_speed.py",
    "lab_update.py",
    "widget_update_rnn.py",
    "widget_update_thresholds.py",
)


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, {memory:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def run_script(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(HERE / name)], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    text = result.stdout.strip()
    if result.returncode != 0:
        text += f"\n(exit code {result.returncode})\n{result.stderr.strip()[-2000:]}"
    return text


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    home = notebook_memory.prepare_keras_home("full")
    try:
        results = []
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            print(f"running {path.name} ...", file=sys.stderr, flush=True)
            results.append(notebook_memory.measure(path, timeout=600))
        pair_paths = [ROOT / "notebooks" / name for name in notebook_memory.PAIR]
        print("running notebooks 04 and 05 together ...", file=sys.stderr, flush=True)
        pair = notebook_memory.measure_together(pair_paths, timeout=600)
        sections = [
            f"# Performance\n\nMeasured on: {machine()}, full-size Fashion-MNIST (60,000 + 10,000 images).\n",
            "## Notebooks, each alone in a fresh kernel\n",
            notebook_memory.table(results),
            "\n## Two notebooks open at once in one JupyterLab server\n",
            notebook_memory.together_table(pair),
        ]
        for result in results:
            sections += ["", notebook_memory.cell_table(result, top=3)]
        for name in SCRIPTS:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            sections += [f"\n## `benchmarks/{name}`\n", "```", run_script(name), "```"]
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    report = "\n".join(sections) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "performance.md").write_text(report)
    print(report)
    ok = all(
        not r.error and r.peak_mb < notebook_memory.LIMIT_MB and r.seconds < TIME_LIMIT_S
        for r in results
    )
    ok = ok and not any(pair.errors) and pair.peak_mb < notebook_memory.PAIR_LIMIT_MB
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
