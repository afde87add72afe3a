"""helpers.checks: every check names the argument and says what is allowed."""

import math

import numpy as np
import pytest

from helpers import checks


@pytest.mark.parametrize(
    "check, value, error, says",
    [
        (checks.positive, 0, ValueError, "positive finite"),
        (checks.positive, -1.5, ValueError, "positive finite"),
        (checks.positive, math.nan, ValueError, "finite"),
        (checks.positive, math.inf, ValueError, "finite"),
        (checks.positive, "1", TypeError, "real number"),
        (checks.positive, True, TypeError, "real number"),
        (checks.positive, None, TypeError, "real number"),
        (checks.finite, -math.inf, ValueError, "finite"),
        (checks.non_negative, -1e-9, ValueError, ">= 0"),
        (checks.positive_int, 0, ValueError, ">= 1"),
        (checks.positive_int, 2.0, TypeError, "integer"),
    ],
)
def test_bad_values_name_the_argument(check, value, error, says):
    with pytest.raises(error, match="the_arg") as raised:
        check("the_arg", value)
    assert says in str(raised.value)


def test_good_values_pass_through():
    assert checks.positive("a", np.float32(2.0)) == 2.0
    assert checks.non_negative("a", 0) == 0.0
    assert checks.positive_int("n", np.int64(3)) == 3
    assert checks.in_range("p", 50, 0, 100) == 50.0
    assert checks.one_of("mode", "a", ("a", "b")) == "a"


def test_in_range_one_of_and_array():
    with pytest.raises(ValueError, match="steps must be an integer <= 300, got 301"):
        checks.positive_int("steps", 301, minimum=10, maximum=300)
    assert checks.positive_int("steps", 300, minimum=10, maximum=300) == 300
    with pytest.raises(ValueError, match="p must be between 0 and 100"):
        checks.in_range("p", 101, 0, 100)
    with pytest.raises(ValueError, match="mode must be one of 'a', 'b'; got 'c'"):
        checks.one_of("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"m must have shape \(any, 2\)"):
        checks.array("m", np.zeros((3, 3)), shape=(None, 2))
    with pytest.raises(ValueError, match="m must have 2 dimensions"):
        checks.array("m", np.zeros(3), ndim=2)
    with pytest.raises(TypeError, match="m must hold numbers"):
        checks.array("m", ["x", "y"])
