r"""Finite-difference gradient checks, in the spirit of cs231n's ``gradient_check.py``, with
a tolerance that follows from the error of the difference instead of a fixed threshold.

**The estimate.** For a scalar function f, the centred difference along coordinate i is

    D_h = (f(x + h·e_i) − f(x − h·e_i)) / 2h,

divided, in fact, by the step actually taken, fl(x_i + h) − fl(x_i − h), so that the
rounding of x_i ± h costs nothing. An element-wise function is differentiated the same way,
every entry at once (:func:`numerical_derivative`).

**Its error.** Two sources, per entry:

* truncation. Taylor's theorem gives D_h = ∂_i f + h²/6·∂_i³f + O(h⁴). The third derivative
  is not needed: one more difference at 2h gives D_2h − D_h = h²/2·∂_i³f + O(h⁴), so the
  truncation error of D_h is T = |D_2h − D_h| / 3 (Richardson's step-doubling estimate).
* rounding. The computed f carries an absolute error δf; the two evaluations differ by
  at most 2δf, and dividing by 2h gives R = δf / h. A function that adds up terms whose
  absolute values sum to S (``f_scale``), each after a few roundings of relative size
  ε = 2.2e-16, has δf ≤ k·ε·S; this module takes k = :data:`ROUNDINGS`. By default S is
  the larger |f| of the values each difference subtracts; pass it when f cancels
  (Σ R ⊙ out with random signs is much smaller than Σ |R ⊙ out|) or amplifies rounding
  (γ·(A − μ)/σ with |μ| ≫ σ loses ε·|μ|/σ).
  The step-doubling estimate carries rounding too, at most δf/2h, which R covers; and R
  adds k·ε·|D_h|, the rounding of the derivative being checked, itself a computed number.

With h = 1e-5 and functions of order one, T is near 1e-11 and R near 3e-10: a correct
gradient g satisfies |g_i − D_h| ≤ T_i + R_i. The check allows :data:`SAFETY` times that
(the neglected O(h⁴) term, the estimate's own noise), and nothing more, entry by entry: a
wrong gradient is off by a sizeable fraction of ∂_i f, thousands of times the bound. (On
2,500 random batch-norm batches, autograd's gradient stayed below 1.6·(T + R) on every
entry, the largest ratios where truncation dominates and T is estimated almost exactly;
R is a worst case, often 100 times the actual rounding. tests/test_checks_batch_norm.py
repeats this on 300 batches.)

**Why not a fixed relative error.** cs231n's rule of thumb (relative error
|g − D| / (|g| + |D|) below 1e-7 is right, above 1e-4 wrong) fails on the entries where
the gradient is tiny: there the absolute error of D_h, set by the size of f and not of
that entry, is a large relative one (a batch-norm dA entry of 1e-3 with an error of 1e-9
is a relative 1e-6, and perfectly right). The bound above is absolute per entry and
derived from f, so it holds for every entry. :func:`rel_error` is kept for reporting.

Near kinks (ReLU at 0, clipping thresholds) the differences are meaningless (T is not
small): keep test points away from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from descent.checks._compare import as_float_array, format_pair

#: Machine epsilon of float64, the relative size of one rounding.
EPS = float(np.finfo(float).eps)
#: Roundings per term, k in the rounding error of f, δf ≤ k·ε·S (a sum of many terms
#: accumulates a few, and each operation of the function one more).
ROUNDINGS = 16.0
#: Factor allowed over the estimated error T + R of a centred difference.
SAFETY = 10.0
#: Largest number of floats one batched call of f receives (≈ 32 MB of float64).
_CHUNK = 1 << 22


def rel_error(a, b) -> float:
    """Largest relative difference, max |a − b| / max(1e-8, |a| + |b|)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _steps(x, h) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x + h, x − h as floats, and the step actually taken between them."""
    plus, minus = x + h, x - h
    return plus, minus, plus - minus


def _gradient(f, x, h) -> tuple[np.ndarray, np.ndarray]:
    """Centred differences of a scalar ``f``, one entry at a time, and per entry the larger
    |f| of the two evaluations (the size of what the difference subtracts)."""
    x = np.array(x, dtype=float)
    grad, size = np.zeros_like(x), np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        plus, minus, step = _steps(original, h)
        x[index] = plus
        f_plus = float(f(x))
        x[index] = minus
        f_minus = float(f(x))
        x[index] = original
        grad[index] = (f_plus - f_minus) / step
        size[index] = max(abs(f_plus), abs(f_minus))
    return grad, size


def numerical_gradient(f: Callable[[np.ndarray], float], x, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by centred differences, one entry at a time.

    ``x`` is not modified: each coordinate is perturbed on a private copy.
    """
    return _gradient(f, x, h)[0]


