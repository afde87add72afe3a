"""Steps per compiled call (``training.train``'s ``chunk``): peak memory and time, side by side.

Each trial is a fresh Python process that imports the helpers, loads full-size Fashion-MNIST as notebooks 04 and 05 do
(uint8) and runs notebook 05's first training: ``train_seeds`` of the unclipped setting at learning rate 1.0, 5 seeds,
``--steps`` steps, compile included (what a learner waits for). It reports the call's wall time and the process's peak
resident size (VmHWM). Chunk sizes are tried in turn, ``--repeats`` rounds, and the medians compared with the first
size, so other work on the machine slows every size alike. The histories are hashed: every size must give the same
numbers (a chunk is only how many steps one compiled call runs).

    python benchmarks/chunk_size.py [--sizes 100 50 25] [--steps 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

TRIAL = """
import hashlib, json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import numpy as np
from helpers import data, seed_everything, training
from helpers.training import Setting

seed_everything(42)
(x, y), _ = data.load_fashion_mnist(scaled=False)
start = time.perf_counter()
runs = training.train_seeds(
    Setting("none", learning_rate=1.0, momentum=0.9), (x, y), int(sys.argv[1]), seeds=5,
    chunk=int(sys.argv[2]), progress=False,
)
seconds = time.perf_counter() - start
digest = hashlib.md5(b"".join(h.loss.tobytes() + h.grad_norm.tobytes() for h in runs.histories[0]))
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "digest": digest.hexdigest()}))
"""


def trial(steps: int, size: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", TRIAL, str(steps), str(size)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 50, 25])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        raise SystemExit("chunk_size.py reads /proc/self/status (VmHWM): run it on Linux")

    from notebook_memory import prepare_keras_home  # full-size data in a temporary KERAS_HOME

    home = prepare_keras_home("full")
    try:
        results: dict[int, list[dict]] = {size: [] for size in args.sizes}
        for round_ in range(args.repeats):
            for size in args.sizes:
                results[size].append(trial(args.steps, size))
                print(f"round {round_ + 1}, chunk {size}: {results[size][-1]}", flush=True)
    finally:
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)

    base = args.sizes[0]
    median = {
        s: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_mb")}
        for s, runs in results.items()
    }
    print(
        f"\n{args.steps} steps x 5 seeds, full-size data, medians of {args.repeats} fresh processes each"
    )
    print(
        "| chunk | time (s) | time / chunk "
        + str(base)
        + " | peak (MB) | peak - chunk "
        + str(base)
        + " (MB) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        m = median[size]
        print(
            f"| {size} | {m['seconds']:.1f} | {m['seconds'] / median[base]['seconds']:.2f} "
            f"| {m['peak_mb']:.0f} | {m['peak_mb'] - median[base]['peak_mb']:+.0f} |"
        )
    digests = {r["digest"] for runs in results.values() for r in runs}
    print(
        "same numbers at every chunk size:",
        "yes" if len(digests) == 1 else f"NO ({len(digests)} digests)",
    )
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
