"""Every notebook in a real JupyterLab, in Debian's Chromium driven by Playwright.

One JupyterLab server for the module (127.0.0.1, a free port, a random token, throw-away settings, the test
KERAS_HOME inherited from conftest). For each ``notebooks/*.ipynb``: open it, wait for its kernel, Run → Run All
Cells from the menu, wait until every code cell has run, assert no error output, then for each interactive figure
(a widget box holding a slider and a plot) drag its first slider and assert the plot image changed. Then present it
with jupyterlab-rise (Alt+R) and count the slides. Screenshots go to ``tests/screenshots/`` (gitignored).

If Chromium or Playwright is missing the test fails under CI (``CI`` set) and is skipped elsewhere; if the browser is
there but cannot start, the test fails with the reason.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RUN_TIMEOUT_S = 300  # all cells of one notebook (each should take well under a minute)
REDRAW_TIMEOUT_S = 180  # one slider release (a widget may train a small model first)
# Throw-away user settings: no news/update pop-up over the notebook; every cell kept in the DOM (no windowing).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Never write the executed notebook (with outputs) back into the repository.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _unavailable(reason: str):
    """Missing browser tooling: a failure under CI, a skip on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser test: .ci/run installs Chromium, requirements-dev.txt Playwright)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(lab: dict, path: str, method: str = "GET"):
    request = urllib.request.Request(
        f"{lab['url']}{path}", method=method, headers={"Authorization": f"token {lab['token']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving the repository, with a token; yields its url, token and log."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    for name, values in LAB_SETTINGS.items():
        path = tmp / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
        MPLCONFIGDIR=str(tmp / "matplotlib"),
    )
    env.pop("MPLBACKEND", None)
    port, token = _free_port(), secrets.token_hex(24)
    log = tmp / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--ServerApp.allow_root=True",
        "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",  # not .ipynb_checkpoints/ in the repository
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    server = {"url": f"http://127.0.0.1:{port}", "token": token, "log": log}
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                _api(server, "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within 90 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        _unavailable(f"playwright is not installed ({error})")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        except Exception as error:  # the reason, not a skip: a browser that is there must start
            pytest.fail(f"Chromium at {CHROMIUM} could not be started by Playwright: {error}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def context(browser, lab):
    """A browser context logged in to the server with its token (the login cookie is kept)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(f"{lab['url']}/lab?token={lab['token']}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.close()
    yield ctx
    ctx.close()


# JavaScript run in the page. `window.jupyterapp` is there because of --LabApp.expose_app_in_browser.
JS_CELLS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = [];
    for (const cell of panel.content.model.cells) {
        if (cell.type !== 'code') continue;
        const outputs = cell.outputs.toJSON();
        cells.push({
            count: cell.executionCount,
            errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
            widgets: outputs.filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length,
        });
    }
    return cells;
}"""
JS_ERROR_TEXT = """() => {
    const texts = [];
    for (const node of document.querySelectorAll(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
        if (/Traceback|Error/.test(node.textContent)) texts.push(node.textContent.slice(0, 400));
    }
    for (const node of document.querySelectorAll('.jp-OutputArea-output .jp-RenderedText')) {
        const text = node.textContent;
        if (/Traceback|Error displaying widget|Error rendering/.test(text)) texts.push(text.slice(0, 400));
    }
    return texts;
}"""
JS_FIGURES = """() => {
    // Interactive figures: top-level widget boxes holding a slider and an output area (LivePlot's layout).
    const boxes = [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox')]
        .filter(box => box.querySelector('.widget-slider') && box.querySelector('.widget-output'))
        .filter(box => !box.parentElement.closest('.widget-vbox'));
    return boxes.map((box, i) => {
        box.setAttribute('data-test-figure', String(i));
        const output = box.querySelector('.widget-output');
        return {image: !!output.querySelector('img'), text: output.textContent.trim().slice(0, 200)};
    });
}"""


def _wait_for_kernel(page, lab: dict, notebook: str) -> str:
    """Wait until the notebook's kernel is started, connected and idle; return its session id."""
    deadline = time.monotonic() + 120
    relative = f"notebooks/{notebook}"
    while time.monotonic() < deadline:
        sessions = [s for s in _api(lab, "/api/sessions") if s["path"] == relative]
        status = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$"))
        if (
            sessions
            and status.count()
            and page.evaluate(
                "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.connectionStatus"
            )
            == "connected"
        ):
            return sessions[0]["id"]
        time.sleep(0.5)
    pytest.fail(f"the kernel for {notebook} did not become idle within 120 s:\n{lab['log'].read_text()[-2000:]}")


def _close_sessions(lab: dict, notebook: str) -> None:
    """Shut down every kernel session of the notebook (frees its memory for the next one)."""
    for session in _api(lab, "/api/sessions"):
        if session["path"] == f"notebooks/{notebook}":
            _api(lab, f"/api/sessions/{session['id']}", method="DELETE")


def _run_all(page, notebook: str) -> list[dict]:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('li[data-command="runmenu:run-all"]').click()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        cells = page.evaluate(JS_CELLS)
        running = page.locator(".jp-Notebook-ExecutionIndicator[data-status=busy]").count()
        if any(cell["errors"] for cell in cells) or (not running and all(cell["count"] is not None for cell in cells)):
            return cells
        time.sleep(1)
    pytest.fail(f"{notebook}: not all cells ran within {RUN_TIMEOUT_S} s: {[c['count'] for c in cells]}")


def _drag_slider(page, figure) -> tuple[str, str]:
    """Drag the figure's first slider handle a quarter of the track (towards the side with room) and release it,
    as a user would; return the readout before and after."""
    slider = figure.locator(".widget-slider").first
    readout = slider.locator(".widget-readout")
    before = readout.inner_text()
    handle = slider.locator("[role=slider]").first.bounding_box()
    track = slider.locator(".noUi-base").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    dx = track["width"] / 4 * (-1 if x > track["x"] + track["width"] / 2 else 1)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()
    return before, readout.inner_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab_and_its_widgets_redraw(context, lab, path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stored = path.read_bytes()
    page = context.new_page()
    session = None
    try:
        page.goto(f"{lab['url']}/lab/tree/notebooks/{path.name}?reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        session = _wait_for_kernel(page, lab, path.name)

        cells = _run_all(page, path.name)
        page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"))
        errors = [error for cell in cells for error in cell["errors"]]
        assert not errors, f"{path.name}: cells raised {errors}"
        assert all(cell["count"] is not None for cell in cells), f"{path.name}: cells left unexecuted"
        shown = page.evaluate(JS_ERROR_TEXT)
        assert not shown, f"{path.name}: error output on the page: {shown}"

        expected_widgets = sum(cell["widgets"] for cell in cells)
        figures = page.evaluate(JS_FIGURES)
        if expected_widgets:
            assert figures, f"{path.name}: {expected_widgets} widget outputs but no slider above an output rendered"
        for index, found in enumerate(figures):
            figure = page.locator(f'[data-test-figure="{index}"]')
            figure.scroll_into_view_if_needed()
            figure.screenshot(path=str(SCREENSHOTS / f"{path.stem}_figure{index}_before.png"))
            assert found["image"], f"{path.name} figure {index} shows no plot image, only text: {found['text']!r}"
            before = figure.locator(".widget-output img").first.get_attribute("src")
            old_value, new_value = _drag_slider(page, figure)
            assert new_value != old_value, f"{path.name} figure {index}: the slider did not move ({old_value})"
            page.wait_for_function(
                """([box, src]) => { const img = box.querySelector('.widget-output img');
                                     return img && img.complete && img.getAttribute('src') !== src; }""",
                arg=[figure.element_handle(), before],
                timeout=REDRAW_TIMEOUT_S * 1000,
            )
            figure.screenshot(path=str(SCREENSHOTS / f"{path.stem}_figure{index}_after.png"))
        shown = page.evaluate(JS_ERROR_TEXT)
        assert not shown, f"{path.name}: error output after moving sliders: {shown}"
    finally:
        if session is not None:
            _close_sessions(lab, path.name)
        page.close()
    assert path.read_bytes() == stored, f"{path.name} was modified on disk while it ran in JupyterLab"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_presents_as_slides(context, lab, path):
    """jupyterlab-rise renders the notebook as reveal.js slides (Alt+R): one top-level slide per "slide" cell, the
    title first, skipped cells (hidden solutions) absent."""
    notebook = nbformat.read(path, as_version=4)
    kinds = [cell.metadata.get("slideshow", {}).get("slide_type") for cell in notebook.cells]
    title = notebook.cells[0].source.splitlines()[0].lstrip("# ").strip()
    skipped = [
        max(cell.source.splitlines(), key=len).strip()
        for cell, kind in zip(notebook.cells, kinds, strict=True)
        if kind == "skip" and cell.cell_type == "code" and cell.source.strip()
    ]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stored = path.read_bytes()
    page = context.new_page()
    try:
        page.goto(f"{lab['url']}/lab/tree/notebooks/{path.name}?reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Escape")  # command mode: the RISE shortcut needs the notebook focused
        page.keyboard.press("Alt+r")
        slides = page.frame_locator("iframe").first.locator(".reveal .slides")
        slides.locator(":scope > section").first.wait_for(timeout=60_000)
        count = slides.locator(":scope > section").count()
        page.screenshot(path=str(SCREENSHOTS / f"{path.stem}_slides.png"))
        assert count == kinds.count("slide"), f"{path.name}: {count} slides shown, {kinds.count('slide')} in metadata"
        assert title in slides.locator(":scope > section").first.inner_text(), (
            f"{path.name}: first slide is not the title"
        )
        text = slides.evaluate("element => element.textContent")
        shown = [line for line in skipped if line in text]
        assert not shown, f"{path.name}: skipped cells appear in the slides: {shown}"
    finally:
        _close_sessions(lab, path.name)
        page.close()
    assert path.read_bytes() == stored, f"{path.name} was modified on disk while it was presented"