def _batched_gradient(f_batch, x: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_gradient` with ``f_batch`` evaluating a stack of points (K, *x.shape) at once."""
    n = x.size
    flat = x.reshape(-1)
    plus, minus, step = _steps(flat, h)
    per_call = max(1, _CHUNK // max(1, 2 * n))
    grad, size = np.empty(n), np.empty(n)
    for start in range(0, n, per_call):
        index = np.arange(start, min(n, start + per_call))
        points = np.repeat(flat[None, :], 2 * len(index), axis=0)
        points[2 * np.arange(len(index)), index] = plus[index]
        points[2 * np.arange(len(index)) + 1, index] = minus[index]
        values = np.asarray(f_batch(points.reshape(-1, *x.shape)), dtype=float).reshape(-1, 2)
        grad[index] = (values[:, 0] - values[:, 1]) / step[index]
        size[index] = np.max(np.abs(values), axis=1)
    return grad.reshape(x.shape), size.reshape(x.shape)


def _derivative(f, z, h) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z, dtype=float)
    plus, minus, step = _steps(z, h)
    f_plus, f_minus = (np.asarray(f(point), dtype=float) for point in (plus, minus))
    return (f_plus - f_minus) / step, np.maximum(np.abs(f_plus), np.abs(f_minus))


def numerical_derivative(f: Callable[[np.ndarray], np.ndarray], z, h: float = 1e-6):
    """Derivative of an element-wise function, (f(z + h) − f(z − h)) / 2h, vectorized."""
    return _derivative(f, z, h)[0]


@dataclass(frozen=True)
class FiniteDifferences:
    """Centred differences ``numeric`` at step h and, per entry, the estimated ``truncation``
    and ``rounding`` errors; a correct derivative differs from ``numeric`` by at most
    ``allowed`` = SAFETY·(truncation + rounding)."""

    numeric: np.ndarray
    truncation: np.ndarray
    rounding: np.ndarray

    @property
    def allowed(self) -> np.ndarray:
        return SAFETY * (self.truncation + self.rounding)

    def ratios(self, got) -> np.ndarray:
        """|got − numeric| / allowed per entry (0 where they are equal, inf where ``got`` is
        not finite); ``got`` must have the shape of ``numeric``."""
        got = np.asarray(got, dtype=float)
        with np.errstate(all="ignore"):
            difference = np.abs(got - self.numeric)
            ratio = np.where(difference == 0, 0.0, difference / self.allowed)
        return np.nan_to_num(ratio, nan=np.inf, posinf=np.inf)

    def excess(self, got) -> float:
        """max_i |got_i − D_i| / allowed_i: at most 1 for a correct derivative (inf if ``got``
        has another shape or is not finite where the differences are)."""
        got = np.asarray(got, dtype=float)
        if got.shape != self.numeric.shape:
            return np.inf
        return float(np.max(self.ratios(got), initial=0.0))

    def mismatch(self, got, what: str = "gradient", inputs=None,
                 input_name: str = "x") -> str | None:
        """None when ``got`` agrees with the differences; else what differs, at the worst
        entry: "the <what> at index (i,): central differences give …, yours is … (…)".
        ``inputs`` (the shape of ``got``) names the input there instead of the index."""
        got = np.asarray(got, dtype=float)
        if got.shape != self.numeric.shape:
            return f"the {what} has shape {got.shape}, expected {self.numeric.shape}"
        ratios = self.ratios(got).reshape(-1)
        worst = int(np.argmax(ratios)) if ratios.size else 0
        if not ratios.size or ratios[worst] <= 1.0:
            return None
        where = ""
        if inputs is not None and np.size(inputs) == ratios.size:
            where = f" at {input_name} = {np.asarray(inputs, dtype=float).reshape(-1)[worst]:.6g}"
        elif got.ndim:
            where = f" at index {tuple(int(i) for i in np.unravel_index(worst, got.shape))}"
        numeric, value = float(self.numeric.reshape(-1)[worst]), float(got.reshape(-1)[worst])
        shown_numeric, shown_value = format_pair(numeric, value)
        truncation = float(self.truncation.reshape(-1)[worst])
        rounding = float(self.rounding.reshape(-1)[worst])
        return (f"the {what}{where}: central differences give {shown_numeric}, yours is "
                f"{shown_value}; they differ by {abs(value - numeric):.2g}, more than the "
                f"differences' own error can explain (at most {SAFETY:g} × (truncation "
                f"{truncation:.1g} + rounding {rounding:.1g}) = "
                f"{SAFETY * (truncation + rounding):.2g})")


def _rounding(f_scale, h, numeric: np.ndarray) -> np.ndarray:
    """R = δf/h, plus as many roundings of the derivative itself (the one compared is a
    computed number too, exact only to a few ε·|∂f|)."""
    scale = np.abs(np.asarray(f_scale, dtype=float))
    return ROUNDINGS * EPS * (np.broadcast_to(scale / h, numeric.shape) + np.abs(numeric))


def gradient_differences(f: Callable[[np.ndarray], float] | None, x, h: float = 1e-5, *,
                         f_scale=None, f_batch=None) -> FiniteDifferences:
    """Centred differences of a scalar function at ``x``, with their error bound.

    ``f(x) -> float`` is called 4 times per entry of x (steps h and 2h); or give
    ``f_batch(points) -> values``, f on a stack of points of shape (K, *x.shape), for speed.
    ``f_scale``: the size of what f adds up (see the module's docstring); by default, per
    entry, the largest |f| the differences subtract.
    """
    x = np.array(x, dtype=float)
    if f_batch is not None:
        (d_h, size_h), (d_2h, size_2h) = (_batched_gradient(f_batch, x, step)
                                          for step in (h, 2 * h))
    else:
        (d_h, size_h), (d_2h, size_2h) = (_gradient(f, x, step) for step in (h, 2 * h))
    scale = np.maximum(size_h, size_2h) if f_scale is None else f_scale
    return FiniteDifferences(d_h, np.abs(d_2h - d_h) / 3, _rounding(scale, h, d_h))


def derivative_differences(f: Callable[[np.ndarray], np.ndarray], z, h: float = 1e-6, *,
                           f_scale=None) -> FiniteDifferences:
    """Centred differences of an element-wise function at every entry of ``z``, with their
    error bound; ``f_scale`` (per entry or one number) is by default, per entry, the largest
    |f| the differences subtract."""
    (d_h, size_h), (d_2h, size_2h) = (_derivative(f, z, step) for step in (h, 2 * h))
    scale = np.maximum(size_h, size_2h) if f_scale is None else f_scale
    return FiniteDifferences(d_h, np.abs(d_2h - d_h) / 3, _rounding(scale, h, d_h))


def check_gradient(f, x, grad, h: float = 1e-5, *, f_scale=None, f_batch=None,
                   name: str = "gradient", what: str = "gradient") -> None:
    """AssertionError unless ``grad`` matches centred differences of the scalar ``f`` at ``x``
    within their error bound (see the module's docstring)."""
    got = as_float_array(grad, name, what)
    problem = gradient_differences(f, x, h, f_scale=f_scale, f_batch=f_batch).mismatch(got, what)
    if problem is not None:
        raise AssertionError(f"{name}: {problem}")


def check_derivative(f, z, derivative, h: float = 1e-6, *, f_scale=None,
                     name: str = "derivative", what: str = "derivative") -> None:
    """AssertionError unless ``derivative`` matches centred differences of the element-wise
    ``f`` at every entry of ``z`` within their error bound."""
    got = as_float_array(derivative, name, what)
    problem = derivative_differences(f, z, h, f_scale=f_scale).mismatch(got, what, inputs=z,
                                                                        input_name="z")
    if problem is not None:
        raise AssertionError(f"{name}: {problem}")
