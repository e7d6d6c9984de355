"""How chapter 05 checks an update rule: the student's function and its oracle side by side.

``new_theta, new_state = <name>_step(theta, grad, state, **hyper)`` is run along a trajectory
on a seeded quadratic (:class:`Quadratic`) next to its oracle (a ``torch.optim`` optimizer,
:func:`torch_oracle`, or a closed form), fed the same gradients; θ and the returned state are
compared after every step (:class:`UpdateRule` says how), and a step that differs is
recomputed with known mistakes to name the one it reproduces. :func:`check_rule` runs the
three trajectories of every check (see :mod:`descent.checks.optimizers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from descent.checks import optimizers_mistakes as mistake
from descent.checks._compare import (
    as_float_array,
    as_tuple,
    assert_unchanged,
    compare_with_hint,
    matches,
    quietly,
)
from descent.checks._trajectory import (
    assert_state_unchanged,
    require_state_keys,
    snapshot_state,
    torch_run,
    torch_step,
)


class Quadratic:
    """½θᵀAθ + bᵀθ on θ of ``shape``, A = Q·diag(0.5 … 5)·Qᵀ, with a seeded perturbation.

    The gradient at step t (1, 2, …) is scale·(Aθ + b + ξₜ), ξₜ ~ N(0, I) fixed by the seed:
    non-trivial gradients that change sign now and then, as in training. Started ``near``
    the minimum instead (within 0.1), the noise dominates and the signs flip often.
    """

    def __init__(self, seed: int, shape, steps: int, scale: float, near: bool = False):
        rng = np.random.default_rng(seed)
        self.shape = tuple(shape)
        n = math.prod(self.shape)
        q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        self.a = (q * np.geomspace(0.5, 5.0, n)) @ q.T
        self.b = rng.normal(size=n)
        self.theta0 = rng.normal(0.0, 2.0, size=self.shape)
        self.noise = rng.normal(size=(steps + 3, n))
        self.scale = scale
        if near:
            self.theta0 = (np.linalg.solve(self.a, -self.b)
                           + rng.normal(0.0, 0.1, size=n)).reshape(self.shape)

    def grad(self, theta: np.ndarray, t: int) -> np.ndarray:
        flat = np.asarray(theta, dtype=float).reshape(-1)
        return (self.scale * (self.a @ flat + self.b + self.noise[t - 1])).reshape(self.shape)


@dataclass
class Step:
    """One step: the oracle's input (θ, g, PyTorch state) and output, and the student's."""

    t: int
    theta: np.ndarray
    grad: np.ndarray
    before: dict
    after: dict
    expected: np.ndarray
    #: the state the student's function was given, and the θ and state it returned
    state: dict
    got: np.ndarray
    returned: object = None

    def run(self, optimizer_class, hyper: dict, **state_changes) -> np.ndarray:
        """θ after PyTorch's step from this step's input, with altered hyper or state."""
        return torch_step(optimizer_class, self.theta, self.grad,
                           {**self.before, **state_changes}, **hyper)


@dataclass
class UpdateRule:
    """How to check one update rule, at given hyper-parameters, against its oracle."""

    name: str
    #: step(θ, g, oracle state, t) -> (θ after, oracle state after)
    oracle: Callable
    #: the oracle's state before the first step (shape -> dict)
    initial: Callable
    #: the state keys the student must return: key -> (symbol, what it stores)
    keys: dict
    #: Step -> {key: expected value} in the course's names
    course_state: Callable
    #: Step -> {hint: θ a known mistake gives (or a function computing it)}
    theta_hints: Callable
    default_hint: str
    #: Step -> {key: {hint: value a known mistake stores}}
    state_hints: Callable = lambda step: {}


def given_state(step: Step, key: str) -> np.ndarray:
    """The student's own state[key] before this step, where a mistake that drifts the state
    slowly (within the tolerance) builds up; the oracle's when it cannot be read."""
    try:
        return np.asarray(step.state[key], dtype=float)
    except (KeyError, TypeError, ValueError):
        return np.asarray(step.before[key], dtype=float)


def torch_oracle(optimizer_class, **hyper) -> Callable:
    def step(theta, grad, state, t):
        return torch_run(optimizer_class, theta, grad, state, **hyper)
    return step


def _stores(keys: dict, key: str) -> str:
    symbol, what = keys[key]
    return f"{symbol} ({what})"


def _read_state(name, state, keys: dict) -> dict:
    state = require_state_keys(name, state, {key: _stores(keys, key) for key in keys})
    return {key: as_float_array(state[key], name, f"state['{key}'] ({keys[key][0]})")
            for key in keys}


