"""helpers.session: the setup cell's memory line, read from a fake cgroup folder and a fake /proc (cgroup v2 and v1,
no limit, a limit on a parent cgroup), the warning that names the other notebooks' kernels, and the /proc scan on a
real kernel process started with the environment the Jupyter server gives a notebook's kernel."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager

from helpers import session

MB = 10**6
KB = 1024
NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def _cgroup_v2(root: Path, limit: str, used: int, own: str = "/") -> Path:
    """A cgroup v2 tree: the limit and usage in the cgroup ``own`` (below ``root``)."""
    folder = root / own.strip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.current").write_text(f"{used}\n")
    return root


def _cgroup_v1(root: Path, limit: int, used: int) -> Path:
    (root / "memory").mkdir(parents=True)
    (root / "memory" / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (root / "memory" / "memory.usage_in_bytes").write_text(f"{used}\n")
    return root


def _process(
    proc: Path, pid: int, cmdline: list[str], env: dict[str, str], pss_mb: int, rss_mb: int
) -> Path:
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    (folder / "cmdline").write_bytes(b"\0".join(part.encode() for part in cmdline) + b"\0")
    (folder / "environ").write_bytes(
        b"\0".join(f"{k}={v}".encode() for k, v in env.items()) + b"\0"
    )
    (folder / "smaps_rollup").write_text(
        f"00400000-ff rw-p 0 [rollup]\nRss: {rss_mb * MB // KB} kB\nPss:  {pss_mb * MB // KB} kB\n"
    )
    (folder / "status").write_text(
        f"Name:\tpython\nVmHWM:\t{rss_mb * MB // KB} kB\nVmRSS:\t{rss_mb * MB // KB} kB\n"
    )
    return folder


KERNEL = [
    "/srv/conda/envs/notebook/bin/python",
    "-m",
    "ipykernel_launcher",
    "-f",
    "/tmp/kernel-1.json",
]


@pytest.fixture
def proc(tmp_path) -> Path:
    """A fake /proc: this kernel (pid 100, 600 MB resident, cgroup v2 "0::/"), notebook 01's and 02's kernels, the
    server, and a kernel that nbconvert started (no notebook name)."""
    root = tmp_path / "proc"
    own = _process(
        root, 100, KERNEL, {"JPY_SESSION_NAME": "/home/jovyan/notebooks/05_x.ipynb"}, 550, 600
    )
    (own / "cgroup").write_text("0::/\n")
    (root / "self").symlink_to(own)
    _process(
        root, 200, KERNEL, {"JPY_SESSION_NAME": "/home/jovyan/notebooks/01_first.ipynb"}, 480, 640
    )
    _process(root, 300, KERNEL, {"HOME": "/home/jovyan"}, 300, 500)
    _process(root, 400, [*KERNEL[:2], "jupyterlab", "--ip=0.0.0.0"], {}, 120, 150)
    _process(
        root, 500, KERNEL, {"JPY_SESSION_NAME": "/home/jovyan/notebooks/02_second.ipynb"}, 510, 700
    )
    return root


def test_cgroup_v2_limit_and_usage(tmp_path, proc):
    root = _cgroup_v2(tmp_path / "cgroup", str(2_000 * MB), 900 * MB)
    assert session.container_memory(root, proc) == (2_000 * MB, 900 * MB)


def test_cgroup_v1_limit_and_usage(tmp_path, proc):
    root = _cgroup_v1(tmp_path / "cgroup", 2_048 * MB, 1_000 * MB)
    assert session.container_memory(root, proc) == (2_048 * MB, 1_000 * MB)


def test_no_limit_prints_nothing(tmp_path, proc, capsys):
    """cgroup v2 "max", cgroup v1's huge number, no memory files at all, no cgroup folder (macOS, Windows)."""
    host = (
        tmp_path / "host"
    )  # cgroup v2's root cgroup has no memory.max (a laptop's process at the root)
    host.mkdir()
    (host / "cgroup.controllers").write_text("memory\n")
    roots = [
        _cgroup_v2(tmp_path / "v2", "max", 900 * MB),
        _cgroup_v1(tmp_path / "v1", 9223372036854771712, 900 * MB),
        host,
        tmp_path / "missing",
    ]
    for root in roots:
        assert session.container_memory(root, proc) is None, root
        assert session.memory_report(5, root, proc) is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            session.check_memory(5, cgroup_root=root, proc_root=proc)
    assert capsys.readouterr().out == ""


def test_the_tightest_limit_of_the_own_cgroup_and_its_parents(tmp_path, proc):
    """On a host a process sits deep in the hierarchy: its own cgroup may say "max" while a parent is limited."""
    own = "/user.slice/user-1000.slice/session-3.scope"
    root = _cgroup_v2(tmp_path / "cgroup", "max", 700 * MB, own=own)
    _cgroup_v2(root, str(3_000 * MB), 1_200 * MB, own="/user.slice/user-1000.slice")
    _cgroup_v2(root, str(8_000 * MB), 5_000 * MB, own="/user.slice")
    (proc / "100" / "cgroup").write_text(f"0::{own}\n")
    assert session.container_memory(root, proc) == (3_000 * MB, 1_200 * MB)


