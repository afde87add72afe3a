"""Peak memory and wall time of each notebook in its own fresh kernel, and of two notebooks run together in one server.

mybinder.org gives a session at most 2 GB (1 MB = 10^6 bytes here). Limits: every notebook's kernel peaks under
1,150 MB, and two notebooks (default: 04 and 05) executed at the same time in one JupyterLab server stay under 2000 MB
together with the server. Two measurements per notebook run alone:

- *polled peak*: the largest resident set size (RSS) of the kernel process plus all its children, sampled every
  50 ms while the notebook runs (psutil);
- *VmHWM*: the kernel process's own RSS high-water mark, read by the Linux kernel from ``/proc/<pid>/status`` just
  before the kernel is shut down (exact, but excludes children).

The larger of the two is checked against the limit and, with full-size data, printed as the ``PEAK_MB`` dict of
``helpers/session.py`` (what each notebook's setup cell compares with the session's memory left). ``--cells`` also
prints the cells whose execution raised the kernel's RSS the most (where the memory goes).

``--together A B``: a real ``jupyter lab`` server (no browser) opens both notebooks as JupyterLab does (``POST
/api/sessions``, one kernel each), runs their code cells at the same time, and samples every 50 ms the RSS of the
server process plus all its children (the two kernels): the peak of that sum, each kernel's own peak, and the sum
left after the last cells (kernels still open, as in a browser tab) are printed. The RSS sum counts TensorFlow's
shared-library pages (about 390 MB per kernel, the same files) once per kernel, but a container's memory limit
(Binder's cgroup) charges each page once: the sum of the processes' *proportional* set sizes (PSS, shared pages
split between the processes that map them) is what the limit sees, and is what is checked against 2000 MB. Run it
on a quiet machine: another process mapping the same libraries (a second TensorFlow) takes its share out of the PSS.

Prints markdown tables; exits 1 if a notebook fails or a limit is exceeded.

Data: Binder users load the full Fashion-MNIST (60,000 + 10,000 images), and memory grows with it. ``--data full``
(the default) therefore measures with a temporary KERAS_HOME holding full-size files in the loader's format, made
offline by repeating the images of ``../shared/datasets/fashion-mnist`` (or of the real cache, if that is all there
is); ``--data cache`` uses whatever KERAS_HOME (or a temporary copy of the shared subset) holds. ``~/.keras`` is never
written.

Usage: python benchmarks/notebook_memory.py [--data full|cache] [--cells] [--keep-executed DIR] [NOTEBOOK ...]
       (default: notebooks/*.ipynb)
       python benchmarks/notebook_memory.py [--data full|cache] --together [A B]   (default: notebooks 04 and 05)
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import psutil
from jupyter_client import BlockingKernelClient
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SHARED_FASHION_MNIST = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
LIMIT_MB = 1150.0  # one kernel (docs: architecture, "Notebooks")
PAIR_LIMIT_MB = 2000.0  # two kernels and the server (Binder's memory)
MB = 1e6
FULL_SIZE = {"train": 60_000, "t10k": 10_000}  # Fashion-MNIST's real sizes


@dataclass
class Measurement:
    notebook: str
    start_mb: float
    polled_peak_mb: float
    vmhwm_mb: float
    seconds: float
    error: str = ""
    end_mb: float = 0.0  # RSS after the last cell (what an open, idle kernel holds)
    cells: list[tuple[int, float, float, str]] = field(
        default_factory=list
    )  # (index, rise MB, peak MB, first line)

    @property
    def peak_mb(self) -> float:
        return max(self.polled_peak_mb, self.vmhwm_mb)


class RssPoller(threading.Thread):
    """Samples the RSS (or ``pss=True``: the PSS) of a process and its children until stopped; keeps the maximum
    (bytes)."""

    def __init__(self, pid: int, interval: float = 0.05, pss: bool = False):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.pss = pss
        self.peak = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_full_info().pss if self.pss else process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak = max(self.peak, self.sample())
            except psutil.NoSuchProcess:
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak

    def restart_peak(self) -> int:
        """The peak so far; from now on the peak starts again at the current RSS (per-cell peaks)."""
        peak, self.peak = self.peak, self.sample()
        return max(peak, self.peak)


def vmhwm_bytes(pid: int) -> int:
    """The process's peak RSS (``VmHWM``) from ``/proc/<pid>/status``; 0 where /proc is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return 0