def _hints(*builders: Callable) -> dict:
    """The hints of several builders, in order; one that cannot be built is left out."""
    merged = {}
    for build in builders:
        merged.update(quietly(build) or {})
    return merged


def _trajectory(rule: UpdateRule, student, passed: dict, name: str, problem: Quadratic, steps: int,
                first: Callable | None = None, last: Callable | None = None,
                first_state: Callable | None = None, last_state: Callable | None = None) -> list:
    """Run the student's rule (called with the keywords ``passed``) and the oracle side by
    side; return the student's path, a list of (θ, state read as float arrays).

    ``first`` and ``last`` (Step -> hints) add hints for θ before and after the rule's own,
    ``first_state`` and ``last_state`` (Step -> {key: hints}) for the state.
    """
    theta, state, oracle_state = problem.theta0.copy(), {}, rule.initial(problem.shape)
    path = []
    for t in range(1, steps + 1):
        g = problem.grad(theta, t)
        saved_theta, saved_grad, saved_state = theta.copy(), g.copy(), snapshot_state(state)
        result = student(theta, g, state, **passed)
        assert_unchanged(name, saved_theta, theta, "the theta it was given")
        assert_unchanged(name, saved_grad, g, "the grad it was given")
        assert_state_unchanged(name, saved_state, state)
        new_theta, new_state = as_tuple(result, name, "(new_theta, new_state)")
        new_theta = as_float_array(new_theta, name, "new θ")

        expected, oracle_after = rule.oracle(saved_theta, saved_grad, oracle_state, t)
        step = Step(t, saved_theta, saved_grad, oracle_state, oracle_after, expected, state,
                     new_theta, new_state)
        where = f"{name}, after {t} step{'s' if t > 1 else ''}"
        compare_with_hint(
            where, new_theta, expected,
            lambda step=step: _hints(*(lambda b=b: b(step) for b in (first, rule.theta_hints,
                                                                      last) if b)),
            rule.default_hint, "new θ")
        read = _read_state(where, new_state, rule.keys)
        for key, value in rule.course_state(step).items():
            compare_with_hint(where, read[key], value, lambda key=key, step=step: _hints(
                lambda: first_state(step).get(key, {}) if first_state else {},
                lambda: rule.state_hints(step).get(key, {}),
                lambda: last_state(step).get(key, {}) if last_state else {}),
                f"store {_stores(rule.keys, key)}", f"state['{key}'] ({rule.keys[key][0]})")
        path.append((new_theta, read))
        theta, state, oracle_state = new_theta, new_state, oracle_after
    return path


def hyper_label(**hyper) -> str:
    return ", ".join(f"{k}={v}" if isinstance(v, tuple) else f"{k}={v:g}"
                     for k, v in hyper.items())


def _hard_coded(make: Callable, hyper: dict, defaults: dict) -> tuple[Callable, Callable]:
    """Hints for θ and for the state (Step -> hints): what the oracle gives when one
    hyper-parameter (or one β) keeps its default instead of the value passed, as it does
    when a student writes it as a constant."""
    changes = []
    for key, value in hyper.items():
        default = defaults.get(key)
        if default is None or value == default:
            continue
        if isinstance(value, tuple):
            differ = [i for i, (v, d) in enumerate(zip(value, default, strict=True)) if v != d]
            changes += [{key: tuple(default[j] if j == i else value[j]
                                    for j in range(len(value)))} for i in differ]
            if len(differ) == 1:
                continue
        changes.append({key: default})

    def hint(change) -> str:
        return (f"the result is that of {hyper_label(**change)}, not of the "
                f"{hyper_label(**{k: hyper[k] for k in change})} passed: {mistake.HARD_CODED}")

    def oracle(change, step):
        return make(**{**hyper, **change}).oracle(step.theta, step.grad, step.before, step.t)

    def theta_hints(step: Step) -> dict:
        return {hint(change): lambda change=change: oracle(change, step)[0]
                for change in changes}

    def state_hints(step: Step) -> dict:
        hints = {}
        for change in changes:
            after = quietly(lambda change=change: oracle(change, step)[1])
            if after is None:
                continue
            course = make(**{**hyper, **change}).course_state(replace(step, after=after))
            for key, value in course.items():
                hints.setdefault(key, {})[hint(change)] = value
        return hints

    return theta_hints, state_hints


