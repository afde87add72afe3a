"""How an exercise's answer is read, compared with the expected one and answered in words (``helpers.exercises``).

An ``Exercise`` has ``parts`` (one per value the learner gives; none for an open question) and a ``compute``
function that returns, from the notebook's variables, the expected value of each part and the values of typical
wrong answers, all by name. A ``Part`` says which of those names is expected, which are typical mistakes and what
each teaches. Nothing here holds an expected value.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

#: The kinds of value a part can ask for.
KINDS = ("number", "fraction", "count", "list", "choice", "yes/no")
#: The letters that name the parts of a multi-part answer.
LETTERS = "abcdefgh"


class NotReady(Exception):
    """The notebook's state cannot answer yet (a run not trained, say): the message says what to do."""


@dataclass(frozen=True)
class Part:
    """One value of an answer.

    Args:
        asks: what the value is, in words ("the largest turn, in degrees").
        kind: one of ``KINDS``. A "fraction" is in [0, 1]; a "count" is a whole number; a "list" is a short list of
            numbers, each compared as a number.
        key: the name, among those ``Exercise.compute`` returns, of the expected value.
        mistakes: ``(name, message)`` pairs: an answer equal to the computed value ``name`` (for a choice or yes/no:
            equal to the word ``name``) gets ``message``, which says what is wrong and why.
        tolerance: relative for a number or a list's numbers (1e-2 is 1 %), absolute for a fraction or when
            ``relative`` is False.
        relative: whether the ``tolerance`` of a number or a list is relative.
        choices: for a choice, ``{word: synonyms}``, the accepted words.
    """

    asks: str
    kind: str
    key: str
    mistakes: tuple = ()
    tolerance: float = 1e-2
    relative: bool = True
    choices: Mapping | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError("choices are given for, and only for, a part of kind 'choice'")


@dataclass(frozen=True)
class Exercise:
    """One exercise's check.

    Args:
        id: ``"NN.k"``: notebook NN, exercise k.
        parts: the values the answer gives, in order (empty: an open question, answered in words).
        compute: ``compute(namespace) -> {name: value}``: the expected values and the typical wrong ones, computed
            from the notebook's variables (read from ``namespace``) or the helpers; raises ``NotReady`` with advice.
        needs: ``(variable, "section N")`` pairs: the notebook's variables ``compute`` reads, and where they come from.
        hint: a nudge that does not give the answer away.
        mentions: what a good answer to the open ("why") part mentions, shown once the parts are right.
    """

    id: str
    parts: tuple = ()
    compute: Callable[[Mapping], dict] | None = None
    needs: tuple = ()
    hint: str = ""
    mentions: tuple = ()


@dataclass(frozen=True)
class Feedback:
    """The verdict on an answer: ``correct`` and the ``message`` the learner reads."""

    correct: bool
    message: str

    def __str__(self) -> str:
        return self.message


def expects(exercise: Exercise) -> str:
    """What ``answer`` must be for ``exercise``, in words."""
    if not exercise.parts:
        return 'your answer in words, as a string: answer = "..."'
    if len(exercise.parts) == 1:
        return describe(exercise.parts[0])
    letters = ", ".join(LETTERS[: len(exercise.parts)])
    lines = [f"{len(exercise.parts)} values, answer = ({letters}):"]
    return "\n".join(
        lines + [f"  {LETTERS[i]}: {describe(p)}" for i, p in enumerate(exercise.parts)]
    )


def describe(part: Part) -> str:
    """What one value must be, in words."""
    if part.kind == "choice":
        return f"one of {', '.join(repr(word) for word in part.choices)}: {part.asks}"
    if part.kind == "yes/no":
        return f"True or False (or 'yes' or 'no'): {part.asks}"
    if part.kind == "list":
        return f"a list of numbers: {part.asks}"
    return f"{'an' if part.kind[0] in 'aeiou' else 'a'} {part.kind}: {part.asks}"


