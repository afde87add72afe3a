"""helpers.student_copy: the notebooks without their solution cells (and, asked, without the checks), every other
cell unchanged; bad paths are refused with a message, the originals are never overwritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.student_copy import CHECK_LINE, student_notebook, write_copies

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


def _tags(cell) -> list:
    return cell.metadata.get("tags", [])


def _kept(path: Path, checks: bool) -> list:
    """The original cells a student copy keeps, in order."""
    cells = nbformat.read(path, as_version=4).cells
    return [c for c in cells if "solution" not in _tags(c) and (checks or "check" not in _tags(c))]


@pytest.mark.parametrize("checks", [True, False], ids=["with checks", "without checks"])
def test_a_copy_drops_the_solutions_and_keeps_everything_else(tmp_path, checks):
    written = write_copies(ROOT / "notebooks", tmp_path, checks=checks)
    assert [p.name for p in written] == [
        p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
    ]
    for path in NOTEBOOKS:
        copy = nbformat.read(tmp_path / path.name, as_version=4)
        nbformat.validate(copy)
        assert not [c for c in copy.cells if "solution" in _tags(c)]
        assert (
            bool([c for c in copy.cells if "check" in _tags(c)]) == checks
        )  # every notebook has checked exercises
        kept = _kept(path, checks)
        assert [c.id for c in copy.cells] == [c.id for c in kept]
        for original, copied in zip(kept, copy.cells, strict=True):
            assert original.metadata == copied.metadata
            if checks or CHECK_LINE not in original.source:
                assert original.source == copied.source, original.id
            else:  # the exercise without its "Check it" line, as it read before the checks
                assert CHECK_LINE not in copied.source and copied.source.rstrip() == copied.source
                assert original.source.startswith(copied.source)
                assert original.source[len(copied.source) :].lstrip().startswith(CHECK_LINE)


def test_check_cells_lose_their_outputs_other_cells_keep_theirs():
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    printed = nbformat.v4.new_output("stream", name="stdout", text="Correct (to within 0.1 %).\n")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [printed], 1
    copy = student_notebook(notebook)
    checks = [c for c in copy.cells if "check" in _tags(c)]
    assert checks and all(c.outputs == [] and c.execution_count is None for c in checks)
    others = [c for c in copy.cells if c.cell_type == "code" and "check" not in _tags(c)]
    assert all(c.outputs == [printed] for c in others)


def test_one_notebook_can_be_copied(tmp_path):
    (written,) = write_copies(NOTEBOOKS[2], tmp_path / "new" / "folder")
    assert written == tmp_path / "new" / "folder" / NOTEBOOKS[2].name and written.is_file()


def test_the_command_writes_copies_and_refuses_bad_paths(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "helpers.student_copy", *map(str, args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    done = run("notebooks", tmp_path / "out", "--no-checks")
    assert done.returncode == 0, done.stderr
    assert (
        f"wrote {tmp_path / 'out' / NOTEBOOKS[0].name} (without solutions or checks)" in done.stdout
    )
    before = NOTEBOOKS[0].read_bytes()
    for args, words in (
        (("notebooks", "notebooks"), "must not be the notebooks' own folder"),
        (("notebooks", ROOT / "notebooks" / "."), "must not be the notebooks' own folder"),
        (
            (tmp_path / "missing", tmp_path / "x"),
            "source must be a folder of notebooks or an .ipynb file",
        ),
        ((tmp_path / "out" / NOTEBOOKS[0].name, NOTEBOOKS[1]), "destination must be a folder"),
        ((tmp_path / "empty", tmp_path / "x"), "holds no .ipynb file"),
    ):
        (tmp_path / "empty").mkdir(exist_ok=True)
        failed = run(*args)
        assert (
            failed.returncode == 2 and words in failed.stderr and "Traceback" not in failed.stderr
        ), failed.stderr
    assert NOTEBOOKS[0].read_bytes() == before
