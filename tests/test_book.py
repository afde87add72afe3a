"""The built book (``build/book``, made by the README's book command) in Chromium, and the one repository address.

The book is built with execution by ``.ci/run`` BEFORE pytest; this test only reads the HTML, so no notebook is
executed a third time here. Without a build it fails under CI (``CI`` set) and is skipped elsewhere (build it with
the README's book command first). The site is served by ``http.server`` on 127.0.0.1 (ephemeral port, a thread);
every request to any other host is aborted and reported (nothing may be fetched from a CDN when reading the book).
For the index and every notebook page: no response >= 400, every image decodes, MathJax typeset the maths, no
error output or widget repr, solutions folded, a Binder launch link and a notebook download link, and every relative
link (with its #fragment) resolves. Screenshots: ``tests/screenshots/book-index.png``, ``book-04.png`` and
``book-04-widget.png`` (gitignored).

Accessibility: axe-core (shipped inside the pinned ``axe-playwright-python`` wheel, so nothing is fetched) audits every
page in light and in dark mode with every ``<details>`` (folded solutions, hidden cells) open: no violation of impact
"serious" or "critical" (colour contrast, link and image names, heading order, landmarks, the ``lang`` attribute...);
the rest is written per page to ``tests/screenshots/book-axe.txt``. Every figure of a notebook page (an ``<img>`` in a
cell's output) has an alt text that describes it: at least a sentence, not a file path.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml
from chromium import CHROMIUM, CHROMIUM_ARGS

from helpers.figures import MIN_WORDS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
REPOSITORY_URL = yaml.safe_load((ROOT / "CITATION.cff").read_text())["repository-code"].rstrip("/")
REPOSITORY = REPOSITORY_URL.removeprefix("https://github.com/")
OWNER, REPO = REPOSITORY.split("/")
BINDER = f"https://mybinder.org/v2/gh/{REPOSITORY}/HEAD"
BOOK_URL = f"https://{OWNER.lower()}.github.io/{REPO}/"
# What must never show on a page: error outputs, widget reprs, a figure printed as text.
BAD_TEXT = re.compile(
    r"Traceback \(most recent call last\)|\b[VH]Box\(|<Figure size|Error displaying widget"
)


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (.ci/run builds the book before pytest)")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------- one repository address


def test_repository_address_is_a_github_path():
    assert REPOSITORY_URL.startswith("https://github.com/") and re.fullmatch(
        r"[\w.-]+/[\w.-]+", REPOSITORY
    )


def test_readme_binder_badge_and_book_link_use_the_one_address():
    readme = (ROOT / "README.md").read_text()
    binder = re.findall(r"https://mybinder\.org/v2/gh/([^/\s)]+/[^/\s)]+)/", readme)
    assert binder and set(binder) == {REPOSITORY}, (
        f"README's Binder links {binder} vs CITATION.cff {REPOSITORY}"
    )
    pages = re.findall(r"https://[\w.-]+\.github\.io/[^\s)>*]*", readme)
    assert pages and set(pages) == {BOOK_URL}, f"README's book links {pages} vs {BOOK_URL}"
    repos = re.findall(r"https://github\.com/([\w.-]+/[\w.-]+)", readme)
    assert set(repos) <= {REPOSITORY}, repos


def test_book_config_reads_the_address_from_citation():
    conf = (ROOT / "conf.py").read_text()
    assert '"repository-code"' in conf and "OWNER/REPO" not in conf


def test_ci_runs_the_readme_book_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^BOOK_COMMAND='(.+)'$", ci, re.MULTILINE).group(1)
    assert f"\n{command}\n" in (ROOT / "README.md").read_text()
    assert "sphinx-build" in command and " -W " in command and "build/book" in command


# ----------------------------------------------------------------------------------------------------- the site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log in the test output
        pass


@pytest.fixture(scope="module")
def site():
    """The built book served on 127.0.0.1 (an ephemeral port) from a thread; yields its base URL."""
    if not (BOOK / "index.html").is_file():
        _unavailable(f"no built book in {BOOK}: run the README's book command first")
    handler = functools.partial(_QuietHandler, directory=str(BOOK))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def test_every_notebook_has_a_page():
    if not (BOOK / "index.html").is_file():
        _unavailable(f"no built book in {BOOK}: run the README's book command first")
    missing = [
        nb.name for nb in NOTEBOOKS if not (BOOK / "notebooks" / f"{nb.stem}.html").is_file()
    ]
    assert not missing, (
        f"pages missing (a stale build? rebuild with the README's book command): {missing}"
    )


JS_IMAGES = """async () => {
    const images = [...document.querySelectorAll('img')];
    images.forEach(img => { img.loading = 'eager'; });
    return await Promise.all(images.map(img => img.decode().then(
        () => ({src: img.currentSrc, width: img.naturalWidth}),
        () => ({src: img.currentSrc, width: 0}))));
}"""
JS_STATE = """() => ({
    text: document.querySelector('main').innerText,
    errors: document.querySelectorAll('.output.traceback, .output.error').length,
    stderr: [...document.querySelectorAll('.cell_output .stderr')].map(e => e.innerText)
        .filter(t => /Traceback|^\\w*Error\\b|\\bError:/m.test(t)),
    widgets: document.querySelectorAll('.jupyter-widgets, script[type*="widget-view"]').length,
    math: document.querySelectorAll('mjx-container').length,
    mathSource: document.querySelectorAll('.math').length,
    solutions: [...document.querySelectorAll('.tag_solution')].map(c => {
        const d = c.querySelector('details'); return d ? d.open : null; }),
    markdownSolutions: [...document.querySelectorAll('details.solution')].map(d => d.open),
    notes: [...document.querySelectorAll('.static-widget-note')].map(p => {
        const img = p.closest('.cell_output')?.querySelector('img');
        return img ? img.naturalWidth : 0; }),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
})"""


def _open(page, url: str, failures: list, external: list):
    failures.clear()
    external.clear()
    page.goto(url, wait_until="networkidle")
    page.wait_for_function(
        "() => !window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=30_000
    )
    page.evaluate("() => window.MathJax?.startup?.promise")
    return page.evaluate(JS_STATE)


def _check_links(site: str, page_url: str, links: list[str]) -> list[str]:
    """Relative links: the target file exists in the build and its #fragment is an id there."""
    broken = []
    for href in links:
        target = urllib.parse.urljoin(page_url, href)
        if not target.startswith(site):
            continue
        parts = urllib.parse.urlsplit(target)
        path = BOOK / urllib.parse.unquote(parts.path).removeprefix(
            urllib.parse.urlsplit(site).path
        )
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            broken.append(href)
        elif parts.fragment and path.suffix == ".html":
            ids = set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))
            if html.unescape(urllib.parse.unquote(parts.fragment)) not in {
                html.unescape(i) for i in ids
            }:
                broken.append(href)
    return broken