def measure(path: Path, timeout: int, keep: Path | None = None) -> Measurement:
    """Execute one notebook in a new kernel whose working directory is the notebook's folder (written, with its
    outputs, into the folder ``keep`` if given: ``tests/test_claims.py`` reads it with ``CLAIMS_NOTEBOOKS``)."""
    notebook = nbformat.read(path, as_version=4)
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(path.parent))
    pid = manager.provisioner.pid
    try:
        ready = manager.client()
        ready.start_channels()
        ready.wait_for_ready(timeout=120)  # "kernel at start" = an idle, started kernel
        ready.stop_channels()
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=timeout,
            resources={"metadata": {"path": str(path.parent)}},
        )
        poller = RssPoller(pid)
        start_rss = poller.sample()
        poller.start()
        began = time.perf_counter()
        error = ""
        cells = []
        try:
            with (
                client.setup_kernel()
            ):  # the kernel started above; cells one by one to see each one's peak
                for index, cell in enumerate(notebook.cells):
                    poller.restart_peak()
                    before = poller.sample()
                    client.execute_cell(cell, index)
                    if cell.cell_type == "code":
                        peak = poller.restart_peak()
                        first = next(
                            (line for line in cell.source.splitlines() if line.strip()), ""
                        )
                        cells.append((index, (peak - before) / MB, peak / MB, first[:60]))
        except (
            Exception
        ) as exc:  # a failing cell: report it in the table, keep measuring the others
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        seconds = time.perf_counter() - began
        end_rss = poller.sample()
        polled = max(poller.stop(), max((c[2] for c in cells), default=0) * MB)
        hwm = vmhwm_bytes(pid)
    finally:
        manager.shutdown_kernel(now=True)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, keep / path.name)
    return Measurement(
        path.name, start_rss / MB, polled / MB, hwm / MB, seconds, error, end_rss / MB, cells
    )


def cell_table(result: Measurement, top: int = 6) -> str:
    """The ``top`` code cells of one run by how much they raised the RSS (where the memory goes)."""
    rows = [
        f"{result.notebook}: cells that raised the kernel's RSS most (after the last cell: {result.end_mb:.0f} MB)",
        "| cell | rise (MB) | peak during the cell (MB) | first line |",
        "|---:|---:|---:|---|",
    ]
    for index, rise, peak, first in sorted(result.cells, key=lambda c: -c[1])[:top]:
        rows.append(f"| {index} | {rise:+.0f} | {peak:.0f} | `{first.replace('|', '/')}` |")
    return "\n".join(rows)


