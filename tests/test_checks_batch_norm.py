"""The chapter 08 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from descent.answers import load
from descent.checks import batch_norm as checks

answers = load("08_batch_norm")
forward, backward = answers.batchnorm_forward, answers.batchnorm_backward


@pytest.mark.parametrize(
    "check, functions, kwargs",
    [
        (checks.check_batchnorm_forward, ["batchnorm_forward"], {"seed": 3, "shape": (2, 6)}),
        (checks.check_batchnorm_forward, ["batchnorm_forward"],
         {"seed": 4, "shape": (100, 3), "eps": 1.0, "offset": 50.0}),
        (checks.check_batchnorm_forward, ["batchnorm_forward"],
         {"seed": 5, "shape": (3, 2), "constant_feature": True}),
        (checks.check_batchnorm_backward, ["batchnorm_forward", "batchnorm_backward"],
         {"seed": 6, "shape": (2, 4)}),
        (checks.check_batchnorm_backward, ["batchnorm_forward", "batchnorm_backward"],
         {"seed": 7, "shape": (10, 3), "eps": 0.01, "scale": 5.0}),
        (checks.check_batchnorm_backward, ["batchnorm_forward", "batchnorm_backward"],
         {"seed": 8, "shape": (4, 5), "constant_feature": True}),
        (checks.check_update_running_stats, ["update_running_stats"],
         {"seed": 9, "shape": (3, 7), "steps": 20, "momentum": 0.3}),
        (checks.check_batchnorm_eval, ["batchnorm_eval"], {"seed": 10, "shape": (1, 3)}),
        (checks.check_batchnorm_eval, ["batchnorm_eval"],
         {"seed": 11, "shape": (40, 8), "eps": 0.2, "scale": 0.01}),
    ],
)
def test_model_answers_pass(check, functions, kwargs):
    check(*(getattr(answers, f) for f in functions), **kwargs)


# ---------------------------------------------------------------- forward mutants


def _stats(A, axis=0, ddof=0):
    A = np.asarray(A, dtype=float)
    return A.mean(axis=axis, keepdims=True), A.var(axis=axis, ddof=ddof, keepdims=True)


def forward_unbiased(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    mu, var = _stats(A, ddof=1)
    return gamma * (A - mu) / np.sqrt(var + eps) + beta, cache


def forward_eps_outside(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    mu, var = _stats(A)
    return gamma * (A - mu) / (np.sqrt(var) + eps) + beta, cache


def forward_without_eps(A, gamma, beta, eps=1e-5):
    return forward(A, gamma, beta, 1e-300)


def forward_per_example(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    mu, var = _stats(A, axis=1)
    return gamma * (A - mu) / np.sqrt(var + eps) + beta, cache


def forward_no_affine(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    return cache["A_hat"], cache


def forward_swapped(A, gamma, beta, eps=1e-5):
    return forward(A, beta, gamma, eps)


def forward_no_guard(A, gamma, beta, eps=1e-5):
    A = np.asarray(A, dtype=float)
    mu, var = _stats(A)
    A_hat = (A - mu) / np.sqrt(var + eps)
    return gamma * A_hat + beta, {"A_hat": A_hat, "sigma": np.sqrt(var + eps), "gamma": gamma}


def forward_asserts(A, gamma, beta, eps=1e-5):
    assert len(A) > 1, "need two examples"
    return forward(A, gamma, beta, eps)


def forward_object_cache(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    return out, type("Cache", (), cache)()


def forward_in_place(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    A -= A.mean(axis=0)
    return out, cache


def forward_wrong_default(A, gamma, beta, eps=1e-3):
    return forward(A, gamma, beta, eps)


# ---------------------------------------------------------------- backward mutants


def backward_stops_at_a_hat(dout, cache):
    """The chapter's WrongAnswer: dA = dout·γ/σ, no path through μ and σ."""
    _, dgamma, dbeta = backward(dout, cache)
    return dout * cache["gamma"] / cache["sigma"], dgamma, dbeta


def backward_no_sigma_path(dout, cache):
    _, dgamma, dbeta = backward(dout, cache)
    return cache["gamma"] / cache["sigma"] * (dout - dout.mean(axis=0)), dgamma, dbeta


def backward_no_mu_path(dout, cache):
    _, dgamma, dbeta = backward(dout, cache)
    a_hat = cache["A_hat"]
    return (cache["gamma"] / cache["sigma"] * (dout - a_hat * (dout * a_hat).mean(axis=0)),
            dgamma, dbeta)


def backward_without_gamma(dout, cache):
    dA, dgamma, dbeta = backward(dout, cache)
    return dA / cache["gamma"], dgamma, dbeta


def backward_mean_dbeta(dout, cache):
    dA, dgamma, dbeta = backward(dout, cache)
    return dA, dgamma, dbeta / len(dout)


def forward_keeping_a(A, gamma, beta, eps=1e-5):
    out, cache = forward(A, gamma, beta, eps)
    return out, {**cache, "A": np.array(A, dtype=float)}


