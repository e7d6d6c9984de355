"""Finite-difference helpers, in the spirit of cs231n's ``gradient_check.py``.

Centred differences have truncation error O(h²)·|f'''| and rounding error
O(eps·|f|/h); with float64 (eps ≈ 2.2e-16) and h = 1e-5 both sit around 1e-10
for smooth functions of order one, so a relative error below ~1e-7 means the
analytic gradient is right, and above ~1e-4 means it is wrong. Near kinks
(ReLU at 0, clipping thresholds) finite differences are meaningless: keep test
points away from them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rel_error(a, b) -> float:
    """Largest relative difference, max |a − b| / max(1e-8, |a| + |b|)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f: Callable[[np.ndarray], float], x, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by centred differences, one entry at a time.

    ``x`` is not modified: each coordinate is perturbed on a private copy.
    """
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = float(f(x))
        x[index] = original - h
        f_minus = float(f(x))
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_derivative(f: Callable[[np.ndarray], np.ndarray], z, h: float = 1e-6):
    """Derivative of an element-wise function, (f(z + h) − f(z − h)) / 2h, vectorized."""
    z = np.asarray(z, dtype=float)
    return (np.asarray(f(z + h), dtype=float) - np.asarray(f(z - h), dtype=float)) / (2 * h)
