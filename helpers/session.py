"""The memory of the JupyterLab session, printed by the setup cell of every notebook (01-06).

On Binder the server and every kernel still running share one container's memory limit (about 2 GB), and a
TensorFlow kernel peaks at 0.6-1.3 GB: a learner who leaves earlier notebooks running can run out in a later one.
``check_memory(notebook)`` prints one line when the container's limit can be read from its cgroup files (v2:
``memory.max`` and ``memory.current``; v1: ``memory.limit_in_bytes`` and ``memory.usage_in_bytes``), nothing where
there is no limit (a laptop), and warns once when what is left is less than this notebook still needs: then it
names the other notebooks' kernels and what they hold, and how to close them.

Other kernels are found in ``/proc`` (processes started with ``ipykernel_launcher``; the Jupyter server puts the
notebook's path in each kernel's environment as ``JPY_SESSION_NAME``), not by asking the server's REST API, which
would need the server's address and a token the kernel does not have. The kernels run as the same user, so their
``/proc`` files are readable without extra permissions.

MB here is 10^6 bytes.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from helpers import checks

#: The peak memory of each notebook's kernel (MB), by notebook number: the larger of the polled peak (kernel and
#: children) and VmHWM that ``python benchmarks/notebook_memory.py`` prints, with full-size Fashion-MNIST.
#: Update after a notebook changes (the script prints this dict).
PEAK_MB = {1: 639, 2: 727, 3: 868, 4: 1045, 5: 1158, 6: 973}
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")
MB = 1e6
UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a number near 2**63
CLOSE_HOW = (
    "close them (in each: File → Close and Shut Down Notebook; or shut their kernels down in the Running Terminals "
    "and Kernels panel of the left sidebar)"
)


@dataclass(frozen=True)
class Kernel:
    """Another notebook's kernel: its process id, its notebook's file name (or "" if unknown) and the memory it
    holds (bytes: its proportional set size, shared pages split between the processes that map them)."""

    pid: int
    notebook: str
    memory: int


def _read_int(path: Path) -> int | None:
    """The integer in a cgroup file; None if the file is missing, unreadable, "max" or not a number."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _own_cgroup(proc_root: Path, controller: str) -> str:
    """This process's cgroup path for ``controller`` ("" is cgroup v2's unified line) from ``/proc/self/cgroup``."""
    try:
        lines = (proc_root / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return "/"
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            return parts[2]
    return "/"


def container_memory(
    cgroup_root: str | os.PathLike = CGROUP_ROOT, proc_root: str | os.PathLike = PROC_ROOT
):
    """``(limit, used)`` in bytes of the tightest memory limit over this process's cgroup and its parents, or None
    when no limit can be read. cgroup v2 if ``cgroup_root`` holds ``cgroup.controllers``, else v1 (``memory/``)."""
    cgroup_root, proc_root = _folder("cgroup_root", cgroup_root), _folder("proc_root", proc_root)
    if (cgroup_root / "cgroup.controllers").is_file():
        base, own, limit_file, used_file = (
            cgroup_root,
            _own_cgroup(proc_root, ""),
            "memory.max",
            "memory.current",
        )
    else:
        base, limit_file, used_file = (
            cgroup_root / "memory",
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
        )
        own = _own_cgroup(proc_root, "memory")
    folder, found = base / own.strip("/"), []
    while (
        True
    ):  # from this process's cgroup up to the root (inside a container: the container's cgroup)
        limit = _read_int(folder / limit_file)
        used = _read_int(folder / used_file)
        if limit is not None and limit < UNLIMITED and used is not None:
            found.append((limit, used))
        if folder == base or base not in folder.parents:
            break
        folder = folder.parent
    return min(found) if found else None


def _folder(name: str, value) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(
            f"{name} must be a folder path (str or pathlib.Path), not {type(value).__name__}"
        )
    return Path(value)


def _proc_value(process: Path, sources: tuple[tuple[str, str], ...]) -> int | None:
    """The first ``(file, key)`` of ``sources`` found in the process's ``/proc`` folder, in bytes (read in kB)."""
    for name, key in sources:
        try:
            lines = (process / name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(key) and line.split()[1].isdigit():
                return int(line.split()[1]) * 1024
    return None


def _pss(process: Path) -> int | None:
    """Proportional set size (what a container's limit charges it), else resident set size, in bytes."""
    return _proc_value(process, (("smaps_rollup", "Pss:"), ("status", "VmRSS:")))


def _rss(process: Path) -> int | None:
    """Resident set size (bytes), as benchmarks/notebook_memory.py measures the peaks in ``PEAK_MB``."""
    return _proc_value(process, (("status", "VmRSS:"),))


def _own_pid(proc_root: Path) -> int:
    self_link = proc_root / "self"
    return int(self_link.resolve().name) if self_link.is_symlink() else os.getpid()


def other_kernels(proc_root: str | os.PathLike = PROC_ROOT) -> list[Kernel]:
    """The Jupyter kernels (``ipykernel_launcher`` processes) other than this one, largest memory first."""
    proc_root = _folder("proc_root", proc_root)
    own, kernels = _own_pid(proc_root), []
    for process in proc_root.iterdir() if proc_root.is_dir() else []:
        if not process.name.isdigit() or int(process.name) == own:
            continue
        try:
            arguments = (process / "cmdline").read_bytes().split(b"\0")
            if not any(argument.endswith(b"ipykernel_launcher") for argument in arguments):
                continue
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's
            continue
        session = next((e[17:] for e in environment if e.startswith(b"JPY_SESSION_NAME=")), b"")
        memory = _pss(process)
        if memory is not None:
            name = os.path.basename(session.decode(errors="replace"))
            kernels.append(Kernel(int(process.name), name, memory))
    return sorted(kernels, key=lambda kernel: -kernel.memory)


def memory_report(
    notebook: int,
    cgroup_root: str | os.PathLike = CGROUP_ROOT,
    proc_root: str | os.PathLike = PROC_ROOT,
) -> tuple[str, str | None] | None:
    """``(line, warning)`` for notebook ``notebook`` (1-6), or None without a container limit. ``warning`` (or
    None) is given when the memory left is less than the notebook's peak (``PEAK_MB``) minus what its kernel (this
    process) holds now."""
    number = checks.positive_int("notebook", notebook, minimum=min(PEAK_MB), maximum=max(PEAK_MB))
    memory = container_memory(cgroup_root, proc_root)
    if memory is None:
        return None
    limit, used = memory
    left = max(limit - used, 0)
    peak = PEAK_MB[number] * MB
    needed = max(peak - (_rss(Path(proc_root) / "self") or 0), 0)
    line = (
        f"Session memory: {used / MB:,.0f} MB of {limit / MB:,.0f} MB in use, {left / MB:,.0f} MB left; notebook "
        f"{number:02d} peaks at about {peak / MB:,.0f} MB, {needed / MB:,.0f} MB more than its kernel holds now."
    )
    if left >= needed:
        return line, None
    kernels = other_kernels(proc_root)
    held = ", ".join(
        f"{k.notebook or f'a kernel (process {k.pid})'}: {k.memory / MB:,.0f} MB" for k in kernels
    )
    fix = (
        f"Other notebooks' kernels are still running ({held}): {CLOSE_HOW}, then go on with this notebook."
        if kernels
        else "No other notebook's kernel is running: the server, this kernel and other processes hold the rest, "
        "so this notebook may not fit in this session."
    )
    warning = (
        f"Only {left / MB:,.0f} MB of the session's memory are left and this notebook needs about "
        f"{needed / MB:,.0f} MB more: its kernel may die. {fix}"
    )
    return line, warning


def check_memory(
    notebook: int,
    *,
    cgroup_root: str | os.PathLike = CGROUP_ROOT,
    proc_root: str | os.PathLike = PROC_ROOT,
) -> None:
    """Print the session's memory for notebook ``notebook`` (1-6) when a container limit can be read (nothing
    otherwise), and warn when it is too little for this notebook (see ``memory_report``)."""
    report = memory_report(notebook, cgroup_root, proc_root)
    if report is None:
        return
    line, warning = report
    print(line)
    if warning:
        warnings.warn(warning, stacklevel=2)