def judge(exercise: Exercise, answer, namespace: Mapping) -> Feedback:
    """The ``Feedback`` on ``answer`` (``None``: not written yet), the expected values computed from ``namespace``."""
    hint = f'exercises.hint("{exercise.id}") gives a hint.'
    if answer is None:
        return Feedback(
            False, f"Write your answer first: replace None with {expects(exercise)}\n{hint}"
        )
    if not exercise.parts:
        if not isinstance(answer, str) or not answer.strip():
            return Feedback(
                False, f"Exercise {exercise.id} is answered in words: {expects(exercise)}"
            )
        return Feedback(
            True,
            "Compare your answer with what a good answer mentions:\n" + _bullets(exercise.mentions),
        )
    values = _split(exercise, answer)
    if isinstance(values, str):
        return Feedback(False, values)
    read = [_read(part, value) for part, value in zip(exercise.parts, values, strict=True)]
    if not all(ok for ok, _ in read):
        return Feedback(False, _join(exercise, [None if ok else text for ok, text in read]))
    missing = [(name, where) for name, where in exercise.needs if name not in namespace]
    if missing:
        names = ", ".join(f"`{name}` ({where})" for name, where in missing)
        return Feedback(
            False,
            f"This check reads {names}: run the cells above first "
            "(Run → Run All Above Selected Cell), then check again.",
        )
    try:
        with _quiet_tensorflow():
            computed = exercise.compute(namespace)
    except NotReady as reason:
        return Feedback(False, str(reason))
    except (
        Exception
    ) as error:  # a notebook variable changed since its section ran: say so, not a traceback
        names = ", ".join(f"`{name}`" for name, _ in exercise.needs) or "the helpers"
        return Feedback(
            False,
            f"The check could not compute the expected answer from {names} "
            f"({type(error).__name__}: {error}). Run the notebook from the top "
            "(Run → Run All Cells) and check again.",
        )
    verdicts = [
        _verdict(part, value, computed)
        for part, (_, value) in zip(exercise.parts, read, strict=True)
    ]
    if any(verdicts):
        return Feedback(False, _join(exercise, verdicts, fine="correct.") + "\n" + hint)
    message = "Correct" + _tolerances(exercise.parts) + "."
    if exercise.mentions:
        message += "\nNow the why: a good answer mentions\n" + _bullets(exercise.mentions)
    return Feedback(True, message)


@contextlib.contextmanager
def _quiet_tensorflow() -> Iterator[None]:
    """TensorFlow's Python warnings off while a check computes (a model built to measure would print retracing
    warnings into the learner's feedback)."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _bullets(items) -> str:
    return "\n".join(f"  - {item}" for item in items)


def _split(exercise: Exercise, answer) -> list | str:
    """The answer as one value per part, or a message saying how many values are expected."""
    n = len(exercise.parts)
    if n == 1:
        return [answer]
    if isinstance(answer, tuple | list) and len(answer) == n:
        return list(answer)
    got = (
        f"{len(answer)} of them"
        if isinstance(answer, tuple | list)
        else f"{type(answer).__name__} {answer!r}"
    )
    return f"Exercise {exercise.id} expects {expects(exercise)}\nGot {got}."


def _join(exercise: Exercise, messages: list, fine: str | None = None) -> str:
    """ "Not yet: message" for one part; for several, a line per part: its message, else ``fine`` (else nothing)."""
    if len(exercise.parts) == 1:
        return f"Not yet: {messages[0]}"
    lines = ["Not yet."]
    lines += [f"({letter}) {m or fine}" for letter, m in zip(LETTERS, messages) if m or fine]
    return "\n".join(lines)


def _read(part: Part, value) -> tuple[bool, object]:
    """``(True, value)`` as the part's kind (float, int, choice word or bool), or ``(False, what it must be)``."""
    wanted = f"expected {describe(part)}; got {type(value).__name__} {value!r}."
    if value is None:
        return False, f"write this value first: {describe(part)}."
    if part.kind == "yes/no":
        if isinstance(value, bool | np.bool_):
            return True, bool(value)
        if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
            return True, value.strip().lower() == "yes"
        return False, wanted
    if part.kind == "choice":
        word = _normal(value) if isinstance(value, str) else None
        for choice, synonyms in part.choices.items():
            if word in {_normal(choice), *map(_normal, synonyms)}:
                return True, choice
        return False, wanted
    if part.kind == "list":
        numbers_ = _numbers(value)
        return (True, numbers_) if numbers_ is not None else (False, wanted)
    number = _number(value)
    if number is None:
        return False, wanted + (
            " Write the number without quotes." if isinstance(value, str) else ""
        )
    if part.kind == "count":
        if not number.is_integer():
            return False, f"expected a whole number: {part.asks}; got {number:g}."
        return True, int(number)
    return True, number


