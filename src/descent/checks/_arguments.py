"""A check's own arguments: what each may be, and one refusal for all of them.

A check called with an argument it cannot use (a negative seed, a learning rate of 0, a
decay above 1, …) raises ValueError before any student code runs, so that it neither
crashes inside its oracle nor blames the student. Every refusal has one form::

    check_adam_step: eps=0 is not allowed: eps must be a finite number > 0 (ε keeps the
    division finite)

A :class:`Rule` is a test and the sentence that says what it allows ("{name}" stands for
the argument); ``require(check, rule, name=value, …)`` holds several arguments to one rule,
``require_each(check, rules, name=value, …)`` each to the rule its name maps to.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import numpy as np


def is_int(value) -> bool:
    """An integer (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A finite real number (Python's or NumPy's), not a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def refuse(check: str, argument: str, value, allowed: str) -> NoReturn:
    """Raise the one refusal: "check: argument=value is not allowed: what is allowed"."""
    raise ValueError(f"{check}: {argument}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class Rule:
    """What one kind of argument may be: ``test(value)``, and ``allowed``, the sentence
    that says so, with "{name}" for the argument's name."""

    test: Callable[[object], bool]
    allowed: str

    def allows(self, value) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):  # e.g. an array's ambiguous truth value
            return False

    def sentence(self, name: str) -> str:
        return self.allowed.replace("{name}", name)


def require(check: str, rule: Rule, **values) -> None:
    """Refuse the first of ``values`` (argument name -> value) that ``rule`` does not allow."""
    for name, value in values.items():
        if not rule.allows(value):
            refuse(check, name, value, rule.sentence(name))


def require_each(check: str, rules: dict[str, Rule], **values) -> None:
    """Refuse the first of ``values`` that the rule of its name (in ``rules``) does not allow."""
    for name, value in values.items():
        require(check, rules[name], **{name: value})


# ---------------------------------------------------------------- the rules checks share


def integer(least: int = 0, why: str = "") -> Rule:
    """An integer ≥ ``least`` (a seed, a number of steps, a width)."""
    return Rule(lambda x: is_int(x) and x >= least, f"{{name}} must be an integer ≥ {least}{why}")


def number(*, above=None, least=None, below=None, most=None, why: str = "") -> Rule:
    """A finite number, with bounds: ``above`` < x, ``least`` ≤ x, x < ``below``, x ≤ ``most``."""

    def test(x) -> bool:
        return (is_real(x) and (above is None or x > above) and (least is None or x >= least)
                and (below is None or x < below) and (most is None or x <= most))

    low = f"({above:g}" if above is not None else f"[{least:g}" if least is not None else ""
    high = f"{below:g})" if below is not None else f"{most:g}]" if most is not None else ""
    if low and high:
        what = f"a number in {low}, {high}"
    elif low:
        what = f"a finite number {'>' if low[0] == '(' else '≥'} {low[1:]}"
    elif high:
        what = f"a finite number {'<' if high[-1] == ')' else '≤'} {high[:-1]}"
    else:
        what = "a finite number"
    return Rule(test, f"{{name}} must be {what}{why}")


#: True or False (a switch of the check).
FLAG = Rule(lambda x: isinstance(x, bool | np.bool_), "{name} must be True or False")


def one_of(*options) -> Rule:
    """One of a few values (names of problems, modes, activations)."""
    shown = [repr(o) for o in options]
    listed = " or ".join(shown) if len(shown) <= 2 else f"one of {', '.join(shown)}"
    return Rule(lambda x: any(isinstance(x, type(o)) and x == o for o in options),
                f"{{name}} must be {listed}")


def is_shape(value, least: int = 1, dims: int = 0, bare_int: bool = False) -> bool:
    """A tuple (or list) of at least ``dims`` integers ≥ ``least``; with ``bare_int`` also
    one integer ≥ ``least``, which NumPy reads as a 1-D shape."""
    if bare_int and is_int(value):
        return value >= least
    return (isinstance(value, tuple | list) and len(value) >= dims
            and all(is_int(n) and n >= least for n in value))


def array_shape(least: int = 1, dims: int = 0, bare_int: bool = False, why: str = "") -> Rule:
    """An array's shape (see :func:`is_shape`)."""
    integers = {0: "integers", 1: "one or more integers"}.get(dims, f"at least {dims} integers")
    what = f"a tuple of {integers} ≥ {least}"
    if bare_int:
        what = f"an integer or {what}"
    return Rule(lambda x: is_shape(x, least, dims, bare_int), f"{{name}} must be {what}{why}")


def array_shapes(least: int = 1, empty: bool = False, bare_int: bool = False,
                 why: str = "") -> Rule:
    """A list (or tuple) of array shapes, one per array; ``empty``: maybe none."""
    what = f"a {'' if empty else 'non-empty '}list of shapes (tuples of integers ≥ {least})"
    return Rule(lambda x: isinstance(x, tuple | list) and (empty or len(x) >= 1)
                and all(is_shape(s, least, 0, bare_int) for s in x),
                f"{{name}} must be {what}{why}")


#: Adam's (β₁, β₂).
BETAS = Rule(lambda x: isinstance(x, tuple | list) and len(x) == 2
             and all(is_real(b) and 0 <= b < 1 for b in x),
             "{name} must be a pair (β₁, β₂) of numbers in [0, 1) (β = 1 makes the bias "
             "correction divide by 0)")

#: What the seed of every check's data may be.
SEED = integer(0, " (it seeds np.random.default_rng, which refuses negative seeds)")
