"""Every notebook presented as a teacher does, in a real JupyterLab, in Debian's Chromium driven by Playwright.

One JupyterLab server for the module (127.0.0.1, a free port, a random token, throw-away settings, checkpoints and
runtime files in a temporary directory, the test KERAS_HOME inherited from conftest; autosave off, so the executed
notebook is never written back). One browser page at 1280x720, a projector's size. For each ``notebooks/0*.ipynb``:

1. open it and prepare it as the README tells a teacher: Run → Run All Cells; no cell may raise;
2. after Run All, every solution code cell's output is hidden (its ``outputs_hidden`` metadata is honoured): its
   text is not on the page; no text output shows a widget's repr (``VBox(``, ``HBox(``) instead of the widget;
3. start the presentation (jupyterlab-slideshow's deck button in the notebook toolbar) and walk it with Space to the
   end; on every slide: it fits the viewport (the slide container neither taller nor wider than the window, nothing
   inside it scrolling sideways) and the "Click to add a cell." footer is not shown; on a slide holding a widget,
   run that cell there (Ctrl+Enter), then move one control of each widget on the slide and see its image change;
4. every cell not marked ``skip``/``notes`` was on screen at some step (a cell the deck cannot show is a failure).

A screenshot of one slide per notebook (the first widget after its control moved, else the last slide) and of
every overflowing slide goes to ``tests/screenshots/`` (gitignored). If Chromium or Playwright is missing the test
fails under CI (``CI`` set) and is skipped elsewhere; if the browser is there but cannot start, the test fails.
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
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
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
VIEWPORT = {"width": 1280, "height": 720}  # a projector
RUN_TIMEOUT_S = 300  # all cells of one notebook (each should take well under a minute)
REDRAW_TIMEOUT_S = 180  # one control change (a widget may train a small model first)
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
        pytest.fail(f"{reason} (CI must run the browser test: .ci/run installs Chromium, requirements-dev.txt has it)")
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
    """A browser context at projector size, logged in to the server with its token (the login cookie is kept)."""
    ctx = browser.new_context(viewport=VIEWPORT)
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
    let index = -1;
    for (const cell of panel.content.model.cells) {
        index++;
        if (cell.type !== 'code') continue;
        const outputs = cell.outputs.toJSON();
        cells.push({
            count: cell.executionCount,
            errors: outputs.filter(o => o.output_type === 'error')
                .map(o => `cell ${index}: ${o.ename}: ${o.evalue}`.slice(0, 300)),
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
JS_WIDGET_REPRS = """() => [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter(node => !node.closest('.jupyter-widgets'))
    .map(node => node.textContent).filter(text => /\\b[VH]Box\\(/.test(text)).map(text => text.slice(0, 200))"""
# Solution code cells after Run All: does the model hold output, and is any of its text visible on the page?
JS_SOLUTIONS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const join = value => (Array.isArray(value) ? value.join('') : value || '');
    const answer = output => {  // the answer's text; for HTML (a folded <details>) the text without its summary
        const data = output.data || {};
        if (output.text) return join(output.text);
        if (data['text/html']) {
            const doc = new DOMParser().parseFromString(join(data['text/html']), 'text/html');
            doc.querySelectorAll('summary').forEach(node => node.remove());
            return doc.body.textContent;
        }
        return join(data['text/plain']);
    };
    const rendered = root => {  // the text a reader sees: text nodes whose element is rendered and visible
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        let text = '';
        while (walker.nextNode()) {
            const element = walker.currentNode.parentElement;
            if (element && element.getClientRects().length
                    && element.checkVisibility({opacityProperty: true, visibilityProperty: true}))
                text += walker.currentNode.textContent + '\\n';
        }
        return text;
    };
    const result = [];
    panel.content.widgets.forEach((cell, index) => {
        const model = cell.model;
        if (model.type !== 'code' || !(model.getMetadata('tags') || []).includes('solution')) return;
        const lines = model.outputs.toJSON().map(answer).map(t => t.trim().split('\\n')[0].trim().slice(0, 60))
            .filter(line => line);
        const visible = rendered(cell.node);
        result.push({index, outputs: lines.length, shown: lines.filter(line => visible.includes(line))});
    });
    return result;
}"""
# The deck's state: the active cell, the cells on screen (and revealed), and the slide's size against the window.
JS_DECK = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const notebook = panel.content.node;
    const cells = panel.content.widgets;
    const onscreen = [], visible = [];
    let bottom = 0, right = 0;
    const sideways = [];
    cells.forEach((cell, index) => {
        if (!cell.node.classList.contains('jp-deck-mod-onscreen')) return;
        onscreen.push(index);
        if (cell.node.classList.contains('jp-deck-mod-visible')) visible.push(index);
        const box = cell.node.getBoundingClientRect();
        bottom = Math.max(bottom, box.bottom);
        right = Math.max(right, box.right);
        for (const node of cell.node.querySelectorAll('*')) {
            const style = getComputedStyle(node);
            if (!['auto', 'scroll'].includes(style.overflowX) || node.clientWidth === 0) continue;
            if (node.scrollWidth > node.clientWidth + 2)
                sideways.push(`${node.className || node.tagName}`.slice(0, 60) +
                              ` ${node.scrollWidth} > ${node.clientWidth} px`);
        }
    });
    const footer = document.querySelector('.jp-Deck .jp-Notebook-footer');
    return {
        active: panel.content.activeCellIndex, onscreen, visible,
        scrollHeight: notebook.scrollHeight, clientHeight: notebook.clientHeight,
        scrollWidth: notebook.scrollWidth, clientWidth: notebook.clientWidth,
        bottom, right, sideways, width: window.innerWidth, height: window.innerHeight,
        footer: !!footer && footer.getBoundingClientRect().height > 0 && getComputedStyle(footer).display !== 'none',
    };
}"""
# Interactive figures in a cell: top-level widget boxes holding an output area (LivePlot's layout).
JS_FIGURES = """(index) => {
    const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
    const boxes = [...cell.node.querySelectorAll('.jp-OutputArea-output .widget-vbox')]
        .filter(box => box.querySelector('.widget-output'))
        .filter(box => !box.parentElement.closest('.widget-vbox'));
    return boxes.map((box, i) => {
        box.setAttribute('data-test-figure', `${index}-${i}`);
        const output = box.querySelector('.widget-output');
        return {id: `${index}-${i}`, image: !!output.querySelector('img, canvas'),
                text: output.textContent.trim().slice(0, 200)};
    });
}"""
JS_WIDGET_CELLS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const found = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        const n = cell.outputs.toJSON()
            .filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length;
        if (n) found.push([i, n]);
    }
    return found;
}"""
JS_IMAGE = """(box) => { const img = box.querySelector('.widget-output img');
    if (img) return img.getAttribute('src');
    const canvas = box.querySelector('.widget-output canvas'); return canvas ? canvas.toDataURL() : null; }"""
JS_KERNEL_IDLE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    return panel.sessionContext.session.kernel.status === 'idle'
        && !document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=busy]');
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


