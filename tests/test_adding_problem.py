"""helpers.data.adding_problem: the adding problem (Hochreiter & Schmidhuber 1997, §5.4), "sum" variant."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data import adding_problem


@pytest.mark.parametrize("length", [2, 3, 10, 51])
def test_structure(length):
    x, y = adding_problem(200, length, seed=1)
    assert x.shape == (200, length, 2) and y.shape == (200, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    assert np.all(markers.sum(axis=1) == 2)
    half = length // 2
    assert np.all(markers[:, :half].sum(axis=1) == 1)  # one mark in each half
    assert np.all(markers[:, half:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=1e-6)


def test_seeded():
    a = adding_problem(5, 20, seed=7)
    b = adding_problem(5, 20, seed=7)
    c = adding_problem(5, 20, seed=8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_float64_and_statistics():
    x, y = adding_problem(20000, 30, seed=0, dtype="float64")
    assert x.dtype == np.float64 and y.dtype == np.float64
    # predicting the mean target (1) gives MSE = Var(U1 + U2) = 2/12 = 1/6, the baseline the docstring states
    assert np.mean((y - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.01)
    # both marks are spread over their halves, not stuck at one place
    positions = np.argmax(x[:, :15, 1], axis=1)
    assert len(np.unique(positions)) == 15


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be an integer >= 1"),
        ({"n": 1.5}, TypeError, "n must be an integer"),
        ({"length": 1}, ValueError, "length must be an integer >= 2"),
        ({"length": "10"}, TypeError, "length must be an integer"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"seed": None}, TypeError, "seed must be an integer"),
        ({"dtype": "int8"}, ValueError, "dtype must be one of 'float32', 'float64'"),
    ],
)
def test_bad_input(kwargs, error, match):
    arguments = {"n": 4, "length": 10, "seed": 0} | kwargs
    with pytest.raises(error, match=match):
        adding_problem(**arguments)
