"""Did a change make the trainer or the widgets slower? The speed benchmarks of an older commit and of this working
tree, run in turn on the same machine, their key numbers side by side.

The older commit is checked out into a temporary ``git worktree`` and put first on ``PYTHONPATH``, so its
``helpers`` (and its benchmark scripts) run with this virtualenv. Each benchmark runs in the order old, new, new,
old (so a machine getting busier or quieter during the run slows both sides alike), and the medians are compared.
The numbers compared are the ones each script measures against a reference in the same process (ratios to one
``model.fit`` run, or to ``Figure.savefig``) where it prints one, else its median time. Run from the repository
root:

    python benchmarks/compare_commits.py BASE [--new REV] [--scripts trainer_speed lab_update ...]

Prints one table: benchmark, number, old, new, new/old (above 1.10: more than 10 % slower).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from notebook_memory import prepare_keras_home  # noqa: E402  (same folder)

#: What to read in each script's output: (name, regular expression whose first group is the number).
METRICS = {
    "trainer_speed": [
        ("(a) 1 setting / fit", r"\(a\) 1 setting\s+([\d.]+)"),
        ("(b) 8 settings / fit", r"\(b\) 8 settings\s+([\d.]+)"),
        ("(c) 8 x 5 seeds / fit", r"\(c\) 8 settings x 5 seeds\s+([\d.]+)"),
    ],
    "lab_update": [
        ("(a) new threshold / fit", r"\(a\) new threshold.*?run: ([\d.]+)"),
        ("(b) new learning rate / fit", r"\(b\) new learning rate.*?run: ([\d.]+)"),
    ],
    "widget_update_rnn": [
        (f"{cell} T={t} (s)", rf"^{cell}\s+[\d.]+" + r"\s+[\d.]+\s+[\d.]+" * i + r"\s+([\d.]+)")
        for cell in ("SimpleRNN", "GRU", "LSTM")
        for i, t in enumerate((50, 100, 200))
    ],
    "widget_update_thresholds": [
        ("update (ms)", r"one update.*?(\d+) ms"),
        ("update / savefig", r"ratio update / savefig: ([\d.]+)"),
    ],
}
ARGUMENTS = {"trainer_speed": ["--repeats", "3"]}


def run(script: str, tree: Path) -> str:
    """The output of ``benchmarks/<script>.py`` of ``tree``, run with ``tree``'s ``helpers``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / f"{script}.py"), *ARGUMENTS.get(script, [])],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed in {tree}:\n{result.stderr[-3000:]}")
    return result.stdout


def numbers(script: str, output: str) -> dict[str, float]:
    """The metrics of ``METRICS[script]`` found in ``output``."""
    found = {}
    for name, pattern in METRICS[script]:
        match = re.search(pattern, output, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the older commit (e.g. a hash or HEAD~5)")
    parser.add_argument("--new", help="a newer commit to compare instead of this working tree")
    parser.add_argument("--scripts", nargs="+", default=list(METRICS), choices=list(METRICS))
    args = parser.parse_args()
    home = prepare_keras_home("full")  # both sides read the same full-size Fashion-MNIST
    with tempfile.TemporaryDirectory(prefix="bench-base-") as folder:
        old, new = Path(folder) / "old", Path(folder) / "new" if args.new else ROOT
        for tree, revision in ((old, args.base), (new, args.new)):
            if revision:
                subprocess.run(
                    ["git", "worktree", "add", "--detach", str(tree), revision],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                )
        try:
            rows = []
            for script in args.scripts:
                runs = {"old": [], "new": []}
                for side in ("old", "new", "new", "old"):
                    output = run(script, old if side == "old" else new)
                    runs[side].append(numbers(script, output))
                    print(f"--- {script} ({side})\n{output.strip()}\n", flush=True)
                for name, _ in METRICS[script]:
                    values = [[r[name] for r in runs[side] if name in r] for side in ("old", "new")]
                    if all(values):
                        a, b = statistics.median(values[0]), statistics.median(values[1])
                        rows.append((script, name, a, b, b / a if a else float("nan")))
        finally:
            for tree in {old, new} - {ROOT}:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
                )
            if home is not None:
                shutil.rmtree(home, ignore_errors=True)
    print(
        f"old = {args.base}, new = {args.new or 'this working tree'}; "
        "medians of 2 runs each (order old, new, new, old)\n"
    )
    print(f"{'benchmark':<26} {'number':<28} {'old':>8} {'new':>8} {'new/old':>8}")
    for script, name, a, b, ratio in rows:
        flag = "  more than 10 % slower" if ratio > 1.10 else ""
        print(f"{script:<26} {name:<28} {a:>8.3g} {b:>8.3g} {ratio:>8.2f}{flag}")


if __name__ == "__main__":
    main()