def _start_deck(page, notebook: str) -> None:
    """Click the deck button in the notebook toolbar, as a teacher does (again if the extension was not ready)."""
    button = page.locator('.jp-NotebookPanel-toolbar jp-button[data-command="deck:toggle"]')
    for _ in range(10):
        button.click()
        try:
            page.wait_for_function("() => document.body.dataset.jpDeckMode === 'presenting'", timeout=3000)
            return
        except Exception:  # Playwright's TimeoutError: the settings of the extension were still loading
            continue
    pytest.fail(f"{notebook}: the deck button did not start the presentation")


def _next(page, before: dict) -> dict | None:
    """Press Space (next fragment, sub-slide or slide); the deck's new state, or None at the end."""
    page.keyboard.press("Space")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.2)
        state = page.evaluate(JS_DECK)
        if state["active"] != before["active"]:
            time.sleep(0.3)  # the slide's fade-in
            return page.evaluate(JS_DECK)
    return None


def _move_control(page, figure) -> tuple[str, str]:
    """Move one enabled control of the figure as a user does; return a description of the change.

    A slider's handle is dragged a quarter of its track towards the side with room and released; without an
    enabled slider, a dropdown gets its next option."""
    for slider in figure.locator(".widget-slider").all():
        if slider.locator(".noUi-target[disabled], .noUi-handle[disabled]").count() or "mod-disabled" in (
            slider.get_attribute("class") or ""
        ):
            continue
        readout = slider.locator(".widget-readout")
        before = readout.inner_text()
        handle = slider.locator(".noUi-handle").first.bounding_box()
        track = slider.locator(".noUi-base").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        assert 0 <= y <= VIEWPORT["height"] and 0 <= x <= VIEWPORT["width"], f"slider handle off the slide at {x, y}"
        dx = track["width"] / 4 * (-1 if x > track["x"] + track["width"] / 2 else 1)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx, y, steps=8)
        page.mouse.up()
        return before, readout.inner_text()
    select = figure.locator(".widget-dropdown select").first
    options = select.locator("option").all_inner_texts()
    before = select.input_value()
    index = [o.strip() for o in options].index(before.strip()) if before.strip() in options else 0
    select.select_option(index=(index + 1) % len(options))
    return before, select.input_value()


