"""Peak memory and wall time of each notebook, each executed top to bottom in its own fresh kernel.

mybinder.org gives a session at most 2 GB; every notebook must stay under 1.5 GB (1500 MB, 1 MB = 10^6 bytes).
Two measurements per notebook:

- *polled peak*: the largest resident set size (RSS) of the kernel process plus all its children, sampled every
  50 ms while the notebook runs (psutil);
- *VmHWM*: the kernel process's own RSS high-water mark, read by the Linux kernel from ``/proc/<pid>/status`` just
  before the kernel is shut down (exact, but excludes children).

The larger of the two is checked against the limit. Prints a markdown table; exits 1 if a notebook fails or exceeds
the limit. Offline, set KERAS_HOME to a seeded copy, or let the script seed a temporary one from
``../shared/datasets/fashion-mnist`` (it never writes into ``~/.keras``).

Usage: python benchmarks/notebook_memory.py [NOTEBOOK ...]   (default: notebooks/*.ipynb)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SHARED_FASHION_MNIST = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
LIMIT_MB = 1500.0
MB = 1e6


@dataclass
class Measurement:
    notebook: str
    start_mb: float
    polled_peak_mb: float
    vmhwm_mb: float
    seconds: float
    error: str = ""

    @property
    def peak_mb(self) -> float:
        return max(self.polled_peak_mb, self.vmhwm_mb)


class RssPoller(threading.Thread):
    """Samples the RSS of a process and its children until stopped; keeps the maximum (bytes)."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
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


def vmhwm_bytes(pid: int) -> int:
    """The process's peak RSS (``VmHWM``) from ``/proc/<pid>/status``; 0 where /proc is not available."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return 0


def measure(path: Path, timeout: int) -> Measurement:
    """Execute one notebook in a new kernel whose working directory is the notebook's folder."""
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
            notebook, km=manager, timeout=timeout, resources={"metadata": {"path": str(path.parent)}}
        )
        poller = RssPoller(pid)
        start_rss = poller.sample()
        poller.start()
        began = time.perf_counter()
        error = ""
        try:
            client.execute()
        except Exception as exc:  # a failing cell: report it in the table, keep measuring the others
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        seconds = time.perf_counter() - began
        polled = poller.stop()
        hwm = vmhwm_bytes(pid)
    finally:
        manager.shutdown_kernel(now=True)
    return Measurement(path.name, start_rss / MB, polled / MB, hwm / MB, seconds, error)


def seeded_keras_home() -> Path | None:
    """A temporary KERAS_HOME seeded from ../shared when KERAS_HOME is unset and the subset exists (offline)."""
    if os.environ.get("KERAS_HOME") or not SHARED_FASHION_MNIST.is_dir():
        return None
    home = Path(tempfile.mkdtemp(prefix="keras-home-"))
    target = home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True)
    for source in SHARED_FASHION_MNIST.glob("*.gz"):
        shutil.copy(source, target / source.name)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks to measure", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    home = seeded_keras_home()
    try:
        results = []
        for path in paths:
            print(f"running {path.name} ...", file=sys.stderr, flush=True)
            results.append(measure(path, args.timeout))
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    print(table(results))
    print(f"\n{len(results)} notebook(s) on {psutil.cpu_count()} cores; limit {LIMIT_MB:.0f} MB (mybinder.org: 2 GB).")
    return 0 if all(not r.error and r.peak_mb < LIMIT_MB for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
