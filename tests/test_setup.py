"""helpers.setup: one seed gives the same numbers; the version check warns instead of failing."""

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
