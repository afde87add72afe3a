"""The data-parallel recipe (``clipping_optimizer``: clip after the all-reduce) across two worker processes of a
``MultiWorkerMirroredStrategy`` on 127.0.0.1 (a ``strategy.run`` loop) equals ``model.fit`` on one device on the same
global batches, to 1e-6 (notebook 06)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "distributed_cases.py"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_case(*args, env=None, timeout=300) -> dict:
    done = subprocess.run([sys.executable, str(CASES), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"case {args} failed:\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def test_two_workers_with_clipping_after_aggregation_equal_one_device(tmp_path):
    import keras

    sys.path.insert(0, str(ROOT / "tests"))
    import distributed_cases

    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes, outputs = [], []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        output = tmp_path / f"worker{index}.json"
        outputs.append(output)
        command = [sys.executable, str(CASES), "worker", str(output)]
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))  # fmt: skip
    try:
        errors = [p.communicate(timeout=300)[1] for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, error in zip(processes, errors):
        assert p.returncode == 0, error[-3000:]
    workers = [json.loads(path.read_text()) for path in outputs]
    assert [w["replicas"] for w in workers] == [2, 2]

    xs, ys = distributed_cases.batches()
    keras.backend.clear_session()
    import tensorflow as tf

    weights, norms = distributed_cases.lstm_fit(tf.distribute.get_strategy(), _ours, xs, ys)
    for worker in workers:
        for theirs, ours in zip(worker["weights"], weights, strict=True):
            np.testing.assert_allclose(np.array(theirs), np.array(ours), rtol=0, atol=1e-6)
        np.testing.assert_allclose(worker["norms"], norms, rtol=1e-5)
        assert len(worker["norms"]) == len(xs)


def _ours():
    import distributed_cases
    import keras

    from helpers import fit_clipping

    return fit_clipping.clipping_optimizer(
        keras.optimizers.SGD(distributed_cases.LEARNING_RATE), "global_norm", distributed_cases.THRESHOLD
    )


pytestmark = pytest.mark.timeout(600)
