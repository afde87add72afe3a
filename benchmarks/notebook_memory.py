"""Peak memory and wall time of each notebook, each executed top to bottom in its own fresh kernel.

mybinder.org gives a session at most 2 GB; every notebook must stay under 1.5 GB (1500 MB, 1 MB = 10^6 bytes).
Two measurements per notebook:

- *polled peak*: the largest resident set size (RSS) of the kernel process plus all its children, sampled every
  50 ms while the notebook runs (psutil);
- *VmHWM*: the kernel process's own RSS high-water mark, read by the Linux kernel from ``/proc/<pid>/status`` just
  before the kernel is shut down (exact, but excludes children).

The larger of the two is checked against the limit. Prints a markdown table; exits 1 if a notebook fails or exceeds
the limit.

Data: Binder users load the full Fashion-MNIST (60,000 + 10,000 images), and memory grows with it. ``--data full``
(the default) therefore measures with a temporary KERAS_HOME holding full-size files in the loader's format, made
offline by repeating the images of ``../shared/datasets/fashion-mnist`` (or of the real cache, if that is all there
is); ``--data cache`` uses whatever KERAS_HOME (or a temporary copy of the shared subset) holds. ``~/.keras`` is never
written.

Usage: python benchmarks/notebook_memory.py [--data full|cache] [NOTEBOOK ...]   (default: notebooks/*.ipynb)
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import psutil
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SHARED_FASHION_MNIST = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
LIMIT_MB = 1500.0
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


def seeded_keras_home() -> Path | None:
    """``prepare_keras_home("cache")``: a temporary copy of the shared subset when KERAS_HOME is unset (run_all.py)."""
    return prepare_keras_home("cache")


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
    parser.add_argument(
        "--data", choices=("full", "cache"), default="full", help="full-size Fashion-MNIST (default) or the cache as is"
    )
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks to measure", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    home = prepare_keras_home(args.data)
    try:
        results = []
        for path in paths:
            print(f"running {path.name} ...", file=sys.stderr, flush=True)
            results.append(measure(path, args.timeout))
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
    print(table(results))
    data = (
        "full-size Fashion-MNIST (60,000 + 10,000 images)" if args.data == "full" else "the Fashion-MNIST cache as is"
    )
    print(f"\n{len(results)} notebook(s) with {data}, on {psutil.cpu_count()} cores; limit {LIMIT_MB:.0f} MB.")
    return 0 if all(not r.error and r.peak_mb < LIMIT_MB for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
