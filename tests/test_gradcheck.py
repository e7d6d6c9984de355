"""descent.gradcheck: centred differences and the error bound every gradient check uses."""

from __future__ import annotations

import numpy as np
import pytest

from descent import gradcheck
from descent.gradcheck import (
    check_derivative,
    check_gradient,
    derivative_differences,
    gradient_differences,
    numerical_derivative,
    numerical_gradient,
    rel_error,
)


def test_differences_match_closed_forms():
    x = np.array([0.3, -1.2, 2.0])
    assert rel_error(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2) < 1e-8
    assert rel_error(numerical_derivative(np.sin, x), np.cos(x)) < 1e-8
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [1.1]) == pytest.approx(0.1 / 2.1)


def test_the_step_actually_taken_divides():
    """Far from 0, x ± h is rounded: the identity still has slope exactly 1."""
    z = np.array([1e5 + 0.1, -3e7 + 0.3])
    assert np.array_equal(numerical_derivative(lambda t: t, z), np.ones(2))
    assert np.array_equal(numerical_gradient(lambda v: float(v[0]), z[:1]), np.ones(1))


def test_step_doubling_estimates_the_truncation_error():
    """D_h − f' = h²/6·f''' + O(h⁴); the estimate |D_2h − D_h|/3 recovers it (h large enough
    that rounding is negligible)."""
    z, h = np.linspace(-2.0, 2.0, 9), 1e-3
    differences = derivative_differences(np.exp, z, h)
    actual = np.abs(differences.numeric - np.exp(z))
    assert np.allclose(differences.truncation, actual, rtol=1e-3)
    assert np.allclose(actual, h**2 / 6 * np.exp(z), rtol=1e-3)


def test_rounding_dominates_a_large_constant_and_stays_within_the_bound():
    """f = 1e6 + Σ sin(x): the difference of two values near 1e6 carries ε·1e6/h ≈ 2e-5,
    far above truncation; a relative threshold of 1e-7 would reject the right gradient."""
    x = np.array([0.1, 1.0, 1.5])
    differences = gradient_differences(lambda v: 1e6 + np.sum(np.sin(v)), x)
    assert rel_error(differences.numeric, np.cos(x)) > 1e-7
    assert differences.excess(np.cos(x)) <= 1.0
    assert np.all(differences.rounding > 10 * differences.truncation)


@pytest.mark.parametrize("a", [1e-3, 1.0, 30.0])
def test_right_gradients_pass_and_slightly_wrong_ones_fail(a):
    """exp(a·x) summed: the bound follows the function's size and curvature, so a right
    gradient passes at every scale, and one off by 1e-4 relative fails."""
    x = np.random.default_rng(0).normal(size=(3, 2)) / max(a, 1.0)

    def f(v):
        return float(np.sum(np.exp(a * v)))

    right = a * np.exp(a * x)
    check_gradient(f, x, right)
    with pytest.raises(AssertionError, match=r"the gradient at index \(\d, \d\): central "):
        check_gradient(f, x, right * (1 + 1e-4))


def test_the_bound_is_small_for_functions_of_order_one():
    differences = gradient_differences(lambda v: float(np.sum(np.tanh(v))), np.linspace(-1, 1, 5))
    assert np.all(differences.allowed < 1e-7)


def test_batched_evaluation_gives_the_same_differences():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def f(v):
        return float(np.sum(w * np.tanh(v)))

    def f_batch(points):  # (K, 4, 3) -> (K,)
        return np.sum(w * np.tanh(points), axis=(1, 2))

    one, many = gradient_differences(f, x), gradient_differences(None, x, f_batch=f_batch)
    assert np.allclose(one.numeric, many.numeric, rtol=0, atol=1e-9)
    check_gradient(None, x, w / np.cosh(x) ** 2, f_batch=f_batch)


def test_a_chunked_batch_covers_every_entry(monkeypatch):
    monkeypatch.setattr(gradcheck, "_CHUNK", 10)
    x = np.arange(7.0)
    calls = []

    def f_batch(points):
        calls.append(len(points))
        return np.sum(points**2, axis=1)

    differences = gradient_differences(None, x, f_batch=f_batch)
    assert np.allclose(differences.numeric, 2 * x) and max(calls) <= 2 * 5


def test_exact_zeros_need_no_tolerance():
    differences = gradient_differences(lambda v: 0.0, np.ones(3))
    assert differences.excess(np.zeros(3)) == 0.0
    assert differences.excess([0.0, 1e-300, 0.0]) == np.inf


def test_wrong_results_are_named():
    differences = derivative_differences(np.sin, np.array([0.5, 1.0]))
    assert differences.excess(np.cos([0.5, 1.0])) <= 1.0
    assert differences.excess([np.nan, 1.0]) == np.inf
    assert differences.mismatch(np.ones(3)) == "the gradient has shape (3,), expected (2,)"
    with pytest.raises(AssertionError, match=r"sin': the derivative at z = 1: central "
                                             r"differences give 0\.54"):
        check_derivative(np.sin, np.array([0.5, 1.0]), [np.cos(0.5), 0.6], name="sin'")
    with pytest.raises(AssertionError, match="is None"):
        check_derivative(np.sin, np.array([0.5]), None)