def _number(value) -> float | None:
    """A real number from a Python/NumPy number or a one-element array or tensor; None for anything else (bools)."""
    if isinstance(value, bool | np.bool_ | str | bytes):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        array = np.asarray(value)
    except Exception:  # an object NumPy cannot read is not a number
        return None
    if array.size != 1 or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        return None
    return float(array.reshape(()))


def _numbers(value) -> tuple[float, ...] | None:
    """A list, tuple or 1-D array of real numbers as a tuple of floats; None for anything else."""
    if not isinstance(value, list | tuple | np.ndarray):
        return None
    read = [_number(item) for item in value]
    return tuple(read) if read and None not in read and np.ndim(value) == 1 else None


def _normal(word: str) -> str:
    return re.sub(r"[\s_\-]+", " ", word.strip().strip("'\"").lower())


def _close(part: Part, answer, expected) -> bool:
    if part.kind in ("choice", "yes/no"):
        return answer == expected
    if part.kind == "list":
        answer, expected = np.ravel(answer).astype(float), np.ravel(expected).astype(float)
        return answer.shape == expected.shape and all(
            map(_near, [part] * answer.size, answer, expected)
        )
    return _near(part, answer, float(expected))


def _near(part: Part, answer: float, expected: float) -> bool:
    if not (math.isfinite(answer) and math.isfinite(expected)):
        return answer == expected
    if part.kind == "count":
        return answer == round(expected)
    if part.kind == "fraction" or not part.relative:
        return abs(answer - expected) <= part.tolerance
    return abs(answer - expected) <= part.tolerance * abs(expected)


def _verdict(part: Part, answer, computed: dict) -> str | None:
    """None when ``answer`` is right; else what is wrong: a named mistake, a generic one, or "not it"."""
    expected = computed[part.key]
    if _close(part, answer, expected):
        return None
    for name, message in part.mistakes:
        if part.kind in ("choice", "yes/no"):
            if answer == (name if part.kind == "choice" else name == "yes"):
                return message
        elif not _close(part, computed[name], expected) and _close(part, answer, computed[name]):
            return message
    return _generic(part, answer, expected)


def _generic(part: Part, answer, expected) -> str:
    """The mistakes any value can show (wrong sign, a percentage, the complement), else "not it"."""
    if part.kind in ("choice", "yes/no"):
        return f"not this one ({part.asks})."
    if part.kind == "list":
        return _generic_list(part, np.array(answer), np.ravel(expected).astype(float))
    expected = float(expected)
    if part.kind in ("number", "fraction") and expected and _close(part, -answer, expected):
        return "wrong sign: the size is right, the sign is not."
    if part.kind == "fraction":
        if _close(part, answer / 100, expected):
            return "that is a percentage: give the fraction, between 0 and 1 (25 % is 0.25)."
        if not 0 <= answer <= 1:
            return f"{answer:g} is not a fraction: a fraction is between 0 and 1 (25 % is 0.25)."
        if _close(part, 1 - answer, expected) and not _close(part, 1 - expected, expected):
            return "that is the complement (1 − the fraction asked): it counts the other steps."
    shown = str(answer) if part.kind == "count" else f"{answer:.4g}"
    return f"{shown} is not {part.asks}{_tolerance(part)}."


def _generic_list(part: Part, answer: np.ndarray, expected: np.ndarray) -> str:
    if answer.size != expected.size:
        return f"expected {expected.size} numbers ({part.asks}); got {answer.size}."
    if np.any(expected) and _close(part, -answer, expected):
        return "wrong sign: the sizes are right, the signs are not."
    wrong = ", ".join(
        str(i + 1) for i, (a, e) in enumerate(zip(answer, expected)) if not _near(part, a, e)
    )
    return f"entries {wrong} of your list are not {part.asks}{_tolerance(part)}."


def _tolerance(part: Part) -> str:
    each = " each" if part.kind == "list" else ""
    if part.kind == "fraction" or (part.kind in ("number", "list") and not part.relative):
        return f" (to within ±{part.tolerance:g}{each})"
    if part.kind in ("number", "list"):
        return f" (to within {part.tolerance * 100:g} %{each})"
    return ""


def _tolerances(parts) -> str:
    """The tolerances the parts were checked to, for the "Correct" line."""
    stated = [
        (LETTERS[i], _tolerance(part).strip()) for i, part in enumerate(parts) if _tolerance(part)
    ]
    if len(parts) == 1:
        return f" {stated[0][1]}" if stated else ""
    return f" ({'; '.join(f'{letter}: {text[1:-1]}' for letter, text in stated)})" if stated else ""
