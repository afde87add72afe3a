"""Walk the course as a learner on Binder does, and measure the session's memory all along.

One JupyterLab server set up as Binder's image is: a fresh temporary HOME holding a copy of ``notebooks/``,
``binder/postBuild`` run in it (HOME = that folder, no KERAS_HOME nor JUPYTER_CONFIG_DIR: the dataset lands in its
``~/.keras`` and the session's configuration in its ``~/.jupyter``), the server started there with nothing else
configured (only its address, a token, and ``expose_app_in_browser`` so the walk can read the notebook's cells).
Debian's Chromium, driven by Playwright, opens JupyterLab, then for each notebook in order (default: 01 … 06):

1. opens it from the file browser (a double click) and waits for its kernel;
2. runs it (Run → Run All Cells) and waits until every code cell has run (or one raised);
3. closes it the way its *What's next* says (``--close menu``: File → Close and Shut Down Notebook, confirmed), or
   by its tab's close button (``--close tab``: what closing the tab does on Binder), and waits for its kernel to be
   gone (``GONE_WITHIN_S``).

Every ~100 ms a thread samples the server process and all its children (the kernels): the sum of their
proportional set sizes (PSS: each shared page counted once, split between the processes that map it, as a
container's memory limit charges it) and the number of kernels alive. After each notebook it prints: the kernels
alive, the session's PSS now, the peak during that notebook and the peak so far.

Data: ``--data full`` (default) puts full-size Fashion-MNIST (60,000 + 10,000 images, the shared subset repeated by
``notebook_memory.py``) in the HOME's ``~/.keras``; ``--data cache`` the 1,000-image subset as it is.

Exits 1 if the session's PSS ever exceeds ``LIMIT_MB`` (Binder's 2 GB), a notebook raises or does not finish, more
than ``MAX_KERNELS`` kernels are alive at once, or a closed notebook's kernel is not gone in time. Takes minutes:
run it on a machine that is otherwise quiet (a second TensorFlow elsewhere takes its share of the PSS).

Usage: python benchmarks/course_walk.py [--data full|cache] [--close menu|tab] [NOTEBOOK ...]
       (NOTEBOOK: a number such as 01 or 3, or a file name in notebooks/; default: every notebook, in order)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebook_memory  # noqa: E402 - the full-size data maker, beside this file

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIMIT_MB = 2000.0  # Binder: the server and every kernel together
MAX_KERNELS = 2
GONE_WITHIN_S = (
    30.0  # closing shuts the kernel down at once; Jupyter Server waits up to 5 s for it to exit
)
RUN_TIMEOUT_S = 600.0
SAMPLE_S = 0.1
MB = 1e6
CLOSE_MODES = ("menu", "tab")
# The environment a Binder session has: its own HOME, nothing pointing elsewhere.
UNSET = (
    "KERAS_HOME",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "JUPYTERLAB_SETTINGS_DIR",
    "JUPYTERLAB_WORKSPACES_DIR",
    "IPYTHONDIR",
    "MPLCONFIGDIR",
    "MPLBACKEND",
    "CLIPPING_TESTS_KERAS_HOME",
)


class Sampler(threading.Thread):
    """Samples the server and its children every ``SAMPLE_S``: the sum of their PSS (bytes) and the kernels alive.
    ``peak``/``max_kernels`` cover the whole walk; ``step_peak`` restarts with ``new_step``; ``kernel_peaks`` is each
    kernel's own largest PSS by process id."""

    def __init__(self, server_pid: int):
        super().__init__(daemon=True)
        self.server = psutil.Process(server_pid)
        self.peak = self.step_peak = self.last = 0
        self.kernels = self.max_kernels = 0
        self.kernel_peaks: dict[int, int] = {}
        self.samples = 0
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> tuple[int, int]:
        total, kernels = 0, 0
        try:
            processes = [self.server, *self.server.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0, 0
        for process in processes:
            try:
                pss = process.memory_full_info().pss
                if any("ipykernel_launcher" in part for part in process.cmdline()):
                    kernels += 1
                    self.kernel_peaks[process.pid] = max(self.kernel_peaks.get(process.pid, 0), pss)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            total += pss
        return total, kernels

    def run(self) -> None:
        while not self._stop_event.is_set():
            total, kernels = self.sample()
            with self._lock:
                self.last, self.kernels, self.samples = total, kernels, self.samples + 1
                self.peak, self.step_peak = max(self.peak, total), max(self.step_peak, total)
                self.max_kernels = max(self.max_kernels, kernels)
            self._stop_event.wait(SAMPLE_S)

    def new_step(self) -> None:
        with self._lock:
            self.step_peak = self.last

    def snapshot(self, kernel_pid: int | None) -> dict:
        """Now: the session's PSS, the kernels alive, this step's and the walk's peaks, ``kernel_pid``'s peak."""
        with self._lock:
            return {
                "now": self.last,
                "kernels": self.kernels,
                "step_peak": self.step_peak,
                "peak": self.peak,
                "max_kernels": self.max_kernels,
                "kernel_peak": self.kernel_peaks.get(kernel_pid, 0),
            }

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass
class Step:
    notebook: str
    seconds: float = 0.0  # Run All until every cell ran
    error: str = ""
    gone_after_s: float | None = None  # from closing until the kernel is gone from the server
    kernel_pid: int | None = None
    kernel_peak_mb: float = 0.0
    peak_mb: float = 0.0  # session PSS, during this notebook (open, run, close)
    after_mb: float = 0.0  # session PSS once the notebook is closed
    kernels_after: int = 0
    peak_so_far_mb: float = 0.0
    max_kernels_so_far: int = 0


@dataclass
class Walk:
    steps: list[Step] = field(default_factory=list)
    start_mb: float = 0.0
    peak_mb: float = 0.0
    max_kernels: int = 0
    samples: int = 0

    def problems(self) -> list[str]:
        found = [f"{s.notebook}: {s.error}" for s in self.steps if s.error]
        found += [
            f"{s.notebook}: the kernel was not gone within {GONE_WITHIN_S:.0f} s of closing"
            for s in self.steps
            if not s.error and s.gone_after_s is None
        ]
        if self.peak_mb > LIMIT_MB:
            found.append(f"the session peaked at {self.peak_mb:,.0f} MB > {LIMIT_MB:,.0f} MB")
        if self.max_kernels > MAX_KERNELS:
            found.append(f"{self.max_kernels} kernels were alive at once (at most {MAX_KERNELS})")
        return found


def notebook_paths(names: list[str]) -> list[Path]:
    """The notebooks named by number (``1``, ``01``) or file name, in the given order; all of them by default."""
    every = sorted((ROOT / "notebooks").glob("0*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        matches = [
            p for p in every if p.name == name or (name.isdigit() and int(p.name[:2]) == int(name))
        ]
        if len(matches) != 1:
            raise ValueError(
                f"notebook {name!r} is not one of {', '.join(p.name for p in every)} (or its number)"
            )
        chosen.append(matches[0])
    return chosen


def _session_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(
        HOME=str(home),
        USER="jovyan",
        TF_CPP_MIN_LOG_LEVEL="2",
        TF_ENABLE_ONEDNN_OPTS="0",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def prepare_home(work: Path, data: str) -> Path:
    """A Binder-like HOME in ``work``: the notebooks, Fashion-MNIST in ``~/.keras`` (``data``: "full" or "cache"),
    then ``binder/postBuild`` run as the build runs it. Prints what postBuild printed."""
    home = work / "home" / "jovyan"
    shutil.copytree(
        ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    cache = home / ".keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    source = notebook_memory._source_folder()
    if data == "full":
        notebook_memory._write_full_size(source, cache)
    else:
        for path in source.glob("*.gz"):
            shutil.copyfile(path, cache / path.name)
    result = subprocess.run(
        [str(ROOT / "binder" / "postBuild")],
        cwd=home,
        env=_session_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"binder/postBuild failed:\n{result.stdout}{result.stderr[-3000:]}")
    print("\n".join("   " + line for line in result.stdout.splitlines()), flush=True)
    return home


class Lab:
    """The session's JupyterLab server (started in ``home`` as Binder starts it), with its REST API."""

    def __init__(self, home: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "jupyterlab.log"
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={home}",
            "--ServerApp.allow_root=True",
            "--LabApp.expose_app_in_browser=True",
        ]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=home, env=_session_env(home), stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                self.api("/api/status")
                return
            except OSError as error:
                if time.monotonic() > deadline:
                    self.stop()
                    log = self.log.read_text()[-3000:]
                    raise RuntimeError(f"JupyterLab did not answer within 120 s:\n{log}") from error
                time.sleep(0.3)

    def api(self, route: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}{route}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_of(self, notebook: str) -> str | None:
        """The id of the kernel of ``notebooks/<notebook>``'s session, or None."""
        for session in self.api("/api/sessions"):
            if session["path"] == f"notebooks/{notebook}" and session.get("kernel"):
                return session["kernel"]["id"]
        return None

    def kernel_pid(self, kernel_id: str) -> int | None:
        """The process id of a kernel of this server (its command line names its connection file)."""
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if any(f"kernel-{kernel_id}.json" in part for part in child.cmdline()):
                    return child.pid
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# JavaScript run in the page (`window.jupyterapp` is there because of --LabApp.expose_app_in_browser): the state of
# the current notebook's cells in its model (not the DOM: JupyterLab renders only the cells in view).
JS_STATE = """(path) => {
    const panel = window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.context || panel.context.path !== path) return null;
    const kernel = panel.sessionContext?.session?.kernel;
    const cells = [...panel.content.model.cells].filter(cell => cell.type === 'code');
    const errors = [];
    cells.forEach((cell, i) => cell.outputs.toJSON().filter(o => o.output_type === 'error')
        .forEach(o => errors.push(`code cell ${i + 1}: ${o.ename}: ${o.evalue}`.slice(0, 300))));
    return {status: kernel ? kernel.status : null, connection: kernel ? kernel.connectionStatus : null,
            unrun: cells.filter(cell => cell.executionCount === null).length, errors,
            busy: !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=busy]')};
}"""


def _wait(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout:.0f} s")


def _menu(page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$")).click()
    page.locator(f'li[data-command="{command}"]').click()


def open_notebook(page, lab: Lab, path: Path) -> str:
    """Open ``notebooks/<name>`` from the file browser as a learner does; return its kernel id once it is idle."""
    relative = f"notebooks/{path.name}"
    item = page.locator(
        ".jp-DirListing-item", has=page.locator(".jp-DirListing-itemText", has_text=path.name)
    )
    item.first.dblclick()
    ready = {"status": "idle", "connection": "connected"}
    _wait(
        lambda: ready.items() <= (page.evaluate(JS_STATE, relative) or {}).items(),
        180,
        f"{path.name}: no kernel",
    )
    return _wait(lambda: lab.kernel_of(path.name), 30, f"{path.name}: no session")


def run_all(page, path: Path) -> str:
    """Run → Run All Cells; wait until every code cell ran and the kernel is idle; the first error, or ""."""
    relative = f"notebooks/{path.name}"
    _menu(page, "Run", "runmenu:run-all")

    def finished():
        state = page.evaluate(JS_STATE, relative)
        if state["errors"]:
            return state
        return (
            state
            if not state["unrun"] and not state["busy"] and state["status"] == "idle"
            else None
        )

    state = _wait(finished, RUN_TIMEOUT_S, f"{path.name}: not every cell ran", interval=0.5)
    return "; ".join(state["errors"])


def close_notebook(page, path: Path, how: str) -> None:
    """Close the notebook: its *What's next* way (``menu``), or its tab's close button (``tab``)."""
    if how == "menu":
        _menu(page, "File", "filemenu:close-and-cleanup")  # "Close and Shut Down Notebook…"
        page.locator(".jp-Dialog .jp-mod-accept").click()  # "Shut down the notebook?"
    else:
        page.locator(
            ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon"
        ).click()
        discard = page.locator(
            ".jp-Dialog button", has_text="Discard"
        )  # "Save your work" for a changed notebook
        try:
            discard.click(timeout=5_000)
        except (
            Exception
        ):  # Playwright's TimeoutError: no dialog, the notebook had no unsaved changes
            pass
    _wait(
        lambda: page.evaluate(JS_STATE, f"notebooks/{path.name}") is None,
        30,
        f"{path.name}: still open",
    )


def walk(
    paths: list[Path], data: str = "full", close: str | list[str] = "menu", out=sys.stdout
) -> Walk:
    """Walk ``paths`` in one Binder-like session (see the module docstring); ``close``: one mode, or one per
    notebook. Prints each step to ``out``; returns the measurements."""
    closes = [close] * len(paths) if isinstance(close, str) else list(close)
    if len(closes) != len(paths) or any(mode not in CLOSE_MODES for mode in closes):
        raise ValueError(
            f"close must be one of {CLOSE_MODES} or a list of them, one per notebook; got {close!r}"
        )
    if data not in ("full", "cache"):
        raise ValueError(f"data must be 'full' or 'cache'; got {data!r}")
    from playwright.sync_api import sync_playwright

    result = Walk()
    with tempfile.TemporaryDirectory(prefix="course-walk-") as work:
        print(f"== Binder-like HOME in {work}, {data} data, postBuild:", file=out, flush=True)
        home = prepare_home(Path(work), data)
        lab = Lab(home)
        sampler = Sampler(lab.process.pid)
        sampler.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(
                    f"{lab.url}/lab/tree/notebooks?token={lab.token}"
                )  # the Binder link's urlpath
                page.wait_for_selector(".jp-DirListing-item", timeout=120_000)
                time.sleep(1.0)
                result.start_mb = sampler.last / MB
                print(
                    f"== JupyterLab open, no notebook: session {result.start_mb:,.0f} MB (PSS, server)",
                    file=out,
                    flush=True,
                )
                for path, how in zip(paths, closes):
                    result.steps.append(_step(page, lab, sampler, path, how, out))
                    if result.steps[-1].error.startswith("did not"):
                        break
                browser.close()
        finally:
            sampler.stop()
            lab.stop()
    result.peak_mb, result.max_kernels, result.samples = (
        sampler.peak / MB,
        sampler.max_kernels,
        sampler.samples,
    )
    return result


def _step(page, lab: Lab, sampler: Sampler, path: Path, how: str, out) -> Step:
    step = Step(path.name)
    sampler.new_step()
    try:
        kernel = open_notebook(page, lab, path)
        step.kernel_pid = lab.kernel_pid(kernel)
        began = time.monotonic()
        step.error = run_all(page, path)
        step.seconds = time.monotonic() - began
        closed = time.monotonic()
        close_notebook(page, path, how)
        try:
            _wait(
                lambda: (
                    all(k["id"] != kernel for k in lab.api("/api/kernels"))
                    and not (step.kernel_pid and psutil.pid_exists(step.kernel_pid))
                ),
                GONE_WITHIN_S,
                "gone",
            )
            step.gone_after_s = time.monotonic() - closed
        except TimeoutError:
            pass
    except TimeoutError as error:
        step.error = f"did not finish: {error}"
    time.sleep(3 * SAMPLE_S)
    now = sampler.snapshot(step.kernel_pid)
    step.peak_mb, step.after_mb, step.kernels_after = (
        now["step_peak"] / MB,
        now["now"] / MB,
        now["kernels"],
    )
    step.peak_so_far_mb, step.max_kernels_so_far = now["peak"] / MB, now["max_kernels"]
    step.kernel_peak_mb = now["kernel_peak"] / MB
    gone = (
        "KERNEL NOT GONE"
        if step.gone_after_s is None
        else f"kernel gone {step.gone_after_s:.1f} s after closing"
    )
    print(
        f"== {path.name}: {'ERROR ' + step.error if step.error else 'ran'} in {step.seconds:.1f} s, closed by "
        f"{how}, {gone}; kernels alive now {step.kernels_after} (most at once so far {step.max_kernels_so_far}); "
        f"session {step.after_mb:,.0f} MB now, peak during this notebook {step.peak_mb:,.0f} MB (its kernel "
        f"{step.kernel_peak_mb:,.0f} MB), peak so far {step.peak_so_far_mb:,.0f} MB",
        file=out,
        flush=True,
    )
    return step


def table(result: Walk) -> str:
    rows = [
        "| after | run (s) | kernel gone after closing (s) | kernels alive | session now (MB) | peak during it "
        "(MB) | its kernel's peak (MB) | peak so far (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| JupyterLab open | | | 0 | {result.start_mb:,.0f} | | | {result.start_mb:,.0f} |",
    ]
    for s in result.steps:
        gone = f"{s.gone_after_s:.1f}" if s.gone_after_s is not None else "**not gone**"
        rows.append(
            f"| {s.notebook[:2]}{' (error)' if s.error else ''} | {s.seconds:.1f} | {gone} | "
            f"{s.kernels_after} | {s.after_mb:,.0f} | {s.peak_mb:,.0f} | {s.kernel_peak_mb:,.0f} | "
            f"{s.peak_so_far_mb:,.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks", nargs="*", help="numbers or file names (default: all, in order)"
    )
    parser.add_argument("--data", choices=("full", "cache"), default="full")
    parser.add_argument(
        "--close", choices=CLOSE_MODES, default="menu", help="menu: as the notebooks say (default)"
    )
    args = parser.parse_args(argv)
    try:
        paths = notebook_paths(args.notebooks)
    except ValueError as error:
        parser.error(str(error))
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    began = time.monotonic()
    result = walk(paths, args.data, args.close)
    print("\n" + table(result))
    problems = result.problems()
    seconds = time.monotonic() - began
    print(
        f"\n{len(result.steps)} notebook(s), {args.data} data, closed by {args.close}, {seconds:.0f} s"
        f" on {psutil.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}); {result.samples} samples. Session "
        f"peak {result.peak_mb:,.0f} MB (limit {LIMIT_MB:,.0f}), at most {result.max_kernels} kernel(s) alive at "
        f"once (limit {MAX_KERNELS})."
    )
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