@dataclass
class Together:
    notebooks: list[str]
    peak_mb: (
        float  # server + kernels, sampled: sum of PSS (each shared page once), what the limit sees
    )
    rss_peak_mb: float  # the same, as a sum of RSS (shared library pages counted once per process)
    kernel_peaks_mb: list[float]
    server_peak_mb: float
    end_mb: float  # server + kernels after both notebooks' last cells, kernels still open
    seconds: float
    errors: list[str]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _api(base: str, token: str, method: str, route: str, body: dict | None = None) -> dict | list:
    request = urllib.request.Request(
        f"{base}{route}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else {}


def _run_cells(connection_file: Path, path: Path, timeout: int) -> str:
    """Execute the notebook's code cells in the kernel of ``connection_file``; the first error, or ""."""
    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type != "code":
                continue
            reply = client.execute_interactive(
                cell.source, timeout=timeout, output_hook=lambda msg: None
            )
            if reply["content"]["status"] != "ok":
                return f"cell {index}: {reply['content'].get('ename')}: {reply['content'].get('evalue')}"
        return ""
    finally:
        client.stop_channels()


def measure_together(paths: list[Path], timeout: int) -> Together:
    """Open ``paths`` in one ``jupyter lab`` server as JupyterLab would and run them at the same time (see above)."""
    port, token = _free_port(), secrets.token_hex(16)
    runtime = Path(tempfile.mkdtemp(prefix="jupyter-runtime-"))
    env = os.environ | {"JUPYTER_RUNTIME_DIR": str(runtime)}
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        "--ServerApp.open_browser=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                _api(base, token, "GET", "/api/status")
                break
            except OSError:
                time.sleep(0.1)
        poller, rss_poller = RssPoller(server.pid, interval=0.1, pss=True), RssPoller(server.pid)
        poller.start()
        rss_poller.start()
        kernels = []
        for path in paths:
            session = _api(
                base,
                token,
                "POST",
                "/api/sessions",
                {
                    "path": str(path.relative_to(ROOT)),
                    "name": path.name,
                    "type": "notebook",
                    "kernel": {"name": "python3"},
                },
            )
            kernels.append(session["kernel"]["id"])
        files = [runtime / f"kernel-{kernel}.json" for kernel in kernels]
        pids = []
        for (
            file
        ) in files:  # the kernels are the server's children; match each to its connection file
            for _ in range(600):
                found = [
                    p
                    for p in psutil.Process(server.pid).children(recursive=True)
                    if str(file) in " ".join(p.cmdline())
                ]
                if found:
                    pids.append(found[0].pid)
                    break
                time.sleep(0.1)
        kernel_pollers = [RssPoller(pid) for pid in pids]
        for kernel_poller in kernel_pollers:
            kernel_poller.start()
        began = time.perf_counter()
        with ThreadPoolExecutor(len(paths)) as pool:
            errors = list(
                pool.map(lambda pair: _run_cells(pair[0], pair[1], timeout), zip(files, paths))
            )
        seconds = time.perf_counter() - began
        time.sleep(1.0)
        end = poller.sample()
        kernel_peaks = [kernel_poller.stop() / MB for kernel_poller in kernel_pollers]
        total, rss_total = poller.stop(), rss_poller.stop()
        server_only = psutil.Process(server.pid).memory_info().rss
        server_peak = vmhwm_bytes(server.pid) or server_only
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(runtime, ignore_errors=True)
    return Together(
        [p.name for p in paths],
        total / MB,
        rss_total / MB,
        kernel_peaks,
        server_peak / MB,
        end / MB,
        seconds,
        errors,
    )


def together_table(result: Together) -> str:
    ok = not any(result.errors) and result.peak_mb < PAIR_LIMIT_MB
    errors = "; ".join(e for e in result.errors if e)
    verdict = f"error: {errors}" if errors else ("yes" if ok else "**NO**")
    kernels = ", ".join(
        f"{name}: {peak:.0f}" for name, peak in zip(result.notebooks, result.kernel_peaks_mb)
    )
    return "\n".join(
        [
            "| notebooks run together in one JupyterLab server | peak, server + kernels, PSS sum (MB) "
            "| the same, RSS sum (MB) | each kernel's RSS peak (MB) | server peak (MB) "
            f"| after the last cells, PSS (MB) | wall time (s) "
            f"| < {PAIR_LIMIT_MB:.0f} MB |",
            "|---|---:|---:|---|---:|---:|---:|---|",
            f"| {' + '.join(result.notebooks)} | {result.peak_mb:.0f} | {result.rss_peak_mb:.0f} | {kernels} "
            f"| {result.server_peak_mb:.0f} | {result.end_mb:.0f} | {result.seconds:.1f} | {verdict} |",
        ]
    )


def _source_folder() -> Path:
    """Where the Fashion-MNIST files to copy or enlarge come from: the shared subset, else the current cache."""
    if SHARED_FASHION_MNIST.is_dir():
        return SHARED_FASHION_MNIST
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "fashion-mnist"


def _write_full_size(source: Path, target: Path) -> None:
    """Fashion-MNIST files at the real sizes, in the IDX format Keras's loader reads, by repeating the source images."""
    for split, count in FULL_SIZE.items():
        with gzip.open(source / f"{split}-labels-idx1-ubyte.gz", "rb") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        with gzip.open(source / f"{split}-images-idx3-ubyte.gz", "rb") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(labels), 28 * 28)
        index = np.arange(count) % len(labels)
        header = np.array([2049, count], ">i4").tobytes()
        with gzip.open(target / f"{split}-labels-idx1-ubyte.gz", "wb", compresslevel=1) as f:
            f.write(header + labels[index].tobytes())
        header = np.array([2051, count, 28, 28], ">i4").tobytes()
        with gzip.open(target / f"{split}-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
            f.write(header + images[index].tobytes())


def prepare_keras_home(data: str) -> Path | None:
    """Point KERAS_HOME at a temporary folder for the run (returned, to delete afterwards), or keep it (None)."""
    if data == "cache" and (os.environ.get("KERAS_HOME") or not SHARED_FASHION_MNIST.is_dir()):
        return None
    source = _source_folder()
    home = Path(tempfile.mkdtemp(prefix="keras-home-"))
    target = home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True)
    if data == "full":
        _write_full_size(source, target)
    else:
        for path in source.glob("*.gz"):
            shutil.copy(path, target / path.name)
    os.environ["KERAS_HOME"] = str(home)
    return home


