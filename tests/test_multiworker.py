"""The take-home tools across two worker processes of a ``MultiWorkerMirroredStrategy`` on 127.0.0.1 (a
``strategy.run`` loop; notebook 06): ``clipping_optimizer`` (clip after the all-reduce) equals ``model.fit`` on one
device on the same global batches, to 1e-6; ``fit_clipping.LossScaleOptimizer`` in ``mixed_float16``, where one
worker's loss overflows float16 and the other's does not, skips the same steps on both workers as one device does.
Every wait has a timeout: a worker that hangs fails the test instead of blocking the run."""

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
TIMEOUT = 300  # seconds for a whole two-worker run (about 30 s on a loaded 2-core machine)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_case(*args, env=None, timeout=TIMEOUT) -> dict:
    done = subprocess.run(
        [sys.executable, str(CASES), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"case {args} failed:\n{done.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def start_workers(
    folder: Path, case: str, *args
) -> tuple[list[subprocess.Popen], list[Path], list[Path]]:
    """Two processes of ``distributed_cases.py <case> <args> <output>`` forming one cluster (``TF_CONFIG``);
    their outputs and stderr files in ``folder``."""
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes, outputs, logs = [], [], []
    for index in range(2):
        env = dict(
            os.environ,
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        outputs.append(folder / f"{case}{index}.json")
        logs.append(folder / f"{case}{index}.log")
        with open(logs[-1], "w") as log:
            command = [sys.executable, str(CASES), case, *args, str(outputs[-1])]
            processes.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
            )
    return processes, outputs, logs


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.kill()
            p.wait()


def finish_workers(folder: Path, case: str, *args) -> list[dict]:
    """Runs the two workers to the end (at most ``TIMEOUT`` seconds) and reads their outputs."""
    processes, outputs, logs = start_workers(folder, case, *args)
    try:
        for p in processes:
            try:
                p.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(
                    f"the workers of {case} {args} did not finish in {TIMEOUT} s (a hang?):\n"
                    + "\n".join(log.read_text()[-1500:] for log in logs)
                )
    finally:
        stop(processes)
    for p, log in zip(processes, logs):
        assert p.returncode == 0, log.read_text()[-3000:]
    return [json.loads(path.read_text()) for path in outputs]


def test_two_workers_with_clipping_after_aggregation_equal_one_device(tmp_path):
    import keras

    sys.path.insert(0, str(ROOT / "tests"))
    import distributed_cases

    workers = finish_workers(tmp_path, "worker")
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
        keras.optimizers.SGD(distributed_cases.LEARNING_RATE),
        "global_norm",
        distributed_cases.THRESHOLD,
    )


@pytest.fixture(scope="module")
def one_device_mixed():
    """``model.fit`` on one device with Keras's own ``LossScaleOptimizer`` (plain SGD): the reference."""
    import tensorflow as tf

    sys.path.insert(0, str(ROOT / "tests"))
    import distributed_cases

    return distributed_cases.mixed_fit(tf.distribute.get_strategy(), "keras", "plain")


def test_two_workers_with_our_loss_scaling_skip_the_same_steps_as_one_device(
    tmp_path, one_device_mixed
):
    """One worker's share holds the example whose scaled gradient overflows float16, the other's does not: both
    skip the same steps, which are one device's, and end with one device's loss scale and weights. Tolerance on
    the weights 1e-4: the workers round their partial gradients to float16 separately (relative 2^-11), one
    device rounds the whole sum once; measured 8e-6 after the run's applied steps (learning rate 0.1)."""
    import distributed_cases

    workers = finish_workers(tmp_path, "mixed_worker", "ours")
    assert [w["replicas"] for w in workers] == [2, 2]
    assert [any(w["has_rare"]) for w in workers] in (
        [True, False],
        [False, True],
    )  # one worker overflows
    reference = one_device_mixed
    before = [distributed_cases.INITIAL_SCALE] + reference["scales"][:-1]
    skipped_one = [
        after < scale for after, scale in zip(reference["scales"], before)
    ]  # a skipped step halves it
    assert sum(skipped_one) >= 2 and not all(
        skipped_one
    )  # the case skips some steps and applies others
    for worker in workers:
        assert worker["skipped"] == workers[0]["skipped"] == skipped_one
        assert worker["scales"] == reference["scales"]
        assert all(worker["finite"])
        for theirs, ours in zip(worker["weights"], reference["weights"], strict=True):
            np.testing.assert_allclose(np.array(theirs), np.array(ours), rtol=0, atol=1e-4)


pytestmark = pytest.mark.timeout(900)