def test_book_pages_in_chromium(site, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    failures: list[str] = []
    external: list[str] = []

    def route(route_):
        if route_.request.url.startswith(site):
            route_.continue_()
        else:
            external.append(route_.request.url)
            route_.abort()

    page.route("**/*", route)
    page.on(
        "response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.on(
        "requestfailed", lambda r: r.url.startswith(site) and failures.append(f"failed {r.url}")
    )

    pages = [("index.html", None)] + [(f"notebooks/{nb.stem}.html", nb) for nb in NOTEBOOKS]
    problems = []
    for path, notebook in pages:
        url = site + path
        state = _open(page, url, failures, external)
        images = page.evaluate(JS_IMAGES)
        where = path
        problems += [f"{where}: {f}" for f in failures]
        problems += [f"{where}: fetched from outside 127.0.0.1: {u}" for u in external]
        problems += [
            f"{where}: image does not decode: {i['src']}" for i in images if i["width"] <= 0
        ]
        if match := BAD_TEXT.search(state["text"]):
            problems.append(f"{where}: shows {match.group(0)!r}")
        if state["errors"] or state["stderr"] or state["widgets"]:
            problems.append(
                f"{where}: {state['errors']} error outputs, errors on stderr {state['stderr']}, "
                f"{state['widgets']} widget views (empty boxes without a kernel)"
            )
        if state["mathSource"] and not state["math"]:
            problems.append(
                f"{where}: {state['mathSource']} maths elements but nothing typeset by MathJax"
            )
        problems += [f"{where}: broken link {h}" for h in _check_links(site, url, state["links"])]
        if notebook is None:
            page.screenshot(path=str(SCREENSHOTS / "book-index.png"))
            continue
        source = notebook.read_text(encoding="utf-8")
        if '\\"solution\\"' in source or '"solution"' in source:
            folded = state["solutions"] + state["markdownSolutions"]
            if any(open_ is not False for open_ in state["solutions"]) or any(
                state["markdownSolutions"]
            ):
                problems.append(f"{where}: a solution is not folded: {folded}")
        if "helpers.widgets" in source:
            if not state["notes"] or min(state["notes"]) <= 0:
                problems.append(
                    f"{where}: widgets without a static image and note: {state['notes']}"
                )
        launch = f"{BINDER}?urlpath=lab/tree/notebooks/{notebook.name}"
        if launch not in state["links"]:
            problems.append(f"{where}: no Binder launch link {launch}")
        if f"../_sources/notebooks/{notebook.name}" not in state["links"]:
            problems.append(f"{where}: no download link for {notebook.name}")
        if notebook.name.startswith("04_"):
            page.screenshot(path=str(SCREENSHOTS / "book-04.png"))
            static_widget = page.locator(".cell_output:has(.static-widget-note)").first
            if (
                static_widget.count()
            ):  # the lab as the book shows it: its image and the line under it
                static_widget.screenshot(path=str(SCREENSHOTS / "book-04-widget.png"))
    context.close()
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------- accessibility

#: Impacts that fail the audit (axe-core's scale: minor, moderate, serious, critical).
AXE_BLOCKING = ("serious", "critical")
JS_OPEN_DETAILS = "() => document.querySelectorAll('details').forEach(d => { d.open = true; })"
#: Opened details fade in (myst-nb's CSS): audit their final colours, not a frame of the animation.
NO_ANIMATION = "*, *::before, *::after { animation: none !important; transition: none !important; }"
JS_FIGURES = """() => [...document.querySelectorAll('.cell_output img')].map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt')}))"""
PATH_LIKE = re.compile(r"\.(png|jpe?g|gif|svg)\b|_images/|^[\w./-]+$")
#: Notebook pages whose figures may not carry alt texts yet (none: every figure is described). The test fails once
#: such a page passes, so that it leaves this set.
ALT_TEXT_PENDING: set[str] = set()


def _alt_problem(alt: str | None, src: str) -> str | None:
    """Why ``alt`` does not describe a figure (``None`` if it does): missing, a path, or shorter than a sentence."""
    if not alt or not alt.strip():
        return "no alt text"
    if alt == src or PATH_LIKE.search(alt):
        return f"alt text is a path: {alt!r}"
    if len(alt.split()) < MIN_WORDS or not alt.rstrip().endswith((".", "!", "?")):
        return f"alt text is not a sentence: {alt!r}"
    return None


def test_alt_problem_tells_a_description_from_a_path():
    assert (
        _alt_problem("A line falls from 10 to 0.1 over 50 steps: the gradient vanishes.", "x.png")
        is None
    )
    assert "path" in _alt_problem("../_images/e9cb99.png", "../_images/e9cb99.png")
    assert "not a sentence" in _alt_problem("loss curve", "x.png")
    assert _alt_problem(None, "x.png") == "no alt text"


def _axe_summary(violations: list[dict]) -> str:
    return (
        ", ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])})" for v in violations)
        or "no violations"
    )