def test_enough_memory_prints_one_line_and_no_warning(tmp_path, proc, capsys):
    root = _cgroup_v2(tmp_path / "cgroup", str(2_000 * MB), 800 * MB)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session.check_memory(1, cgroup_root=root, proc_root=proc)
    peak = session.PEAK_MB[1]
    more = max(peak - 600, 0)
    assert capsys.readouterr().out == (
        f"Session memory: 800 MB of 2,000 MB in use, 1,200 MB left; notebook 01 peaks at about {peak:,} MB, "
        f"{more:,} MB more than its kernel holds now.\n"
    )


def test_too_little_memory_warns_once_naming_the_other_kernels(tmp_path, proc, capsys, monkeypatch):
    monkeypatch.setitem(session.PEAK_MB, 5, 1_268)
    root = _cgroup_v2(tmp_path / "cgroup", str(2_000 * MB), 1_500 * MB)
    with pytest.warns(UserWarning) as caught:
        session.check_memory(5, cgroup_root=root, proc_root=proc)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(
        "Only 500 MB of the session's memory are left and this notebook needs about 668 MB more"
    )
    # largest first, by name; the server (no ipykernel_launcher) and this kernel are not listed
    assert (
        "(02_second.ipynb: 510 MB, 01_first.ipynb: 480 MB, a kernel (process 300): 300 MB)"
        in message
    )
    assert "05_x.ipynb" not in message and "150 MB" not in message
    assert (
        "File → Close and Shut Down Notebook" in message
        and "Running Terminals and Kernels" in message
    )
    assert caught[0].filename == __file__, (
        "the warning points at the caller (the setup cell), not at helpers"
    )
    assert capsys.readouterr().out.startswith(
        "Session memory: 1,500 MB of 2,000 MB in use, 500 MB left"
    )


def test_too_little_memory_and_no_other_kernel(tmp_path, proc, monkeypatch):
    for pid in (200, 300, 500):
        (proc / str(pid) / "cmdline").write_bytes(b"bash\0")
    root = _cgroup_v1(tmp_path / "cgroup", 1_000 * MB, 900 * MB)
    _, warning = session.memory_report(4, root, proc)
    assert "No other notebook's kernel is running" in warning and "may not fit" in warning


@pytest.mark.parametrize(
    ("notebook", "error", "match"),
    [
        (0, ValueError, "notebook must be an integer >= 1"),
        (7, ValueError, "notebook must be an integer <= 6"),
        ("05", TypeError, "notebook must be an integer"),
        (True, TypeError, "notebook must be an integer"),
    ],
)
def test_bad_notebook_number(notebook, error, match):
    with pytest.raises(error, match=match):
        session.check_memory(notebook)


def test_bad_folders():
    with pytest.raises(TypeError, match="cgroup_root must be a folder path"):
        session.check_memory(1, cgroup_root=3)
    with pytest.raises(TypeError, match="proc_root must be a folder path"):
        session.check_memory(1, proc_root=None)


def test_every_notebook_has_a_measured_peak():
    numbers = sorted(int(path.name[:2]) for path in NOTEBOOKS.glob("0*.ipynb"))
    assert sorted(session.PEAK_MB) == numbers
    assert all(500 < peak < 2_000 for peak in session.PEAK_MB.values())


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux's /proc")
def test_finds_a_real_kernel_by_its_notebook(tmp_path):
    """A real ipykernel, started with the JPY_SESSION_NAME the Jupyter server sets, is found in the real /proc."""
    manager = KernelManager(kernel_name="python3")
    notebook = tmp_path / "03_a_notebook.ipynb"
    manager.start_kernel(env={**os.environ, "JPY_SESSION_NAME": str(notebook)}, cwd=str(tmp_path))
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        client.stop_channels()
        found = {kernel.pid: kernel for kernel in session.other_kernels()}
        kernel = found.get(manager.provisioner.pid)
        assert kernel is not None, f"kernel {manager.provisioner.pid} not among {found}"
        assert kernel.notebook == notebook.name
        assert 10 * MB < kernel.memory < 2_000 * MB
        assert os.getpid() not in found
    finally:
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0*.ipynb")), ids=lambda path: path.name[:2])
def test_each_notebook_checks_its_own_memory_and_says_how_to_close_it(path):
    """The setup cell (the one that checks versions) calls the check once with the notebook's own number, and the
    last "What's next" tells the learner to close the notebook the way that frees its memory."""
    cells = nbformat.read(path, as_version=4).cells
    calls = [cell for cell in cells if "session.check_memory(" in cell.source]
    assert len(calls) == 1 and "helpers.check_versions()" in calls[0].source, path.name
    assert f"session.check_memory(notebook={int(path.name[:2])})" in calls[0].source
    text = [
        cell.source
        for cell in cells
        if cell.cell_type == "markdown" and "What's next" in cell.source
    ]
    assert text, f"{path.name} has no What's next"
    closing = " ".join(text[-1].split("What's next", 1)[1].split())
    assert "File → Close and Shut Down Notebook" in closing, path.name
