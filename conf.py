"""The book: Sphinx + MyST-NB + sphinx-book-theme, built from ``notebooks/0*.ipynb`` with README.md as landing page.

Build it with the README's book command (``sphinx-build -E -W --keep-going -n -b html . build/book``; warnings are
errors). Every notebook is executed at build time. When ``../shared/datasets/fashion-mnist/`` sits beside the checkout
and ``KERAS_HOME`` is unset, the kernels read a temporary copy of it (as the tests' conftest.py does), so the build
runs offline; elsewhere Keras downloads the dataset as usual. ``HELPERS_STATIC_WIDGETS=1`` makes every interactive
figure (``helpers.widgets.LivePlot``) print its initial state as an image plus one line saying where it is interactive.
Every figure's ``<img>`` gets as alt text the description its PNG carries (``helpers.show(fig, alt=...)``,
``LivePlot.describe``; see ``helpers.figures``), instead of Sphinx's default, the image's file path.
Nothing is fetched from the network while building or reading the book: the theme comes from its pip package and
MathJax from ``sphinx-mathjax-offline``'s files; no ipywidgets JavaScript is loaded.

The repository's address lives in ONE place, ``repository-code`` in CITATION.cff; the launch and download buttons read
it here, and tests/test_book.py checks that the README's Binder badge and book link agree.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml
from docutils import nodes

from helpers.figures import alt_text

ROOT = Path(__file__).resolve().parent
CITATION = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
REPOSITORY_URL = CITATION["repository-code"].rstrip("/")  # https://github.com/<owner>/<repo>
REPOSITORY = REPOSITORY_URL.removeprefix("https://github.com/")  # <owner>/<repo>
OWNER, REPO = REPOSITORY.split("/")
BOOK_URL = (
    f"https://{OWNER.lower()}.github.io/{REPO}/"  # where .github/workflows/ci.yml publishes it
)
BINDER_URL = f"https://mybinder.org/v2/gh/{REPOSITORY}/HEAD"
SHARED_FASHION_MNIST = ROOT.parent / "shared" / "datasets" / "fashion-mnist"


def _seed_keras_home() -> None:
    """Point the kernels at a temporary copy of the shared Fashion-MNIST files (removed when the build ends)."""
    if "KERAS_HOME" in os.environ or not SHARED_FASHION_MNIST.is_dir():
        return
    home = Path(tempfile.mkdtemp(prefix="book-keras-home-"))
    target = home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True)
    for source in SHARED_FASHION_MNIST.glob("*.gz"):
        shutil.copy(source, target / source.name)
    os.environ["KERAS_HOME"] = str(home)
    atexit.register(shutil.rmtree, home, ignore_errors=True)


# The executing kernels inherit this process's environment.
_seed_keras_home()
os.environ["HELPERS_STATIC_WIDGETS"] = "1"
# tqdm.auto's progress bars (helpers.training) are ipywidgets: empty boxes on a page without a kernel. tqdm.notebook
# ignores TQDM_DISABLE, so every kernel of the build runs this IPython startup file, which hands out disabled bars.
NO_PROGRESS_BARS = """
import tqdm.auto
import tqdm.std


class _NoBar(tqdm.std.tqdm):
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


