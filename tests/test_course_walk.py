"""The course walked as a learner on Binder walks it, in short (``benchmarks/course_walk.py`` walks all six notebooks
with full-size data and takes minutes).

One JupyterLab server set up as Binder's image is (``binder/postBuild`` run in a fresh temporary HOME), Debian's
Chromium driven by Playwright, the 1,000-image subset. The two cheapest notebooks, 01 and 03, each opened from the
file browser, run (Run All Cells) and closed: 01 the way its *What's next* says (File → Close and Shut Down
Notebook), 03 by its tab's close button (what the image's ``kernelShutdown`` setting acts on; JupyterLab's own
default keeps the kernel). Each kernel must be gone from the server and its process ended within
``GONE_WITHIN_S`` of closing, no cell may raise, at most two kernels may be alive at any time, and the session's
memory (sum of the proportional set sizes of the server and its kernels) must stay under Binder's 2,000 MB.

Chromium or Playwright missing: a failure under CI (``CI`` set), a skip elsewhere.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["01", "03"]
CLOSES = ["menu", "tab"]


def _course_walk():
    """benchmarks/course_walk.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    if "course_walk" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "course_walk", ROOT / "benchmarks" / "course_walk.py"
        )
        sys.modules["course_walk"] = importlib.util.module_from_spec(
            spec
        )  # dataclasses look their module up
        spec.loader.exec_module(sys.modules["course_walk"])
    return sys.modules["course_walk"]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(
            f"{reason} (CI must run the browser tests: .ci/run installs Chromium, requirements-dev.txt has it)"
        )
    pytest.skip(reason)


@pytest.mark.browser
def test_two_notebooks_open_run_close_and_their_kernels_are_gone():
    walk = _course_walk()
    if not walk.CHROMIUM.exists():
        _unavailable(f"{walk.CHROMIUM} is missing (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        _unavailable("playwright is not installed")
    printed = io.StringIO()
    result = walk.walk(walk.notebook_paths(NOTEBOOKS), data="cache", close=CLOSES, out=printed)
    report = printed.getvalue()
    assert [step.notebook[:2] for step in result.steps] == NOTEBOOKS, report
    for step, how in zip(result.steps, CLOSES):
        assert not step.error, f"{step.notebook}: {step.error}\n{report}"
        assert step.gone_after_s is not None, (
            f"{step.notebook}: kernel still alive after closing by {how}\n{report}"
        )
        assert step.kernels_after == 0, report
        assert step.kernel_pid is not None and step.kernel_peak_mb > 300, (
            f"no real TensorFlow kernel seen:\n{report}"
        )
    assert result.max_kernels == 1, f"one notebook at a time, one kernel at a time:\n{report}"
    assert walk.LIMIT_MB > result.peak_mb > result.start_mb > 0, report
    assert result.samples > 50, f"the session was sampled {result.samples} times only"
    assert not result.problems(), report
    assert f"{NOTEBOOKS[-1]} |" in walk.table(result) and "kernel gone" in report


def test_bad_arguments_are_refused_before_anything_starts():
    walk = _course_walk()
    with pytest.raises(ValueError, match="notebook '07' is not one of 01_"):
        walk.notebook_paths(["07"])
    paths = walk.notebook_paths(["1", "03_how_clipping_works.ipynb"])
    assert [p.name[:2] for p in paths] == ["01", "03"]
    with pytest.raises(ValueError, match="close must be one of"):
        walk.walk(paths, close=["menu"])
    with pytest.raises(ValueError, match="close must be one of"):
        walk.walk(paths, close="window")
    with pytest.raises(ValueError, match="data must be 'full' or 'cache'"):
        walk.walk(paths, data="huge")
