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

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MASKS = [
    (re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\s?(?:ms|s|sec|seconds|min)\b"), "<duration>"),
    (re.compile(r"0x[0-9a-f]{6,}"), "<address>"),
]


def _folded_answer(output) -> bool:
    """A solution's output from helpers.answers.folded (its text/plain holds the printed answer)."""
    return output["output_type"] == "display_data" and output["data"].get("text/html", "").startswith("<details>")


def printed_text(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources).execute()
    texts = []
    for index, cell in enumerate(notebook.cells):
        # A cell's stdout can arrive in differently split chunks: join them before comparing.
        text = "".join(
            output["text"] if output["output_type"] == "stream" else output["data"].get("text/plain", "")
            for output in cell.get("outputs", [])
            if (output["output_type"] == "stream" and output["name"] == "stdout")
            or output["output_type"] == "execute_result"
            or _folded_answer(output)
        )
        for pattern, mask in MASKS:
            text = pattern.sub(mask, text)
        if text:
            texts.append(f"[cell {index}] {text}")
    return texts

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_prints_the_same_numbers_twice(path):
    first = printed_text(path)
    second = printed_text(path)
    assert first, f"{path.name} printed nothing to compare"
    assert first == second