def _run(make: Callable, student, hyper: dict, defaults: dict, seed, shape, steps, scale,
         why: str = "", near: bool = False) -> list:
    """The student's rule against ``make(**hyper)`` along one trajectory."""
    rule = make(**hyper)
    label = hyper_label(**hyper) + (f", scale={scale:g}" if scale != 1 else "")
    name = f"{rule.name} ({why + ': ' if why else ''}{label})"
    theta_hints, state_hints = _hard_coded(make, hyper, defaults)
    return _trajectory(rule, student, hyper, name, Quadratic(seed, shape, steps, scale, near),
                       steps, last=theta_hints, last_state=state_hints)


def _check_defaults(make: Callable, student, defaults: dict, seed, scale, near=False,
                    shape=(6,), steps=6) -> None:
    """A few calls without hyper-parameters follow the oracle built with ``defaults``, on
    gradients of ``scale``."""
    rule = make(**defaults)
    name = f"{rule.name} (called without hyper-parameters" + (
        f", scale={scale:g})" if scale != 1 else ")")

    def mended(step: Step, passed: dict, key=None):
        # The student's own function, given some defaults explicitly: if that mends the step,
        # the signature's default is what differs. The value returned is then the student's.
        theta, state = as_tuple(student(step.theta.copy(), step.grad.copy(), dict(step.state),
                                     **passed), name, "")
        if not matches(theta, step.expected):
            return None
        if key is None:
            return step.got
        if matches(state[key], rule.course_state(step)[key]):
            return step.returned[key]
        return None

    def wrong_default(param) -> str:
        return (f"the default of {param} is not {hyper_label(**{param: defaults[param]})}: "
                f"{mistake.DEFAULTS}")

    def probes(step: Step) -> dict:
        hints = {wrong_default(param): lambda param=param: mended(step, {param: defaults[param]})
                 for param in defaults}
        hints[f"the defaults are not {hyper_label(**defaults)}: {mistake.DEFAULTS}"] = \
            lambda: mended(step, defaults)
        return hints

    def state_probes(step: Step) -> dict:
        return {key: {wrong_default(param): lambda key=key, param=param: mended(
            step, {param: defaults[param]}, key) for param in defaults} for key in rule.keys}

    _trajectory(rule, student, {}, name, Quadratic(seed + 1, shape, steps, scale, near), steps,
                first=probes, first_state=state_probes)


#: The second run's trajectory: a 2×3 θ (a matrix), a few steps, its own seed.
SECOND_SHAPE, SECOND_STEPS = (2, 3), 8


def check_rule(make: Callable, student, hyper: dict, defaults: dict, second: dict, *, seed, shape,
           steps, scale, second_scale=1.0, why="", defaults_scale=1.0, near=False,
           properties: Callable | None = None) -> list:
    """The three trajectories of a check (see the module's docstring) and its properties,
    checked on the first one's path, which is returned. ``near``: the second and third start
    near the minimum."""
    path = _run(make, student, hyper, defaults, seed, shape, steps, scale)
    _run(make, student, second, defaults, seed + 2, SECOND_SHAPE, SECOND_STEPS, second_scale,
         f"second run{', ' + why if why else ''}", near)
    if properties is not None:
        properties(path)
    _check_defaults(make, student, defaults, seed, 1.0, near)
    if defaults_scale != 1:
        # θ only, in effect: states of this size are within the comparison's atol.
        _check_defaults(make, student, defaults, seed, defaults_scale, near, steps=3)
    return path


def first_growth(path, key: str, lr, eps) -> int | None:
    """The first step (2, 3, …) after which ``state[key]`` (a sum or maximum of g²) decreased,
    so that the effective step η/(√state[key] + ε) grew; None when it never did."""
    for t in range(1, len(path)):
        previous, current = path[t - 1][1][key], path[t][1][key]
        if np.any(current < previous) or np.any(
                lr / (np.sqrt(current) + eps) > lr / (np.sqrt(previous) + eps)):
            return t + 1
    return None


def zero_state(*keys, **numbers) -> Callable:
    """The PyTorch state before the first step: ``keys`` at 0, ``step`` = 0, ``numbers``."""
    def initial(shape):
        return {"step": 0, **{k: np.zeros(shape) for k in keys}, **numbers}
    return initial


def same_state(*keys) -> Callable:
    """The course's state is PyTorch's for ``keys`` (and ``step`` as an int)."""
    def course(step: Step) -> dict:
        return {k: step.after[k] if k != "step" else float(step.t) for k in keys}
    return course


#: Where ε matters: gradients scaled by 0.01, with ε = 0.01, so that √v and ε are of the
#: same size.
SMALL = 1e-2
EPS_MATTERS = "small gradients, so that ε matters"