def backward_dgamma_of_a(dout, cache):
    dA, _, dbeta = backward(dout, cache)
    return dA, np.sum(dout * cache["A"], axis=0), dbeta


def backward_swapped(dout, cache):
    dA, dgamma, dbeta = backward(dout, cache)
    return dA, dbeta, dgamma


def backward_pair(dout, cache):
    return backward(dout, cache)[:2]


def backward_in_place(dout, cache):
    result = backward(dout, cache)
    dout *= 2.0
    return result


def backward_scales_cache(dout, cache):
    """Right on the first call, but keeps γ·Â in the cache's array (in place)."""
    result = backward(dout, cache)
    cache["A_hat"] *= cache["gamma"]
    return result


# ---------------------------------------------------------------- running statistics mutants


def running_biased(running_mean, running_var, A, momentum=0.1):
    mean, _ = answers.update_running_stats(running_mean, running_var, A, momentum)
    return mean, (1 - momentum) * running_var + momentum * np.var(A, axis=0)


def running_keras(running_mean, running_var, A, momentum=0.1):
    return answers.update_running_stats(running_mean, running_var, A, 1 - momentum)


def running_std(running_mean, running_var, A, momentum=0.1):
    mean, _ = answers.update_running_stats(running_mean, running_var, A, momentum)
    return mean, (1 - momentum) * running_var + momentum * np.std(A, axis=0, ddof=1)


def running_swapped(running_mean, running_var, A, momentum=0.1):
    mean, var = answers.update_running_stats(running_mean, running_var, A, momentum)
    return var, mean


def running_wrong_default(running_mean, running_var, A, momentum=0.9):
    return answers.update_running_stats(running_mean, running_var, A, momentum)


def running_in_place(running_mean, running_var, A, momentum=0.1):
    mean, var = answers.update_running_stats(running_mean, running_var, A, momentum)
    running_mean[...] = mean
    return mean, var


def running_batch_only(running_mean, running_var, A, momentum=0.1):
    return np.mean(A, axis=0), np.var(A, axis=0, ddof=1)


# ---------------------------------------------------------------- eval mutants


def eval_batch_stats(A, gamma, beta, running_mean, running_var, eps=1e-5):
    return forward(A, gamma, beta, eps)[0]


