"""The README's two commands are the ones CI runs, verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND='(.+)'$", ci, re.MULTILINE).group(1)
    readme = (ROOT / "README.md").read_text()
    assert f"\n{command}\n" in readme
    assert command.endswith("&& pytest")


def test_readme_lab_command_opens_the_first_notebook():
    readme = (ROOT / "README.md").read_text()
    first = sorted((ROOT / "notebooks").glob("01_*.ipynb"))[0].relative_to(ROOT)
    assert f"pip install -r requirements.txt && jupyter lab {first}\n" in readme


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"(notebooks/{notebook.name})" in readme, notebook.name
