"""Does the learner spec install and run on every supported Python this machine has? One fresh virtualenv each.

For each CPython among 3.11, 3.12 and 3.13 found under ``~/.pyenv/versions/3.1x.*`` (the newest patch release of
each; ``--python PATH`` to give others), in a temporary folder:

1. a copy of the repository's tracked files (so ``-e .`` installs the copy, not this checkout);
2. ``python -m venv`` with that Python's own pip (as a newcomer gets it, not upgraded);
3. ``pip download`` of the spec into a wheelhouse (the download: its size and time), then ``pip install
   --no-index --find-links wheelhouse -r requirements.txt`` (the install: its time; the venv's size on disk and its
   package count afterwards). ``--spec dev`` measures ``requirements-dev.txt`` instead;
4. ``nbval`` and ``pytest`` (the pins of requirements-dev.txt) added on top, then notebooks 01 and 03 executed by
   ``pytest --nbval-lax`` with a temporary ``KERAS_HOME`` seeded from ``../shared/datasets/fashion-mnist`` (or from
   the current Keras cache when there is no ``../shared``; with neither, the notebooks download the dataset).

Prints a markdown table: python, installed ok, download (MB), download s, install s, venv size (MB), packages,
nb01 ok, nb03 ok. Exits 1 when any row fails. Slow (minutes per Python): run it in the background.

Usage: python benchmarks/install_matrix.py [--spec learner|dev] [--no-notebooks] [--python PATH ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_FASHION_MNIST = ROOT.parent / "shared" / "datasets" / "fashion-mnist"
SUPPORTED = ("3.11", "3.12", "3.13")
NOTEBOOKS = ("01_what_exploding_gradients_are.ipynb", "03_how_clipping_works.ipynb")
MB = 1e6


@dataclass
class Row:
    python: str
    installed: bool = False
    download_mb: float = float("nan")
    download_s: float = float("nan")
    install_s: float = float("nan")
    venv_mb: float = float("nan")
    packages: int = 0
    notebooks: dict[str, bool | None] | None = None
    error: str = ""


def pyenv_pythons() -> list[Path]:
    """The newest ``~/.pyenv/versions/3.1x.y/bin/python`` for each supported minor version present."""
    versions = Path.home() / ".pyenv" / "versions"
    found = []
    for minor in SUPPORTED:
        candidates = [
            p
            for p in versions.glob(f"{minor}.*")
            if re.fullmatch(rf"{re.escape(minor)}\.\d+", p.name)
        ]
        candidates.sort(key=lambda p: int(p.name.rsplit(".", 1)[1]))
        if candidates and (candidates[-1] / "bin" / "python").exists():
            found.append(candidates[-1] / "bin" / "python")
    return found


def dev_pins(*names: str) -> list[str]:
    """The exact pins of ``names`` in requirements-dev.txt (one source of truth for the test tools' versions)."""
    pins = {}
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if "==" in entry:
            pins[entry.split("==")[0].strip().lower()] = entry
    return [pins[name] for name in names]


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def copy_repository(target: Path) -> None:
    """The files git tracks (and untracked, not ignored ones), as a fresh clone would have them."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listing):
        source = ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def seed_keras_home(home: Path) -> bool:
    """Put the four Fashion-MNIST files into ``home/datasets/fashion-mnist``; False when there is no source."""
    source = SHARED_FASHION_MNIST
    if not source.is_dir():
        source = (
            Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
            / "datasets"
            / "fashion-mnist"
        )
    files = sorted(source.glob("*.gz")) if source.is_dir() else []
    if len(files) < 4:
        return False
    target = home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True)
    for path in files:
        shutil.copy(path, target / path.name)
    return True


def run(command: list[str], log: Path, **kwargs) -> tuple[bool, float]:
    began = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(map(str, command))}\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    return result.returncode == 0, time.perf_counter() - began


def last_lines(log: Path, n: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])


def measure(python: Path, spec: str, notebooks: bool, work: Path) -> Row:
    version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    row = Row(python=version or str(python))
    log = work / "log.txt"
    repo, venv, wheels = work / "repo", work / "venv", work / "wheelhouse"
    copy_repository(repo)
    env = {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "KERAS_HOME", "PYTHONPATH"}
    }
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    )
    ok, _ = run([str(python), "-m", "venv", str(venv)], log, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    requirements = "requirements-dev.txt" if spec == "dev" else "requirements.txt"
    # pip download cannot fetch the editable `-e .` (it is this repository): everything else, plus the build backend.
    learner = work / "learner.download.txt"
    learner.write_text((repo / "requirements.txt").read_text().replace("\n-e .\n", "\n"))
    top = learner
    if spec == "dev":
        top = work / "dev.download.txt"
        top.write_text(
            (repo / "requirements-dev.txt")
            .read_text()
            .replace("-r requirements.txt", f"-r {learner}")
        )
    downloadable = work / "download.txt"
    downloadable.write_text(f"-r {top}\nsetuptools>=68\n")
    if ok:
        ok, row.download_s = run(
            [*pip, "download", "-d", str(wheels), "-r", str(downloadable)], log, env=env
        )
        row.download_mb = folder_bytes(wheels) / MB if wheels.exists() else float("nan")
    if ok:
        ok, row.install_s = run(
            [*pip, "install", "--no-index", "--find-links", str(wheels), "-r", requirements],
            log,
            env=env,
            cwd=repo,
        )
    row.installed = ok
    if not ok:
        row.error = last_lines(log)
        return row
    row.venv_mb = folder_bytes(venv) / MB
    listing = subprocess.run(
        [*pip, "list", "--format=freeze"], capture_output=True, text=True, env=env
    ).stdout
    row.packages = len([line for line in listing.splitlines() if line.strip()])
    if not notebooks:
        return row
    row.notebooks = dict.fromkeys(NOTEBOOKS)
    if spec != "dev":
        ok, _ = run([*pip, "install", *dev_pins("nbval", "pytest")], log, env=env)
        if not ok:
            row.error = last_lines(log)
            return row
    keras_home = work / "keras-home"
    keras_home.mkdir()
    if seed_keras_home(keras_home):
        env["KERAS_HOME"] = str(keras_home)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", MPLBACKEND="Agg")
    for name in NOTEBOOKS:
        ok, _ = run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pytest",
                "-q",
                "--nbval-lax",
                "-p",
                "no:cacheprovider",
                f"notebooks/{name}",
            ],
            log,
            env=env,
            cwd=repo,
            timeout=1200,
        )
        row.notebooks[name] = ok
        if not ok:
            row.error = last_lines(log)
    return row


def table(rows: list[Row], spec: str) -> str:
    def mark(value: bool | None) -> str:
        return "—" if value is None else ("yes" if value else "**NO**")

    lines = [
        f"| python | {spec} spec installed | download (MB) | download (s) | install (s) | venv on disk (MB) "
        "| packages | nb01 ran | nb03 ran |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        runs = r.notebooks or {}
        lines.append(
            f"| {r.python} | {mark(r.installed)} | {r.download_mb:.0f} | {r.download_s:.0f} | {r.install_s:.0f} "
            f"| {r.venv_mb:.0f} | {r.packages} | {mark(runs.get(NOTEBOOKS[0]))} | {mark(runs.get(NOTEBOOKS[1]))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python", type=Path, nargs="*", help="interpreters (default: pyenv's 3.11, 3.12, 3.13)"
    )
    parser.add_argument("--spec", choices=("learner", "dev"), default="learner")
    parser.add_argument("--no-notebooks", action="store_true", help="measure the install only")
    args = parser.parse_args(argv)
    pythons = args.python or pyenv_pythons()
    if not pythons:
        print(
            "no Python 3.11-3.13 found under ~/.pyenv/versions (pass --python PATH)",
            file=sys.stderr,
        )
        return 1
    rows = []
    for python in pythons:
        print(f"== {python}: fresh virtualenv, {args.spec} spec ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="install-matrix-") as work:
            row = measure(python, args.spec, not args.no_notebooks, Path(work))
        if row.error:
            print(f"   {row.python} failed:\n{row.error}", file=sys.stderr, flush=True)
        rows.append(row)
        print(table(rows[-1:], args.spec).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(rows, args.spec))
    data = (
        "the shared subset"
        if SHARED_FASHION_MNIST.is_dir()
        else "the user's Keras cache (or a download)"
    )
    print(
        f"\nNotebooks ran with Fashion-MNIST from {data}; sizes in MB = 10^6 bytes; machine shared, times noisy."
    )
    good = all(r.installed and not r.error for r in rows)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
