"""Every notebook presented as a teacher does, in a real JupyterLab, in Debian's Chromium driven by Playwright.

One JupyterLab server for the module (127.0.0.1, a free port, a random token, throw-away settings, checkpoints and
runtime files in a temporary directory, the test KERAS_HOME inherited from conftest; autosave off, so the executed
notebook is never written back). One browser page at 1280x720, a projector's size. For each ``notebooks/0*.ipynb``
(data-driven: a new notebook joins by being there):

1. open it and prepare it as the README tells a teacher: Run → Run All Cells; no cell may raise;
2. after Run All: no solution's answer is visible, code (``folded()``) or markdown (``<details>``); no cell's hidden
   state (``jupyter`` metadata, ``collapsed``) differs from the file, so saving the run would not change it; no text
   output shows a widget's repr (``VBox(``, ``IntSlider(``) or "Loading widget" instead of the widget;
3. start the presentation right away (the deck button in the notebook toolbar, no cell clicked): it opens on the
   title slide; the notebook toolbar shows when the pointer is at the top edge, whole, inside the window;
4. walk the deck to the end with the slide keys in turn (→, Space, ↓, Page Down) and back to the title with ← and ↑
   (every press moves, sub-slides included). On every slide: it fits the viewport (no taller or wider than the window,
   nothing inside scrolling sideways), no "Click to add a cell." footer, no stderr block (a WARNING) and no widget
   repr; it is not a heading alone, nor a text-only slide whose paragraph points at printed lines "above"; the
   rendered size of its prose is recorded (tests/screenshots/NN_text_sizes.json);
5. on a slide holding a widget: run its cell there (Ctrl+Enter; no stderr may appear), then move one control of each
   figure with the mouse and see its image change; after the first such drag, → moves the deck (not the slider) and
   ← comes back; after a dropdown picked with the mouse, ↑ moves the deck, Enter opens no markdown cell for editing;
   and once per notebook: Tab reaches a control, the arrow keys alone change it, and the line under its figure says
   the new value; Escape gives the keys back to the slide;
6. every cell not marked ``skip``/``notes`` was on screen at some step.

Screenshots in ``tests/screenshots/`` (gitignored): ``NN_first_slide.png`` (right after Run All → start deck), one
widget slide per notebook after its control moved (``NN.png``), ``NN_after_drag_right.png`` (the slide → showed after
a slider drag: for 04 the lab), and every overflowing slide. If Chromium or Playwright is missing the test fails under
CI (``CI`` set) and is skipped elsewhere; if the browser is there but cannot start, the test fails.
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
from chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
SCREENSHOTS = ROOT / "tests" / "screenshots"
VIEWPORT = {"width": 1280, "height": 720}  # a projector
RUN_TIMEOUT_S = 300  # all cells of one notebook (each should take well under a minute)
REDRAW_TIMEOUT_S = 180  # one control change (a widget may train a small model first)
# Throw-away user settings: no news/update pop-up over the notebook; every cell kept in the DOM (no windowing).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Never write the executed notebook (with outputs) back into the repository.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _unavailable(reason: str):
    """Missing browser tooling: a failure under CI, a skip on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(
            f"{reason} (CI must run the browser test: .ci/run installs Chromium, requirements-dev.txt has it)"
        )
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
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        "--ServerApp.allow_root=True",
        "--LabApp.news_url=None",
        "--LabApp.expose_app_in_browser=True",
        f"--FileCheckpoints.checkpoint_dir={tmp / 'checkpoints'}",  # not .ipynb_checkpoints/ in the repository
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    server = {"url": f"http://127.0.0.1:{port}", "token": token, "log": log}
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                _api(server, "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer within 90 s:\n{log.read_text()[-3000:]}"
                    )
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
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
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
# A widget shown as text: its repr, or the placeholder JupyterLab shows while (or instead of) rendering it.
JS_WIDGET_REPRS = """(onscreen) => [...document.querySelectorAll(
        onscreen ? '.jp-deck-mod-onscreen .jp-OutputArea-output' : '.jp-OutputArea-output')]
    .filter(node => !node.closest('.jupyter-widgets') || /Loading widget/.test(node.textContent))
    .map(node => node.textContent)
    .filter(text => /\\b(?:[VH]Box|IntSlider|FloatSlider|FloatLogSlider|Dropdown)\\(|Loading widget/.test(text))
    .map(text => text.slice(0, 200))"""
