"""Exercises that answer back: a learner writes ``answer = ...`` under an exercise and runs ``check("03.2", answer)``.

The check says "Correct", or what is wrong in a way that teaches (a wrong sign, a factor it names, a percentage
where a fraction was asked, the tolerance); ``hint("03.2")`` gives a hint; the worked solution stays folded below.
Open "why" questions get a list of what a good answer mentions, once the learner has written one.

The expected answer is computed when the check runs, from the notebook's own variables or the helpers (one module
per notebook, ``notebookNN``), so it follows the data and the seeds. ``check`` reads those variables from the
namespace of the cell that calls it (the notebook's globals): the check cell names no notebook object, so it gives
no lead away; a variable that is missing gets a message naming the section that defines it; tests pass a
namespace to ``feedback`` instead. Each notebook's module lists the variables it reads (``Exercise.needs``).

To add a notebook's exercises: write ``notebookNN.py`` with a tuple ``EXERCISES`` of ``core.Exercise`` and add the
module to ``_MODULES`` below.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping

from helpers.exercises import notebook01, notebook02, notebook03, notebook04, notebook05, notebook06
from helpers.exercises.core import Exercise, Feedback, judge

__all__ = ["EXERCISES", "check", "correct", "feedback", "hint"]

_MODULES = (notebook01, notebook02, notebook03, notebook04, notebook05, notebook06)
#: Every checked exercise by id ("03.2": notebook 03, exercise 2).
EXERCISES: dict[str, Exercise] = {e.id: e for module in _MODULES for e in module.EXERCISES}


def feedback(exercise: str, answer, namespace: Mapping) -> Feedback:
    """The ``Feedback`` on ``answer`` to ``exercise``, the expected values computed from ``namespace``."""
    found = _find(exercise)
    if isinstance(found, str):
        return Feedback(False, found)
    return judge(found, answer, namespace)


def check(exercise: str, answer) -> None:
    """Print whether ``answer`` to ``exercise`` ("03.2") is right, reading the notebook's variables from the caller."""
    print(feedback(exercise, answer, sys._getframe(1).f_globals))


def correct(exercise: str, answer) -> bool:
    """Whether ``answer`` to ``exercise`` is right, reading the notebook's variables from the caller (for graders:
    ``assert correct("03.2", answer)``)."""
    return feedback(exercise, answer, sys._getframe(1).f_globals).correct


def hint(exercise: str) -> None:
    """Print a hint for ``exercise`` ("03.2"); it does not give the answer away."""
    found = _find(exercise)
    print(found if isinstance(found, str) else f"Hint for exercise {found.id}: {found.hint}")


def _find(exercise) -> Exercise | str:
    """The exercise named ``exercise``, or a message naming the ones there are."""
    if not isinstance(exercise, str):
        return (
            f'Name the exercise by a string such as "03.2" (notebook 03, exercise 2); '
            f"got {type(exercise).__name__} {exercise!r}."
        )
    if exercise.strip() in EXERCISES:
        return EXERCISES[exercise.strip()]
    same = [key for key in EXERCISES if key.split(".")[0] == exercise.strip().split(".")[0]]
    close = difflib.get_close_matches(exercise.strip(), EXERCISES, n=1)
    known = ", ".join(same or EXERCISES)
    guess = f' Did you mean "{close[0]}"?' if close else ""
    return f"There is no checked exercise {exercise!r}.{guess} The checked exercises are: {known}."