tqdm.auto.tqdm = _NoBar
"""


def _ipython_dir() -> None:
    ipython_dir = Path(tempfile.mkdtemp(prefix="book-ipython-"))
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-book-no-progress-bars.py").write_text(NO_PROGRESS_BARS, encoding="utf-8")
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    atexit.register(shutil.rmtree, ipython_dir, ignore_errors=True)


_ipython_dir()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

# -- Project --------------------------------------------------------------------------------------------------------
project = CITATION["title"]
author = ", ".join(
    a.get("name") or f"{a['given-names']} {a['family-names']}" for a in CITATION["authors"]
)
copyright = f"{author}. Text and figures: CC BY 4.0; code: MIT (see LICENSE)"

# -- Sources: the landing page and every notebook present at build time -------------------------------------------
extensions = ["myst_nb", "sphinx-mathjax-offline"]
root_doc = "index"
include_patterns = ["index.md", "notebooks/0*.ipynb"]
exclude_patterns = ["build", ".venv", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = [
    "mystnb.unknown_mime_type"
]  # none expected; listed so a new MIME type is a visible decision

# -- Execution ------------------------------------------------------------------------------------------------------
nb_execution_mode = "force"  # always execute: the pages show what the current code computes
nb_execution_timeout = 600  # seconds per cell
nb_execution_raise_on_error = True  # a cell that raises fails the build
nb_execution_show_tb = True
nb_merge_streams = True
nb_ipywidgets_js = {}  # widgets render as static images (HELPERS_STATIC_WIDGETS): load no widget JavaScript from a CDN

# -- HTML -----------------------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = project
# Accessibility fixes found by axe-core (tests/test_book.py): a CSS rule for dark mode, and the sidebar's title link
# inside a landmark (a template that replaces the theme's navbar-logo.html).
html_static_path = ["_static"]
html_css_files = ["a11y.css"]
templates_path = ["_templates"]
html_copy_source = True  # _sources/notebooks/*.ipynb: the download button's "original notebook"
html_theme_options = {
    "repository_url": REPOSITORY_URL,
    "repository_branch": "HEAD",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
}
html_last_updated_fmt = None

SOLUTION_CODE = re.compile(r"#\s*Solution(?: to exercise)?\s*(\d+)")
SOLUTION_MARKDOWN = re.compile(r"\*\*Solution to exercise (\d+)\*\*\s*")


def _collapse_solutions(notebook: dict) -> None:
    """Fold every cell tagged ``solution`` (hidden in JupyterLab by ``jupyter.source_hidden``) behind a toggle."""
    for cell in notebook["cells"]:
        metadata = cell.setdefault("metadata", {})
        if "solution" not in metadata.get("tags", []):
            continue
        source = "".join(cell["source"])
        first = source.lstrip().splitlines()[0] if source.strip() else ""
        if cell["cell_type"] == "code":
            match = SOLUTION_CODE.match(first)
            label = f"solution to exercise {match.group(1)}" if match else "the solution"
            metadata["tags"] = [*metadata["tags"], "hide-cell"]  # one toggle for code and outputs
            metadata.setdefault("mystnb", {}).update(
                code_prompt_show=f"Show {label}", code_prompt_hide=f"Hide {label}"
            )
        elif not first.startswith(
            "<details"
        ):  # markdown solutions already in <details> stay as they are
            match = SOLUTION_MARKDOWN.match(first)
            label = f"Solution to exercise {match.group(1)}" if match else "Solution"
            body = SOLUTION_MARKDOWN.sub("", source, count=1) if match else source
            cell["source"] = (
                f'<details class="solution">\n<summary>{label}</summary>\n\n{body}\n\n</details>\n'
            )


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if docname.startswith("notebooks/"):
        notebook = json.loads(source[0])
        _collapse_solutions(notebook)
        source[0] = json.dumps(notebook)


def _on_include_read(app, relative_path, parent_docname: str, content: list[str]) -> None:
    """The README on the landing page: its Binder badge (an image on mybinder.org) becomes a plain link."""
    content[0] = re.sub(
        r"\[!\[Binder\]\([^)]*\)\]\(([^)]*)\)", r"[Launch on Binder](\1)", content[0]
    )


def _alt_from_png(app, doctree) -> None:
    """Each notebook figure's ``<img>`` alt text: the description its PNG carries (``helpers.show``, the widgets'
    static images; ``helpers.figures``). Without it Sphinx would write the image's file path."""
    for node in doctree.findall(nodes.image):
        path = Path(app.env.relfn2path(node["uri"], app.env.docname)[1])
        if "alt" not in node and path.suffix == ".png" and path.is_file():
            alt = alt_text(path.read_bytes())
            if alt:
                node["alt"] = alt


def setup(app):
    app.connect("source-read", _on_source_read)
    app.connect("include-read", _on_include_read)
    app.connect(
        "doctree-read", _alt_from_png, priority=400
    )  # before Sphinx's image collector rewrites the uri