# Solutions after Run All: is any of the answer's text visible on the page? Code cells: the text of what they printed
# (for folded HTML, without its summary); markdown cells: their source's text after the <summary> line.
JS_SOLUTIONS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const join = value => (Array.isArray(value) ? value.join('') : value || '');
    const answer = output => {
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
    const words = text => text.replace(/[$*_`\\\\{}]/g, ' ').split(/\\s+/).filter(w => /^[A-Za-z]{4,}$/.test(w));
    const result = [];
    panel.content.widgets.forEach((cell, index) => {
        const model = cell.model;
        if (!(model.getMetadata('tags') || []).includes('solution')) return;
        let lines;
        if (model.type === 'code') {
            lines = model.outputs.toJSON().map(answer).map(t => t.trim().split('\\n')[0].trim().slice(0, 60));
        } else {
            const body = model.sharedModel.getSource().split('\\n').slice(1).join(' ');
            lines = [words(body).slice(0, 6).join(' ')];  // a run of words of the answer's first sentence
        }
        lines = lines.filter(line => line);
        const visible = rendered(cell.node);
        const flat = visible.replace(/\\s+/g, ' ');
        result.push({index, type: model.type, outputs: lines.length,
                     shown: lines.filter(line => visible.includes(line)
                                        || (model.type === 'markdown' && words(flat).join(' ').includes(line)))});
    });
    return result;
}"""
# Hidden state of every cell as JupyterLab would save it.
JS_HIDDEN_STATE = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(cell => ({
    jupyter: cell.model.getMetadata('jupyter') ?? null, collapsed: cell.model.getMetadata('collapsed') ?? null}))"""
# The deck's state: the active cell, the cells on screen (and revealed), the slide's size against the window, its
# zoom and prose size, and what it shows that it must not.
JS_DECK = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const notebook = panel.content.node;
    const cells = panel.content.widgets;
    const onscreen = [], visible = [];
    let bottom = 0, right = 0;
    const sideways = [], stderr = [], prose = [];
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
        for (const node of cell.node.querySelectorAll(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
            if (node.textContent.trim()) stderr.push(`cell ${index}: ${node.textContent.trim().slice(0, 160)}`);
        for (const node of cell.node.querySelectorAll('.jp-RenderedMarkdown p, .jp-RenderedMarkdown li'))
            if (node.getClientRects().length && node.textContent.trim())
                prose.push(parseFloat(getComputedStyle(node).fontSize) * (node.currentCSSZoom || 1));
    });
    const footer = document.querySelector('.jp-Deck .jp-Notebook-footer');
    const focused = document.activeElement;
    return {
        active: panel.content.activeCellIndex, onscreen, visible,
        scrollHeight: notebook.scrollHeight, clientHeight: notebook.clientHeight,
        scrollWidth: notebook.scrollWidth, clientWidth: notebook.clientWidth,
        bottom, right, sideways, stderr, width: window.innerWidth, height: window.innerHeight,
        footer: !!footer && footer.getBoundingClientRect().height > 0 && getComputedStyle(footer).display !== 'none',
        zoom: parseFloat(document.body.style.getPropertyValue('--clipping-presenting-zoom')) || 1,
        prose: prose.length ? Math.min(...prose) : null,
        editing: document.querySelectorAll('.jp-Deck .jp-MarkdownCell:not(.jp-mod-rendered)').length
                 + (notebook.classList.contains('jp-mod-editMode') ? 1 : 0),
        focusOnCell: !!focused && focused.classList.contains('jp-Cell'),
        presenting: document.body.dataset.jpDeckMode === 'presenting',
    };
}"""
# Interactive figures in a cell: top-level widget boxes holding an output area (LivePlot's layout); the line under
# the figure is the box's last child.
JS_FIGURES = """(index) => {
    const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
    const boxes = [...cell.node.querySelectorAll('.jp-OutputArea-output .widget-vbox')]
        .filter(box => box.querySelector('.widget-output'))
        .filter(box => !box.parentElement.closest('.widget-vbox'));
    return boxes.map((box, i) => {
        box.setAttribute('data-test-figure', `${index}-${i}`);
        const output = box.querySelector('.widget-output');
        return {id: `${index}-${i}`, image: !!output.querySelector('img, canvas'),
                text: output.textContent.trim().slice(0, 200),
                caption: (box.lastElementChild?.textContent || '').trim()};
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
JS_FOCUS = """() => { const node = document.activeElement;
    return {control: !!node && !!node.closest('.jp-OutputArea-output') && !node.classList.contains('jp-Cell'),
            keyboard: !!node && node.matches(':focus-visible'), tag: node ? node.tagName : null,
            classes: node ? `${node.className}` : '', value: node && node.tagName === 'SELECT' ? node.value : null,
            last: node && node.tagName === 'SELECT' ? node.selectedIndex === node.options.length - 1 : null,
            now: node?.getAttribute('aria-valuenow'), max: node?.getAttribute('aria-valuemax')}; }"""
JS_TOOLBAR = """() => { const bar = document.querySelector('.jp-Deck .jp-NotebookPanel-toolbar');
    if (!bar) return null; const box = bar.getBoundingClientRect();
    return {top: box.top, bottom: box.bottom, left: box.left, right: box.right,
            opacity: parseFloat(getComputedStyle(bar).opacity), scroll: bar.scrollWidth, client: bar.clientWidth}; }"""

#: Walking forward presses these in turn; walking back, these.
FORWARD_KEYS = ("ArrowRight", "Space", "ArrowDown", "PageDown")
BACK_KEYS = ("ArrowLeft", "ArrowUp")
#: A text-only slide must not point at printed output "above" (it would be on another slide).
POINTS_ABOVE = re.compile(
    r"\b(?:lines?|tables?|outputs?|numbers|figures?|plots?|columns?|median|printed \w+)\s+above\b",
    re.IGNORECASE,
)
HEADING_ONLY = re.compile(r"\s*#{1,6} [^\n]*\s*")


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
    pytest.fail(
        f"the kernel for {notebook} did not become idle within 120 s:\n{lab['log'].read_text()[-2000:]}"
    )


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
        if any(cell["errors"] for cell in cells) or (
            not running and all(cell["count"] is not None for cell in cells)
        ):
            return cells
        time.sleep(1)
    pytest.fail(
        f"{notebook}: not all cells ran within {RUN_TIMEOUT_S} s: {[c['count'] for c in cells]}"
    )


def _start_deck(page, notebook: str) -> None:
    """Click the deck button in the notebook toolbar, as a teacher does (again if the extension was not ready)."""
    button = page.locator('.jp-NotebookPanel-toolbar jp-button[data-command="deck:toggle"]')
    for _ in range(10):
        button.click()
        try:
            page.wait_for_function(
                "() => document.body.dataset.jpDeckMode === 'presenting'", timeout=3000
            )
            return
        except (
            Exception
        ):  # Playwright's TimeoutError: the settings of the extension were still loading
            continue
    pytest.fail(f"{notebook}: the deck button did not start the presentation")


def _settle(page) -> dict:
    """The deck's state once the slide's fade-in and its zoom are done."""
    time.sleep(0.35)
    return page.evaluate(JS_DECK)


def _press(page, key: str, before: dict) -> dict | None:
    """Press a slide key; the deck's new state, or None when it did not move within 3 s (the end)."""
    page.keyboard.press(key)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        time.sleep(0.1)
        state = page.evaluate(JS_DECK)
        if state["active"] != before["active"] or state["onscreen"] != before["onscreen"]:
            return _settle(page)
    return None


def _drag_slider(page, figure) -> tuple[str, str] | None:
    """Drag the handle of the first enabled slider of the figure a quarter of its track towards the side with room
    and release it, as a user does; (readout before, after), or None without an enabled slider."""
    for slider in figure.locator(".widget-slider").all():
        if slider.locator(
            ".noUi-target[disabled], .noUi-handle[disabled]"
        ).count() or "mod-disabled" in (slider.get_attribute("class") or ""):
            continue
        readout = slider.locator(".widget-readout")
        before = readout.inner_text()
        handle = slider.locator(".noUi-handle").first.bounding_box()
        track = slider.locator(".noUi-base").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        assert 0 <= y <= VIEWPORT["height"] and 0 <= x <= VIEWPORT["width"], (
            f"slider handle off the slide at {x, y}"
        )
        dx = track["width"] / 4 * (-1 if x > track["x"] + track["width"] / 2 else 1)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx, y, steps=8)
        page.mouse.up()
        return before, readout.inner_text()
    return None


def _pick_dropdown(page, figure) -> tuple[str, str] | None:
    """Pick the next option of the figure's first enabled dropdown as the mouse does; (before, after) or None.

    A press of the pointer focuses the dropdown, then an option is chosen. (A real click would also open the list,
    which headless Chromium keeps open and which would then take the keys this test presses next: so the press is
    dispatched as the pointer event and focus it makes, and the option chosen as a pick from the list does.)"""
    selects = [s for s in figure.locator(".widget-dropdown select").all() if s.is_enabled()]
    if not selects:
        return None
    select = selects[0]
    before = select.input_value()
    count = select.locator("option").count()
    index = select.evaluate("node => node.selectedIndex")
    select.dispatch_event("pointerdown")
    select.focus()
    select.select_option(index=(index + 1) % count)
    return before, select.input_value()


def _wait_redraw(page, figure, before_src: str | None) -> None:
    page.wait_for_function(
        """([box, src]) => { const img = box.querySelector('.widget-output img');
            const now = img ? (img.complete && img.getAttribute('src'))
                : box.querySelector('.widget-output canvas')?.toDataURL();
            return now && now !== src; }""",
        arg=[figure.element_handle(), before_src],
        timeout=REDRAW_TIMEOUT_S * 1000,
    )
    page.wait_for_function(JS_KERNEL_IDLE, timeout=REDRAW_TIMEOUT_S * 1000, polling=500)


def _caption(page, index: int, figure_id: str) -> str:
    return next(f["caption"] for f in page.evaluate(JS_FIGURES, index) if f["id"] == figure_id)


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
    problems += [f"stderr on the slide: {text}" for text in state["stderr"]]
    return problems


def _content_problems(notebook, slide: tuple[int, ...]) -> list[str]:
    """A slide of a heading alone, or of text only whose paragraph points at printed output above it."""
    cells = [notebook.cells[i] for i in slide]
    problems = []
    if (
        len(cells) == 1
        and cells[0].cell_type == "markdown"
        and HEADING_ONLY.fullmatch(cells[0].source)
    ):
        problems.append("a heading alone")
    if all(cell.cell_type == "markdown" for cell in cells):
        problems += [
            f"text only, but points {m[0]!r}"
            for c in cells
            for m in POINTS_ABOVE.finditer(c.source)
        ]
    return problems


def _first_line(cell) -> str:
    return next((line.strip() for line in cell.source.splitlines() if line.strip()), "")[:60]


def _keyboard_change(page, notebook: str, active: int, figure_id: str) -> str | None:
    """From the slide, Tab to the first control and change it with the arrow keys only; the new caption, or a
    problem."""
    page.keyboard.press("Tab")
    focus = page.evaluate(JS_FOCUS)
    if not (focus["control"] and focus["keyboard"]):
        return f"Tab from the slide did not reach a widget control with a visible focus: {focus}"
    before = _caption(page, active, figure_id)
    if focus["tag"] == "SELECT":
        page.keyboard.press("ArrowUp" if focus["last"] else "ArrowDown")
    else:
        at_max = focus["now"] is not None and focus["now"] == focus["max"]
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    try:
        page.wait_for_function(
            """([index, id, before]) => { const f = window.testFigures(index).find(f => f.id === id);
                return f && f.caption !== before && !/training …$/.test(f.caption); }""",
            arg=[active, figure_id, before],
            timeout=REDRAW_TIMEOUT_S * 1000,
            polling=250,
        )
    except Exception:  # Playwright's TimeoutError: reported below
        return f"the line under the figure did not change after an arrow key on {focus['classes']!r}: {before!r}"
    page.wait_for_function(JS_KERNEL_IDLE, timeout=REDRAW_TIMEOUT_S * 1000, polling=500)
    after = _caption(page, active, figure_id)
    if " → " not in after or not page.evaluate(JS_FOCUS)["control"]:
        return f"after the arrow key the line reads {after!r} and the control lost the focus"
    page.keyboard.press("Escape")
    if not page.evaluate(JS_DECK)["focusOnCell"]:
        return "Escape on the control did not give the keys back to the slide"
    return after


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_presentation_is_live_and_fits_a_projector(context, lab, path):
    notebook = nbformat.read(path, as_version=4)
    shown_kinds = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.metadata.get("slideshow", {}).get("slide_type") not in {"skip", "notes"}
    ]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{path.stem[:2]}_*.png"):
        old.unlink()
    prefix = path.stem[:2]
    stored = path.read_bytes()
    page = context.new_page()
    session = None
    problems: list[
        str
    ] = []  # collected over the whole walk, so one run reports every slide that fails
    sizes: dict[str, dict] = {}
    try:
        page.goto(f"{lab['url']}/lab/tree/notebooks/{path.name}?reset")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        session = _wait_for_kernel(page, lab, path.name)
        assert page.evaluate("() => document.body.dataset.jpDeckMode") != "presenting", (
            "the deck was left running"
        )

        # 1. Prepare: Run All, no errors.
        cells = _run_all(page, path.name)
        errors = [error for cell in cells for error in cell["errors"]]
        assert not errors, f"{path.name}: cells raised {errors}"
        assert all(cell["count"] is not None for cell in cells), (
            f"{path.name}: cells left unexecuted"
        )
        shown = page.evaluate(JS_ERROR_TEXT)
        assert not shown, f"{path.name}: error output on the page: {shown}"

        # 2. Answers stay folded, the hidden state is the file's, widgets are widgets.
        solutions = page.evaluate(JS_SOLUTIONS)
        assert any(s["outputs"] for s in solutions), (
            f"{path.name}: no solution with an answer to check"
        )
        leaked = [(s["index"], s["shown"]) for s in solutions if s["shown"]]
        if leaked:
            problems.append(f"solution text visible after Run All as (cell, text): {leaked}")
        for index, (now, cell) in enumerate(zip(page.evaluate(JS_HIDDEN_STATE), notebook.cells)):
            jupyter, collapsed = cell.metadata.get("jupyter"), cell.metadata.get("collapsed")
            if now["jupyter"] != jupyter or (now["collapsed"] or None) != (collapsed or None):
                problems.append(
                    f"cell {index}: Run All changed its hidden state from {jupyter, collapsed} to {now}"
                )
        reprs = page.evaluate(JS_WIDGET_REPRS, False)
        assert not reprs, (
            f"{path.name}: outputs show a widget as text instead of the widget: {reprs}"
        )
        widget_cells = {}  # interactive figures by cell (a progress bar is a widget too, but not one to move)
        for index, _ in page.evaluate(JS_WIDGET_CELLS):
            if figures := page.evaluate(JS_FIGURES, index):
                widget_cells[index] = len(figures)

        # 3. Present right away: the title slide first; the toolbar at the top edge, whole.
        page.evaluate(f"() => {{ window.testFigures = {JS_FIGURES}; }}")
        _start_deck(page, path.name)
        state = _settle(page)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / f"{prefix}_first_slide.png"))
        if state["onscreen"][:1] != [0]:
            problems.append(
                f"the deck opened on cells {state['onscreen']}, not on the title slide (cell 0)"
            )
        page.mouse.move(VIEWPORT["width"] / 2, 8)
        page.wait_for_timeout(400)
        bar = page.evaluate(JS_TOOLBAR)
        if (
            not bar
            or bar["opacity"] < 0.5
            or bar["top"] > 2
            or bar["right"] > VIEWPORT["width"]
            or bar["left"] < 0
        ):
            problems.append(
                f"the notebook toolbar is not shown whole at the top edge under the pointer: {bar}"
            )
        page.mouse.move(VIEWPORT["width"] / 2, VIEWPORT["height"] / 2)

        # 4-5. Walk forward with the slide keys in turn; widgets moved on their slides.
        seen, checked, moved = set(), set(), set()
        keyboard_done = dropdown_done = drag_done = screenshot_done = False
        walk = []
        for step in range(4 * len(notebook.cells)):
            seen.update(state["onscreen"])
            slide = tuple(state["onscreen"])
            walk.append(state["active"])
            if slide and slide not in checked:
                checked.add(slide)
                where = f"slide of cells {slide[0]}-{slide[-1]} ({_first_line(notebook.cells[slide[0]])!r})"
                sizes[f"{slide[0]}-{slide[-1]}"] = {
                    "zoom": round(state["zoom"], 3),
                    "prose_px": state["prose"],
                }
                found = _slide_problems(state) + _content_problems(notebook, slide)
                found += [f"widget as text: {t}" for t in page.evaluate(JS_WIDGET_REPRS, True)]
                if found:
                    problems.append(f"{where}: {'; '.join(found)}")
                    if any("tall" in f or "wide" in f for f in found):
                        page.screenshot(
                            path=str(SCREENSHOTS / f"{prefix}_overflow_cell{slide[0]:02d}.png")
                        )
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
                        arg=[active, widget_cells[active]],
                        timeout=30_000,
                        polling=500,
                    )
                except Exception:  # Playwright's TimeoutError: reported by the assertion below
                    pass
                figures = page.evaluate(JS_FIGURES, active)
                assert len(figures) >= widget_cells[active], (
                    f"{path.name} cell {active}: {widget_cells[active]} interactive figures after Run All but "
                    f"{len(figures)} after running it on its slide"
                )
                rerun = _settle(page)
                if rerun["stderr"]:
                    problems.append(
                        f"cell {active} run on its slide printed to stderr: {rerun['stderr']}"
                    )
                if not keyboard_done:  # the keyboard only: Tab, arrows, Escape
                    keyboard_done = True
                    result = _keyboard_change(page, path.name, active, figures[0]["id"])
                    if result is None or "→" not in result:
                        problems.append(f"cell {active}, keyboard: {result}")
                for found in figures:
                    figure = page.locator(f'[data-test-figure="{found["id"]}"]')
                    assert found["image"], (
                        f"{path.name} cell {active}: no plot image, only text {found['text']!r}"
                    )
                    before = page.evaluate(JS_IMAGE, figure.element_handle())
                    change = _drag_slider(page, figure)
                    dragged = change is not None
                    if change is None:
                        change = _pick_dropdown(page, figure)
                    assert change and change[0] != change[1], (
                        f"{path.name} cell {active}: no control moved ({change})"
                    )
                    _wait_redraw(page, figure, before)
                    if not screenshot_done:
                        page.screenshot(path=str(SCREENSHOTS / f"{prefix}.png"))
                        screenshot_done = True
                    here = page.evaluate(JS_DECK)
                    found_now = _slide_problems(here)
                    if found_now:
                        problems.append(
                            f"cell {active} after its widget moved: {'; '.join(found_now)}"
                        )
                        page.screenshot(
                            path=str(SCREENSHOTS / f"{prefix}_overflow_cell{active:02d}_moved.png")
                        )
                    if (
                        dragged and not drag_done
                    ):  # → after a drag moves the deck, not the slider; ← comes back
                        drag_done = True
                        value = figure.locator(".widget-readout").all_text_contents()
                        after = _press(page, "ArrowRight", here)
                        page.screenshot(path=str(SCREENSHOTS / f"{prefix}_after_drag_right.png"))
                        if after is None:
                            problems.append(
                                f"cell {active}: → after a slider drag did not move the deck"
                            )
                        elif figure.locator(".widget-readout").all_text_contents() != value:
                            problems.append(
                                f"cell {active}: → after a slider drag also moved the slider"
                            )
                        back = _press(page, "ArrowLeft", after or here)
                        if after is not None and (back is None or back["active"] != here["active"]):
                            problems.append(
                                f"cell {active}: ← after → did not return to the widget's slide"
                            )
                    picked = _pick_dropdown(page, figure) if not dropdown_done else None
                    if (
                        picked
                    ):  # ↑ after a mouse pick moves the deck; Enter opens no markdown for editing
                        dropdown_done = True
                        _wait_redraw(page, figure, page.evaluate(JS_IMAGE, figure.element_handle()))
                        here = page.evaluate(JS_DECK)
                        select = figure.locator(".widget-dropdown select").first
                        value = select.input_value()
                        up = _press(page, "ArrowUp", here)
                        page.keyboard.press("Enter")
                        after = _settle(page)
                        if up is None or select.input_value() != value:
                            problems.append(
                                f"cell {active}: ↑ after a dropdown pick did not move the deck only"
                            )
                        if after["editing"] or not after["presenting"]:
                            problems.append(
                                f"cell {active}: Enter after a dropdown pick opened a cell for editing"
                            )
                        if up is not None and _press(page, "ArrowDown", after) is None:
                            problems.append(f"cell {active}: ↓ did not return after ↑")
                state = _settle(page)
            nxt = _press(page, FORWARD_KEYS[step % len(FORWARD_KEYS)], state)
            if nxt is None:
                break
            state = nxt
        if not screenshot_done:  # a notebook without widgets: its last slide
            page.screenshot(path=str(SCREENSHOTS / f"{prefix}.png"))
        missing_widgets = sorted(set(widget_cells) - moved)
        assert not missing_widgets, (
            f"{path.name}: widget cells {missing_widgets} were never reached on a slide"
        )
        if widget_cells and not keyboard_done:
            problems.append("no widget was driven from the keyboard")
        if len(walk) < 2 or walk[-1] <= walk[0]:
            problems.append(f"the slide keys did not walk the deck: {walk}")

        # Back to the title with ← and ↑: every press moves (sub-slides included).
        for step in range(4 * len(notebook.cells)):
            if state["active"] == 0:
                break
            key = BACK_KEYS[step % len(BACK_KEYS)]
            back = _press(page, key, state)
            if back is None or back["active"] >= state["active"]:
                problems.append(
                    f"{key} on the slide of cell {state['active']} did not go back: {back}"
                )
                break
            state = back
        shown = page.evaluate(JS_ERROR_TEXT) + page.evaluate(JS_WIDGET_REPRS, False)
        assert not shown, (
            f"{path.name}: error output or widget as text after the presentation: {shown}"
        )
        page.keyboard.press("Escape")  # stops the deck
        page.wait_for_function(
            "() => document.body.dataset.jpDeckMode !== 'presenting'", timeout=10_000
        )

        # 6. Every cell that belongs on a slide was on screen.
        unseen = [(i, _first_line(notebook.cells[i])) for i in shown_kinds if i not in seen]
        if unseen:
            problems.append(f"cells never shown on a slide: {unseen}")
        assert not problems, f"{path.name} at 1280x720:\n" + "\n".join(problems)
    finally:
        (SCREENSHOTS / f"{prefix}_text_sizes.json").write_text(json.dumps(sizes, indent=1))
        page.evaluate("() => window.jupyterapp.commands.execute('deck:stop')")
        if session is not None:
            _close_sessions(lab, path.name)
        page.close()
    assert path.read_bytes() == stored, f"{path.name} was modified on disk while it was presented"