def test_book_pages_pass_axe_and_describe_their_figures(site, browser):
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        _unavailable("axe-playwright-python is not installed (pip install -r requirements-dev.txt)")
    axe = Axe()
    problems, summary = [], []
    pages = ["index.html"] + [f"notebooks/{nb.stem}.html" for nb in NOTEBOOKS]
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
        page = context.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site) else r.abort())
        for path in pages:
            _open(page, site + path, [], [])
            page.add_style_tag(content=NO_ANIMATION)
            page.evaluate(JS_OPEN_DETAILS)
            result = axe.run(page).response
            violations, review = result["violations"], sorted(r["id"] for r in result["incomplete"])
            summary.append(
                f"{path} ({scheme}): {_axe_summary(violations)}; needs review: {review or 'nothing'}"
            )
            for v in violations:
                if v["impact"] in AXE_BLOCKING:
                    targets = [" ".join(node["target"]) for node in v["nodes"][:5]]
                    problems.append(
                        f"{path} ({scheme}): {v['id']} ({v['impact']}): {v['help']}; at {targets}"
                    )
            if scheme == "light" and path.startswith("notebooks/"):
                figures = page.evaluate(JS_FIGURES)
                missing = [
                    f"{path}: figure {f['src']}: {why}"
                    for f in figures
                    if (why := _alt_problem(f["alt"], f["src"]))
                ]
                if Path(path).stem not in ALT_TEXT_PENDING:
                    problems += missing
                elif not missing:
                    problems.append(
                        f"{path}: every figure is described now: remove it from ALT_TEXT_PENDING"
                    )
        context.close()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "book-axe.txt").write_text("\n".join(summary) + "\n", encoding="utf-8")
    print("\n".join(summary))
    assert not problems, "\n".join(problems)
