"""helpers.setup: one seed gives the same numbers; the version check warns instead of failing, with advice that can
work (a supported Python needs a new virtualenv, not another pip install)."""

import sys
import warnings

import numpy as np
import pytest

import helpers
from helpers import setup


def test_same_seed_same_numbers():
    import keras

    def draw():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        legacy_numpy = np.random.rand(3)  # noqa: NPY002 - the global state is what seeding must fix
        return legacy_numpy, keras.random.normal((3,)).numpy(), model.layers[0].kernel.numpy()

    helpers.seed_everything(7)
    first = draw()
    helpers.seed_everything(7)
    second = draw()
    helpers.seed_everything(8)
    third = draw()
    for a, b, c in zip(first, second, third):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_seed_must_be_a_non_negative_integer():
    with pytest.raises(ValueError, match="seed"):
        helpers.seed_everything(-1)
    with pytest.raises(TypeError, match="seed"):
        helpers.seed_everything(1.5)


def test_version_check_reports_and_warns_on_mismatch(monkeypatch):
    found = helpers.check_versions()
    assert set(found) == {"python", "tensorflow", "keras"}
    monkeypatch.setitem(setup.TESTED, "keras", "0.1")
    with pytest.warns(UserWarning, match="keras .* tested with 0.1"):
        helpers.check_versions()


@pytest.mark.parametrize("version", [(3, 11, 7), (3, 12, 1), (3, 13, 0)])
def test_supported_pythons_get_no_advice(version):
    assert setup.python_advice(version) is None


@pytest.mark.parametrize("version", [(3, 10, 13), (3, 14, 0), (3, 9, 18)])
def test_unsupported_python_is_told_to_make_a_new_virtualenv(version):
    advice = setup.python_advice(version)
    assert f"Python {'.'.join(map(str, version))} is not supported" in advice
    assert "3.11, 3.12 or 3.13" in advice
    assert (
        "python3.11 -m venv" in advice and "py -3.11 -m venv" in advice and "Activate.ps1" in advice
    )
    assert "cannot change the Python" in advice
    lines = advice.splitlines()
    venv_line = next(i for i, line in enumerate(lines) if "python3.11 -m venv" in line)
    pip_line = next(i for i, line in enumerate(lines) if "pip install -r requirements.txt" in line)
    assert venv_line < pip_line, (
        "the new virtualenv comes first; pip alone cannot change the Python"
    )


def test_this_python_gets_no_python_warning():
    assert setup.SUPPORTED_PYTHON[0] <= sys.version_info[:2] <= setup.SUPPORTED_PYTHON[-1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        helpers.check_versions()
    assert not [w for w in caught if "Python" in str(w.message)]


def test_unsupported_python_warns_with_the_advice(monkeypatch):
    monkeypatch.setattr(setup, "SUPPORTED_PYTHON", ((3, 99),))
    with pytest.warns(UserWarning, match="not supported") as caught:
        helpers.check_versions()
    assert "python3.11 -m venv" in str(caught[0].message)