def table(results: list[Measurement]) -> str:
    rows = [
        "| notebook | kernel at start (MB) | polled peak, kernel + children (MB) | VmHWM, kernel (MB) | wall time (s) "
        f"| < {LIMIT_MB:.0f} MB |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        verdict = f"error: {r.error}" if r.error else ("yes" if r.peak_mb < LIMIT_MB else "**NO**")
        rows.append(
            f"| {r.notebook} | {r.start_mb:.0f} | {r.polled_peak_mb:.0f} | {r.vmhwm_mb:.0f} | {r.seconds:.1f} "
            f"| {verdict} |"
        )
    return "\n".join(rows)


def peaks(results: list[Measurement]) -> str:
    """``PEAK_MB`` entries of ``helpers/session.py``: each notebook's peak (MB, rounded up) by its number."""
    entries = ", ".join(
        f"{int(r.notebook[:2])}: {math.ceil(r.peak_mb)}"
        for r in results
        if r.notebook[:2].isdigit()
    )
    return f"PEAK_MB = {{{entries}}}"


PAIR = ("04_lstm_with_and_without_clipping.ipynb", "05_choosing_the_threshold.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        help="default: notebooks/*.ipynb (with --together: 04 05)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    parser.add_argument(
        "--data",
        choices=("full", "cache"),
        default="full",
        help="full-size Fashion-MNIST (default) or the cache as is",
    )
    parser.add_argument(
        "--cells", action="store_true", help="also list the cells that raise the RSS most"
    )
    parser.add_argument(
        "--together", action="store_true", help="run the notebooks at the same time in one server"
    )
    parser.add_argument(
        "--keep-executed", type=Path, metavar="DIR", help="write each executed notebook into DIR"
    )
    args = parser.parse_args(argv)
    if args.together:
        paths = [p.resolve() for p in args.notebooks] or [
            ROOT / "notebooks" / name for name in PAIR
        ]
    else:
        paths = [p.resolve() for p in args.notebooks] or sorted(
            (ROOT / "notebooks").glob("*.ipynb")
        )
    if not paths:
        print("no notebooks to measure", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    home = prepare_keras_home(args.data)
    data = (
        "full-size Fashion-MNIST (60,000 + 10,000 images)"
        if args.data == "full"
        else "the Fashion-MNIST cache as is"
    )
    try:
        if args.together:
            print(
                f"running {' and '.join(p.name for p in paths)} together ...",
                file=sys.stderr,
                flush=True,
            )
            pair = measure_together(paths, args.timeout)
            print(together_table(pair))
            print(f"\nWith {data}, on {psutil.cpu_count()} cores; limit {PAIR_LIMIT_MB:.0f} MB.")
            return 0 if not any(pair.errors) and pair.peak_mb < PAIR_LIMIT_MB else 1
        results = []
        for path in paths:
            print(f"running {path.name} ...", file=sys.stderr, flush=True)
            results.append(measure(path, args.timeout, args.keep_executed))
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    print(table(results))
    if args.cells:
        for result in results:
            print("\n" + cell_table(result))
    print(
        f"\n{len(results)} notebook(s) with {data}, on {psutil.cpu_count()} cores; limit {LIMIT_MB:.0f} MB."
    )
    if args.data == "full" and not any(r.error for r in results):
        print(
            f"For helpers/session.py (each setup cell compares it with the memory left): {peaks(results)}"
        )
    return 0 if all(not r.error and r.peak_mb < LIMIT_MB for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
