"""The notebooks' prose held to their executed outputs: every sentence that states an outcome (lower, wider, clips
most steps, learned, diverged …) has a printed line it stands on, and ``tests/claims_NN.py`` checks each against
what notebook NN printed (``check(outputs) -> broken claims``). A claim the numbers stop carrying fails here, with
the sentence and the printed numbers.

Executed notebooks come from, in this order:

1. the folder in ``$CLAIMS_NOTEBOOKS`` (for instance notebooks executed with full-size data:
   ``python benchmarks/notebook_memory.py --keep-executed DIR``);
2. ``build/jupyter_execute/notebooks/``, which the book build leaves (CI builds the book before the tests).

Without either, this test fails under CI (``CI`` set) and is skipped elsewhere: build the book first (README).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import nbformat
import pytest
from notebook_outputs import printed

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
BOOK_EXECUTED = ROOT / "build" / "jupyter_execute" / "notebooks"


def executed_folder() -> Path | None:
    folder = os.environ.get("CLAIMS_NOTEBOOKS")
    if folder:
        return Path(folder)
    return BOOK_EXECUTED if BOOK_EXECUTED.is_dir() else None


@pytest.fixture(scope="module")
def folder():
    found = executed_folder()
    if found is None:
        message = "no executed notebooks: build the book (README) or set CLAIMS_NOTEBOOKS"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem[:2] for p in NOTEBOOKS])
def test_prose_is_carried_by_the_printed_numbers(folder, path):
    executed = folder / path.name
    assert executed.is_file(), f"{executed} is missing: every notebook must be executed"
    claims = importlib.import_module(f"claims_{path.stem[:2]}")
    broken = claims.check(printed(nbformat.read(executed, as_version=4)))
    assert not broken, "claims the printed numbers no longer carry:\n" + "\n".join(broken)


def test_every_notebook_has_its_claims():
    for path in NOTEBOOKS:
        assert (ROOT / "tests" / f"claims_{path.stem[:2]}.py").is_file(), (
            f"{path.name} has no tests/claims_NN.py"
        )


def test_the_book_builds_duplicated_stream_chunks_are_read_once():
    """MyST-NB merges a cell's stdout chunks into the first in place and keeps the rest (``notebook_outputs``)."""
    chunks = ["line 1\n", "line 2\n", "line 3\n"]
    plain = {
        "cells": [
            {"outputs": [{"output_type": "stream", "name": "stdout", "text": c} for c in chunks]}
        ]
    }
    merged = {
        "cells": [
            {
                "outputs": [{"output_type": "stream", "name": "stdout", "text": "".join(chunks)}]
                + plain["cells"][0]["outputs"][1:]
            }
        ]
    }
    assert printed(plain) == printed(merged) == "line 1\nline 2\nline 3\n"