def _slide_problems(state: dict) -> list[str]:
    problems = []
    tall = max(state["scrollHeight"], state["bottom"])
    if tall > state["height"] + 1 or state["scrollHeight"] > state["clientHeight"] + 1:
        problems.append(f"{tall} px tall in a {state['height']} px window")
    wide = max(state["scrollWidth"], state["right"])
    if wide > state["width"] + 1 or state["scrollWidth"] > state["clientWidth"] + 1:
        problems.append(f"{wide} px wide in a {state['width']} px window")
    problems += [f"scrolls sideways: {what}" for what in state["sideways"]]
    if state["footer"]:
        problems.append('the "Click to add a cell." footer is shown')
    return problems


def _first_line(cell) -> str:
    return next((line.strip() for line in cell.source.splitlines() if line.strip()), "")[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_presentation_is_live_and_fits_a_projector(context, lab, path):
    notebook = nbformat.read(path, as_version=4)
    shown_kinds = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.metadata.get("slideshow", {}).get("slide_type") not in {"skip", "notes"}
    ]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{path.stem}*.png"):
        old.unlink()
    stored = path.read_bytes()
    page = context.new_page()
    session = None
    problems: list[str] = []  # collected over the whole walk, so one run reports every slide that does not fit
    try:
        page.goto(f"{lab['url']}/lab/tree/notebooks/{path.name}?reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        session = _wait_for_kernel(page, lab, path.name)
        assert page.evaluate("() => document.body.dataset.jpDeckMode") != "presenting", "the deck was left running"

        # 1. Prepare: Run All, no errors.
        cells = _run_all(page, path.name)
        errors = [error for cell in cells for error in cell["errors"]]
        assert not errors, f"{path.name}: cells raised {errors}"
        assert all(cell["count"] is not None for cell in cells), f"{path.name}: cells left unexecuted"
        shown = page.evaluate(JS_ERROR_TEXT)
        assert not shown, f"{path.name}: error output on the page: {shown}"

        # 2. Answers stay hidden after Run All; widgets are widgets, not their repr.
        solutions = page.evaluate(JS_SOLUTIONS)
        with_output = [s for s in solutions if s["outputs"]]
        assert with_output, f"{path.name}: no solution code cell printed anything, so hiding cannot be checked"
        # JupyterLab un-hides a cell's output whenever it runs (CodeCell.execute sets outputHidden = false), so
        # the metadata alone cannot do it: what counts is that none of the answer's text is visible.
        leaked = [(s["index"], s["shown"]) for s in with_output if s["shown"]]
        if leaked:
            problems.append(f"solution output visible after Run All as (cell, text): {leaked}")
        reprs = page.evaluate(JS_WIDGET_REPRS)
        assert not reprs, f"{path.name}: text outputs show a widget's repr instead of the widget: {reprs}"
        # Interactive figures (controls above a plot) by cell; a progress bar is a widget too, but not one to move.
        widget_cells = {}
        for index, _ in page.evaluate(JS_WIDGET_CELLS):
            if figures := page.evaluate(JS_FIGURES, index):
                widget_cells[index] = len(figures)

        # 3. Present and walk the deck.
        page.evaluate(f"() => {{ window.testFigures = {JS_FIGURES}; }}")
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Escape")  # command mode: the deck's keys act on the focused notebook
        _start_deck(page, path.name)
        page.wait_for_timeout(500)
        state = page.evaluate(JS_DECK)
        seen, checked_slides, moved = set(), set(), set()
        screenshot_done = False
        for _ in range(4 * len(notebook.cells)):
            seen.update(state["onscreen"])
            slide = tuple(state["onscreen"])
            if slide and slide not in checked_slides:
                checked_slides.add(slide)
                where = f"slide of cells {slide[0]}-{slide[-1]} ({_first_line(notebook.cells[slide[0]])!r})"
                found = _slide_problems(state)
                if found:
                    problems.append(f"{where}: {'; '.join(found)}")
                    page.screenshot(path=str(SCREENSHOTS / f"{path.stem}_overflow_cell{slide[0]:02d}.png"))
            active = state["active"]
            if active in widget_cells and active in state["visible"] and active not in moved:
                moved.add(active)
                # Run the widget's cell on its slide, as the teacher does (Ctrl+Enter runs it and stays).
                page.keyboard.press("Control+Enter")
                page.wait_for_timeout(500)
                page.wait_for_function(JS_KERNEL_IDLE, timeout=REDRAW_TIMEOUT_S * 1000, polling=500)
                try:  # the widget views are built after the cell finished
                    page.wait_for_function(
                        "([index, n]) => window.testFigures(index).filter(f => f.image).length >= n",
                        arg=[active, widget_cells[active]], timeout=30_000, polling=500,
                    )
                except Exception:  # Playwright's TimeoutError: reported by the assertion below
                    pass
                figures = page.evaluate(JS_FIGURES, active)
                assert len(figures) >= widget_cells[active], (
                    f"{path.name} cell {active}: {widget_cells[active]} interactive figures after Run All but "
                    f"{len(figures)} after running it on its slide"
                )
                for found in figures:
                    figure = page.locator(f'[data-test-figure="{found["id"]}"]')
                    assert found["image"], f"{path.name} cell {active}: no plot image, only text {found['text']!r}"
                    before = page.evaluate(JS_IMAGE, figure.element_handle())
                    old_value, new_value = _move_control(page, figure)
                    assert new_value != old_value, f"{path.name} cell {active}: the control did not move ({old_value})"
                    page.wait_for_function(
                        """([box, src]) => { const img = box.querySelector('.widget-output img');
                            const now = img ? (img.complete && img.getAttribute('src'))
                                : box.querySelector('.widget-output canvas')?.toDataURL();
                            return now && now !== src; }""",
                        arg=[figure.element_handle(), before],
                        timeout=REDRAW_TIMEOUT_S * 1000,
                    )
                    page.wait_for_function(JS_KERNEL_IDLE, timeout=REDRAW_TIMEOUT_S * 1000, polling=500)
                    if not screenshot_done:
                        page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"))
                        screenshot_done = True
                after = page.evaluate(JS_DECK)  # a redrawn figure can change the slide's size
                found = _slide_problems(after)
                if found and slide:
                    problems.append(f"slide of cells {slide[0]}-{slide[-1]} after its widget moved: {'; '.join(found)}")
            nxt = _next(page, state)
            if nxt is None:
                break
            state = nxt
        if not screenshot_done:  # a notebook without widgets: its last slide
            page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"))
        missing_widgets = sorted(set(widget_cells) - moved)
        assert not missing_widgets, f"{path.name}: widget cells {missing_widgets} were never reached on a slide"
        shown = page.evaluate(JS_ERROR_TEXT) + page.evaluate(JS_WIDGET_REPRS)
        assert not shown, f"{path.name}: error output or widget repr after the presentation: {shown}"
        page.keyboard.press("Escape")  # stops the deck
        page.wait_for_function("() => document.body.dataset.jpDeckMode !== 'presenting'", timeout=10_000)

        # 4. Every cell that belongs on a slide was on screen.
        unseen = [(i, _first_line(notebook.cells[i])) for i in shown_kinds if i not in seen]
        if unseen:
            problems.append(f"cells never shown on a slide: {unseen}")
        assert not problems, f"{path.name} at 1280x720:\n" + "\n".join(problems)
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('deck:stop')")
        if session is not None:
            _close_sessions(lab, path.name)
        page.close()
    assert path.read_bytes() == stored, f"{path.name} was modified on disk while it was presented"
