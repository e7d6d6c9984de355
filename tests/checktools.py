"""What the tests of every chapter's checks share (``tests/test_checks_*.py``).

- :func:`fails_with`, :func:`fails_as`: a plausible mistake (a mutant) fails with the
  misconception it reproduces, and no other (or with a plain message that names none);
- :func:`assert_misconceptions_reached`: every misconception a check module defines is
  reproduced by a mutant and explained by a section of the page it names;
- :func:`assert_refused`: a check refuses a bad argument of its own before any student code
  runs, in the one form "check_x: arg=value is not allowed: … must …";
- :data:`WRONG_OUTPUTS`, :func:`wrong`, :func:`assert_teaches`: generic wrong answers (None, a
  string, NaN, the wrong shape, …) end in an AssertionError whose message teaches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from descent.checks.misconceptions import REGISTRY, Misconception, find

BOOK = Path(__file__).resolve().parents[1] / "book"


def failure(call: Callable, *args, **kwargs) -> str:
    """The message of the AssertionError that ``call(*args, **kwargs)`` must raise."""
    with pytest.raises(AssertionError) as error:
        call(*args, **kwargs)
    return str(error.value)


def fails_with(check: Callable, mutant, misconception: str, **kwargs) -> str:
    """``check`` rejects ``mutant`` and names ``misconception`` (an id), and nothing else."""
    message = failure(check, mutant, **kwargs)
    assert find(message) == [misconception], message
    return message


def fails_as(call: Callable, expected: str, *args, **kwargs) -> str:
    """``call(*args, **kwargs)`` fails with ``expected``: a misconception's id (named alone,
    with its explanation) or, for a mistake that is no misconception, a piece of the plain
    message (which then names none)."""
    message = failure(call, *args, **kwargs)
    if expected in REGISTRY:
        assert find(message) == [expected], message
        assert REGISTRY[expected].text in message, message
    else:
        assert expected in message and not find(message), message
    return message


@cache
def headings(page: str) -> frozenset[str]:
    """The section titles (``##`` and ``###``) of ``book/<page>.md``, outside code cells (whose
    comments are not headings)."""
    text = re.sub(r"```.*?```", "", (BOOK / f"{page}.md").read_text(encoding="utf-8"), flags=re.S)
    return frozenset(re.findall(r"^#{2,3} (.+?)\s*$", text, re.M))


def assert_misconceptions_reached(module, reached: Iterable[str]) -> None:
    """The misconceptions ``module`` defines are exactly the ids of ``reached`` (what the
    mutants expect; other entries, plain messages, are left out). That each one's section is
    a heading of its page is tested once for all, in tests/test_misconceptions.py."""
    defined = {m.id for m in vars(module).values() if isinstance(m, Misconception)}
    assert defined == {e for e in reached if e in REGISTRY}


# ---------------------------------------------------------------- a check's own arguments


def never_called(*args, **kwargs):
    raise RuntimeError("the check called the student's function before refusing its arguments")


def assert_refused(check: Callable, kwargs: dict, shown: str | None = None,
                   functions: int = 1) -> str:
    """``check`` (given ``functions`` student functions that must not run) refuses
    ``kwargs`` with a ValueError in the one form; ``shown`` ("argument=value") defaults to
    the only argument of ``kwargs``."""
    if shown is None:
        (argument, value), = kwargs.items()
        shown = f"{argument}={value!r}"
    with pytest.raises(ValueError) as refusal:
        check(*[never_called] * functions, **kwargs)
    message = str(refusal.value)
    assert message.startswith(f"{check.__name__}: {shown}"), message
    assert " is not allowed: " in message and " must " in message, message
    return message


# ---------------------------------------------------------------- generic wrong answers


def map_arrays(value, f: Callable):
    """``value`` with ``f`` applied to each array (or number) in it, through tuples and lists."""
    if isinstance(value, tuple | list):
        return type(value)(map_arrays(v, f) for v in value)
    return f(np.asarray(value))


#: Generic wrong versions of a right result: name -> function of the right result.
WRONG_OUTPUTS = {
    "None": lambda out: None,
    "a string": lambda out: "wrong",
    "NaN": lambda out: map_arrays(out, lambda a: np.full(a.shape, np.nan)),
    "the wrong shape": lambda out: map_arrays(out, lambda a: np.append(a, 0)),
    "a list of results": lambda out: [out, out],
    "negated": lambda out: map_arrays(out, lambda a: -a),
    "scaled by 1.01": lambda out: map_arrays(out, lambda a: 1.01 * a),
    "a constant": lambda out: 0.5,
}


def wrong(model: Callable, change: Callable) -> Callable:
    """``model`` (a model answer) with ``change`` applied to what it returns."""
    def answer(*args, **kwargs):
        return change(model(*args, **kwargs))
    return answer


def checks_of(module) -> list[tuple[Callable, str]]:
    """(check, the name of the function it checks) for every check of ``module``."""
    return [(getattr(module, name), name.removeprefix("check_"))
            for name in dir(module) if name.startswith("check_")]


def assert_teaches(message: str, name: str, words: Iterable[str] = ()) -> None:
    """A failure's message names the function and says what is wrong: it is long enough,
    and holds one of ``words`` when they are given."""
    assert message.startswith(name) and len(message) > len(name) + 30, message
    words = tuple(words)
    assert not words or any(word in message for word in words), message
