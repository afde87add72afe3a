"""A student copy of the notebooks, for teachers: the same notebooks without the worked solutions.

Every cell tagged ``solution`` is removed; the check cells (tagged ``check``) stay, their outputs cleared, so learners
still get feedback from ``exercises.check``. With ``--no-checks`` the check cells go too, with the line that points to
them in each exercise (it starts with ``CHECK_LINE``). Nothing else changes: cell ids, metadata, other outputs.

    python -m helpers.student_copy notebooks/ out/              # without solutions
    python -m helpers.student_copy notebooks/ out/ --no-checks  # without solutions and checks
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

SOLUTION_TAG, CHECK_TAG = "solution", "check"
#: How an exercise's line about its check cell starts (the notebooks' convention, tests/test_exercises.py holds it).
CHECK_LINE = "*Check it:*"


def student_notebook(notebook, checks: bool = True):
    """``notebook`` (nbformat, changed in place and returned) without its solution cells, and without its check cells
    and check lines unless ``checks``; the outputs of the check cells kept are cleared."""
    kept = []
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if SOLUTION_TAG in tags or (CHECK_TAG in tags and not checks):
            continue
        if CHECK_TAG in tags:
            cell.outputs, cell.execution_count = [], None
        if cell.cell_type == "markdown" and not checks:
            cell.source = re.sub(
                rf"\n*^[ \t]*{re.escape(CHECK_LINE)}.*$", "", cell.source, flags=re.MULTILINE
            )
        kept.append(cell)
    notebook.cells = kept
    return notebook


def write_copies(source: Path, destination: Path, checks: bool = True) -> list[Path]:
    """Write the student copy of every notebook in ``source`` (a folder, or one ``.ipynb``) into ``destination`` (a
    folder, made if missing, not ``source`` itself); return the paths written."""
    source, destination = Path(source), Path(destination)
    if source.is_dir():
        notebooks = sorted(source.glob("*.ipynb"))
    elif source.suffix == ".ipynb" and source.is_file():
        notebooks = [source]
    else:
        raise ValueError(
            f"source must be a folder of notebooks or an .ipynb file, got {str(source)!r}"
        )
    if not notebooks:
        raise ValueError(f"source {str(source)!r} holds no .ipynb file")
    if destination.exists() and not destination.is_dir():
        raise ValueError(f"destination must be a folder, got the file {str(destination)!r}")
    if any(destination.resolve() == path.parent.resolve() for path in notebooks):
        raise ValueError(
            f"destination must not be the notebooks' own folder ({str(destination)!r}): the copies would "
            "overwrite the originals"
        )
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        notebook = student_notebook(nbformat.read(path, as_version=4), checks=checks)
        nbformat.validate(notebook)
        nbformat.write(notebook, destination / path.name)
        written.append(destination / path.name)
    return written


def main(argv=None) -> int:
    """The command line: ``python -m helpers.student_copy SOURCE DESTINATION [--no-checks]``."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.student_copy", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "source", type=Path, help="a folder of notebooks (e.g. notebooks/) or one .ipynb file"
    )
    parser.add_argument(
        "destination", type=Path, help="the folder to write the copies into (made if missing)"
    )
    parser.add_argument("--no-checks", action="store_true", help="remove the check cells too")
    args = parser.parse_args(argv)
    try:
        written = write_copies(args.source, args.destination, checks=not args.no_checks)
    except ValueError as error:
        parser.error(str(error))  # exits with status 2 and the usage line
    kept = "without solutions or checks" if args.no_checks else "without solutions, checks kept"
    for path in written:
        print(f"wrote {path} ({kept})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
