"""Re-execution determinism: every notebook, run twice from scratch, prints the same numbers.

Compared: everything a cell prints to stdout, every text result and every folded solution's printed answer, with
durations (a number followed by a time unit, such as ``3.2 s`` or ``41 ms``) and memory addresses masked, since
those are the only legitimate differences.
Progress bars go to stderr and widget ids are random, so neither is compared.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_outputs import cell_texts

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MASKS = [
    (re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\s?(?:ms|s|sec|seconds|min)\b"), "<duration>"),
    (re.compile(r"0x[0-9a-f]{6,}"), "<address>"),
]


def printed_text(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources).execute()
    texts = []
    for index, text in cell_texts(notebook):
        for pattern, mask in MASKS:
            text = pattern.sub(mask, text)
        texts.append(f"[cell {index}] {text}")
    return texts

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_prints_the_same_numbers_twice(path):
    first = printed_text(path)
    second = printed_text(path)
    assert first, f"{path.name} printed nothing to compare"
    assert first == second