def eval_var_as_std(A, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (A - running_mean) / (running_var + eps) + beta


def eval_eps_outside(A, gamma, beta, running_mean, running_var, eps=1e-5):
    return gamma * (A - running_mean) / (np.sqrt(running_var) + eps) + beta


def eval_without_eps(A, gamma, beta, running_mean, running_var, eps=1e-5):
    return answers.batchnorm_eval(A, gamma, beta, running_mean, running_var, 0.0)


def eval_no_affine(A, gamma, beta, running_mean, running_var, eps=1e-5):
    return (A - running_mean) / np.sqrt(running_var + eps)


def eval_refuses_one(A, gamma, beta, running_mean, running_var, eps=1e-5):
    if len(A) < 2:
        raise ValueError("need two examples")
    return answers.batchnorm_eval(A, gamma, beta, running_mean, running_var, eps)


def eval_wrong_default(A, gamma, beta, running_mean, running_var, eps=1e-3):
    return answers.batchnorm_eval(A, gamma, beta, running_mean, running_var, eps)


def eval_in_place(A, gamma, beta, running_mean, running_var, eps=1e-5):
    out = answers.batchnorm_eval(A, gamma, beta, running_mean, running_var, eps)
    A -= running_mean
    return out


def _backward_check(mutant):
    return lambda: checks.check_batchnorm_backward(forward, mutant)


MUTANTS = [
    (checks.check_batchnorm_forward, forward_unbiased, "biased variance"),
    (checks.check_batchnorm_forward, forward_eps_outside, "not √variance + δ"),
    (checks.check_batchnorm_forward, forward_without_eps, "before the square root"),
    (checks.check_batchnorm_forward, forward_per_example, "layer normalization"),
    (checks.check_batchnorm_forward, forward_no_affine, "scale and shift"),
    (checks.check_batchnorm_forward, forward_swapped, "swapped"),
    (checks.check_batchnorm_forward, forward_no_guard, "expected a ValueError"),
    (checks.check_batchnorm_forward, forward_asserts, "raised AssertionError"),
    (checks.check_batchnorm_forward, forward_object_cache, "holds a Cache"),
    (checks.check_batchnorm_forward, forward_in_place, "modified in place"),
    (checks.check_batchnorm_forward, lambda *a, **k: forward(*a, **k)[0], "pair"),
    (checks.check_batchnorm_forward, forward_wrong_default, "default δ"),
    (_backward_check(backward_stops_at_a_hat), None, "stopped at Â"),
    (_backward_check(backward_no_sigma_path), None, "path through σ is missing"),
    (_backward_check(backward_no_mu_path), None, "path through μ is missing"),
    (_backward_check(backward_without_gamma), None, "multiply by γ"),
    (_backward_check(backward_mean_dbeta), None, "not the mean"),
    (lambda: checks.check_batchnorm_backward(forward_keeping_a, backward_dgamma_of_a), None,
     "normalized Â, not A"),
    (_backward_check(backward_swapped), None, "that is dγ"),
    (_backward_check(backward_pair), None, "triple"),
    (_backward_check(backward_in_place), None, "dout it was given"),
    (_backward_check(backward_scales_cache), None, "the same cache with another dout"),
    (lambda: checks.check_batchnorm_backward(forward_unbiased, backward), None,
     "batchnorm_forward test pass first"),
    (checks.check_update_running_stats, running_biased, "UNBIASED"),
    (checks.check_update_running_stats, running_keras, "Keras"),
    (checks.check_update_running_stats, running_std, "not the standard deviation"),
    (checks.check_update_running_stats, running_swapped, "running mean first"),
    (checks.check_update_running_stats, running_wrong_default, "default momentum"),
    (checks.check_update_running_stats, running_in_place, "modified in place"),
    (checks.check_update_running_stats, running_batch_only, "after 1 batch"),
    (checks.check_batchnorm_eval, eval_batch_stats, "RUNNING statistics"),
    (checks.check_batchnorm_eval, eval_var_as_std, "is a variance"),
    (checks.check_batchnorm_eval, eval_eps_outside, "inside the square root"),
    (checks.check_batchnorm_eval, eval_without_eps, "before the square root"),
    (checks.check_batchnorm_eval, eval_no_affine, "scale and shift"),
    (checks.check_batchnorm_eval, eval_refuses_one, "single example is fine"),
    (checks.check_batchnorm_eval, eval_wrong_default, "default δ"),
    (checks.check_batchnorm_eval, eval_in_place, "modified in place"),
]


@pytest.mark.parametrize("check, mutant, message", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(check, mutant, message):
    with pytest.raises(AssertionError) as failure:
        check() if mutant is None else check(mutant)
    assert message in str(failure.value)


def test_forward_mistakes_show_with_a_constant_feature():
    """A constant feature has σ = √δ: a forward that divides by the bare std gives NaN."""
    def bare_std(A, gamma, beta, eps=1e-5):
        out, cache = forward(A, gamma, beta, eps)
        mu, var = _stats(A)
        with np.errstate(all="ignore"):
            return gamma * (A - mu) / np.sqrt(var) + beta, cache

    with pytest.raises(AssertionError, match="variance is 0"):
        checks.check_batchnorm_forward(bare_std, constant_feature=True)


def test_finite_differences_reject_what_autograd_would_not_see(monkeypatch):
    """With the autograd comparison turned off, finite differences alone catch a mistake."""
    monkeypatch.setattr(checks, "_check_gradients", lambda *args: None)
    with pytest.raises(AssertionError, match="finite differences"):
        checks.check_batchnorm_backward(forward, backward_no_sigma_path)
    checks.check_batchnorm_backward(forward, backward)


def test_a_value_error_that_crossed_the_sandbox_is_recognized():
    from autograder.remote import ExceptionClasses

    def through_grader(name):
        """What the grader raises when a student's function raised ``name``: the exception
        rebuilt on the trusted side from its class chain (autograder/remote.py)."""
        def forward_in_sandbox(A, gamma, beta, eps=1e-5):
            if len(A) < 2:
                raise ExceptionClasses().rebuild({
                    "ename": name, "evalue": "...", "args": None,
                    "mro": [["builtins", name], ["builtins", "Exception"]]})
            return forward(A, gamma, beta, eps)
        return forward_in_sandbox

    checks.check_batchnorm_forward(through_grader("ValueError"))
    with pytest.raises(AssertionError, match="raised ZeroDivisionError, expected ValueError"):
        checks.check_batchnorm_forward(through_grader("ZeroDivisionError"))


def test_a_cache_the_grader_could_not_send_is_named():
    class Unsupported:  # the grader's stand-in for a value that is not data (autograder.wire)
        type_name = "function"

    def forward_with_function(A, gamma, beta, eps=1e-5):
        out, cache = forward(A, gamma, beta, eps)
        return out, {**cache, "backward": Unsupported()}

    with pytest.raises(AssertionError, match="holds a function"):
        checks.check_batchnorm_forward(forward_with_function)
    with pytest.raises(AssertionError, match="string keys"):
        checks.check_batchnorm_forward(lambda *a, **k: (forward(*a, **k)[0], {1: 2.0}))


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_batchnorm_forward, checks.check_update_running_stats,
                  checks.check_batchnorm_eval):
        with pytest.raises(NotImplementedError):
            check(stub)
    with pytest.raises(NotImplementedError):
        checks.check_batchnorm_backward(forward, stub)
    with pytest.raises(NotImplementedError):
        checks.check_batchnorm_backward(stub, backward)
