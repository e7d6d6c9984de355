"""The chapter 08 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from checktools import (
    WRONG_OUTPUTS,
    assert_misconceptions_reached,
    assert_refused,
    assert_teaches,
    fails_as,
    failure,
    wrong,
)

from descent.answers import load
from descent.checks import batch_norm as checks
from descent.gradcheck import numerical_gradient, rel_error

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


def turn_not_rescaled(w, grad, lr, scale=1.0):
    return float(np.arctan(lr * np.linalg.norm(grad) / (scale * np.linalg.norm(w))))


def turn_times_c(w, grad, lr, scale=1.0):
    return float(np.arctan(lr * np.linalg.norm(grad) / np.linalg.norm(w)))


def turn_small_angle(w, grad, lr, scale=1.0):
    return float(lr * np.linalg.norm(grad) / (scale**2 * np.linalg.norm(w)))


def turn_degrees(w, grad, lr, scale=1.0):
    return float(np.degrees(answers.bn_turn_angle(w, grad, lr, scale=scale)))


def turn_norm_squared(w, grad, lr, scale=1.0):
    return float(np.arctan(lr * np.sum(grad**2) / (scale**2 * np.sum(w**2))))


def turn_in_place(w, grad, lr, scale=1.0):
    w *= scale
    return float(np.arctan(lr * np.linalg.norm(grad) / scale / np.linalg.norm(w)))


def turn_ignores_scale(w, grad, lr, scale=1.0):
    return answers.bn_turn_angle(w, grad, lr)


TURN_MUTANTS = [
    (turn_not_rescaled, "bn-scale.gradient-not-rescaled"),
    (turn_times_c, "bn-scale.ignores-scale"),
    (turn_small_angle, "bn-scale.small-angle"),
    (turn_degrees, "bn-scale.degrees"),
    (turn_norm_squared, "bn-scale.norm-squared"),
    (turn_in_place, "modified in place"),
    (turn_ignores_scale, "bn-scale.ignores-scale"),
]


# (check, mutant, what the message must contain): a misconception's id, found by its tag,
# or, for mistakes that are not misconceptions (a wrong type, an input modified), a phrase.
MUTANTS = [
    (checks.check_batchnorm_forward, forward_unbiased, "batchnorm.unbiased-variance"),
    (checks.check_batchnorm_forward, forward_eps_outside, "batchnorm.eps-outside-root"),
    (checks.check_batchnorm_forward, forward_without_eps, "batchnorm.no-eps"),
    (checks.check_batchnorm_forward, forward_per_example, "batchnorm.wrong-axis"),
    (checks.check_batchnorm_forward, forward_no_affine, "batchnorm.no-affine"),
    (checks.check_batchnorm_forward, forward_swapped, "batchnorm.gamma-beta-swapped"),
    (checks.check_batchnorm_forward, forward_no_guard, "batchnorm.batch-of-one"),
    (checks.check_batchnorm_forward, forward_asserts, "batchnorm.batch-of-one"),
    (checks.check_batchnorm_forward, forward_object_cache, "batchnorm.cache-not-data"),
    (checks.check_batchnorm_forward, forward_in_place, "modified in place"),
    (checks.check_batchnorm_forward, lambda *a, **k: forward(*a, **k)[0], "pair"),
    (checks.check_batchnorm_forward, forward_wrong_default, "batchnorm.default-eps"),
    (_backward_check(backward_stops_at_a_hat), None, "batchnorm.backward-stops-at-a-hat"),
    (_backward_check(backward_no_sigma_path), None, "batchnorm.backward-misses-sigma-path"),
    (_backward_check(backward_no_mu_path), None, "batchnorm.backward-misses-mean-path"),
    (_backward_check(backward_without_gamma), None, "batchnorm.backward-without-gamma"),
    (_backward_check(backward_mean_dbeta), None, "batchnorm.mean-not-sum"),
    (lambda: checks.check_batchnorm_backward(forward_keeping_a, backward_dgamma_of_a), None,
     "batchnorm.dgamma-uses-a"),
    (_backward_check(backward_swapped), None, "batchnorm.dgamma-dbeta-swapped"),
    (_backward_check(backward_pair), None, "triple"),
    (_backward_check(backward_in_place), None, "dout it was given"),
    (_backward_check(backward_scales_cache), None, "batchnorm.cache-modified"),
    (lambda: checks.check_batchnorm_backward(forward_unbiased, backward), None,
     "batchnorm_forward test pass first"),
    (checks.check_update_running_stats, running_biased, "batchnorm.running-biased-variance"),
    (checks.check_update_running_stats, running_keras, "batchnorm.keras-momentum"),
    (checks.check_update_running_stats, running_std, "batchnorm.running-std"),
    (checks.check_update_running_stats, running_swapped, "batchnorm.running-swapped"),
    (checks.check_update_running_stats, running_wrong_default, "batchnorm.default-momentum"),
    (checks.check_update_running_stats, running_in_place, "modified in place"),
    (checks.check_update_running_stats, running_batch_only, "after 1 batch"),
    (checks.check_batchnorm_eval, eval_batch_stats, "batchnorm.eval-uses-batch-stats"),
    (checks.check_batchnorm_eval, eval_var_as_std, "batchnorm.eval-var-as-std"),
    (checks.check_batchnorm_eval, eval_eps_outside, "batchnorm.eps-outside-root"),
    (checks.check_batchnorm_eval, eval_without_eps, "batchnorm.no-eps"),
    (checks.check_batchnorm_eval, eval_no_affine, "batchnorm.no-affine"),
    (checks.check_batchnorm_eval, eval_refuses_one, "batchnorm.eval-refuses-one"),
    (checks.check_batchnorm_eval, eval_wrong_default, "batchnorm.default-eps"),
    (checks.check_batchnorm_eval, eval_in_place, "modified in place"),
    *[(checks.check_bn_turn_angle, mutant, expected) for mutant, expected in TURN_MUTANTS],
]


@pytest.mark.parametrize("check, mutant, expected", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(check, mutant, expected):
    fails_as(check, expected, *([] if mutant is None else [mutant]))


def test_every_misconception_is_diagnosed_and_points_at_a_section():
    """Each id the module defines is reached by a mutant above, and its section is a heading
    of the page it names."""
    assert_misconceptions_reached(checks, [e for *_, e in MUTANTS])


def test_messages_name_the_array_that_differs():
    with pytest.raises(AssertionError, match=r"the dgamma \(∂L/∂γ, second of the triple\)"):
        checks.check_batchnorm_backward(forward_keeping_a, backward_dgamma_of_a)
    with pytest.raises(AssertionError, match=r"the dbeta \(∂L/∂δ, third of the triple\)"):
        checks.check_batchnorm_backward(forward, backward_mean_dbeta)
    with pytest.raises(AssertionError, match=r"the dA \(∂L/∂A, first of the triple\)"):
        checks.check_batchnorm_backward(forward, backward_no_mu_path)
    with pytest.raises(AssertionError, match=r"the running_var \(second of the pair\)"):
        checks.check_update_running_stats(running_std)
    with pytest.raises(AssertionError, match=r"the running_mean \(first of the pair\)"):
        checks.check_update_running_stats(running_swapped)


def test_forward_mistakes_show_with_a_constant_feature():
    """A constant feature has σ = √ε: a forward that divides by the bare std gives NaN."""
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
                  checks.check_batchnorm_eval, checks.check_bn_turn_angle):
        with pytest.raises(NotImplementedError):
            check(stub)
    with pytest.raises(NotImplementedError):
        checks.check_batchnorm_backward(forward, stub)
    with pytest.raises(NotImplementedError):
        checks.check_batchnorm_backward(stub, backward)


# ---------------------------------------------------------------- finite differences


def forward_for_autograd(A, gamma, beta, eps=1e-5):
    """The model forward, with a cache holding what autograd needs."""
    out, _ = forward(A, gamma, beta, eps)
    return out, {"A": np.array(A, dtype=float), "gamma": np.array(gamma, dtype=float),
                 "beta": np.array(beta, dtype=float), "eps": eps}


def backward_by_autograd(dout, cache):
    """PyTorch's own gradient: a right answer by construction."""
    a, g, b = (torch.tensor(cache[k], requires_grad=True) for k in ("A", "gamma", "beta"))
    F.batch_norm(a, None, None, g, b, training=True, eps=cache["eps"]).backward(
        torch.tensor(dout))
    return a.grad.numpy(), g.grad.numpy(), b.grad.numpy()


# The shapes where the former element-wise relative error below 1e-7 rejected right
# gradients (a tiny entry of dA, where the differences' rounding dominates), the truncation-
# dominated small spread, and the edges: N = 2, a constant feature, |μ| ≫ σ, σ ≈ √ε tiny.
FD_CASES = [
    {"seed": 1, "shape": (64, 4)}, {"seed": 3, "shape": (64, 4)}, {"shape": (100, 4)},
    {"shape": (128, 4)}, {"shape": (64, 16)}, {"shape": (32, 64)}, {"shape": (256, 4)},
    {"scale": 1e-3}, {"seed": 2, "shape": (2, 5)}, {"seed": 8, "shape": (8, 4),
                                                    "constant_feature": True},
    {"seed": 4, "shape": (100, 3), "offset": 50.0}, {"seed": 5, "shape": (20, 5),
                                                     "offset": 1000.0},
    {"seed": 6, "shape": (16, 3), "eps": 1e-8, "scale": 1e-4},
    {"seed": 7, "shape": (10, 3), "eps": 1.0, "scale": 5.0}, {"seed": 9, "shape": (5, 1)},
]


@pytest.mark.parametrize("kwargs", FD_CASES, ids=lambda k: ",".join(f"{a}={v}" for a, v in
                                                                     k.items()))
def test_finite_differences_accept_right_gradients(kwargs):
    """Autograd's gradient and the model answer pass the whole check, and autograd's gradient
    stays within half the differences' error bound on every entry of dA, dγ and dδ."""
    checks.check_batchnorm_backward(forward_for_autograd, backward_by_autograd, **kwargs)
    checks.check_batchnorm_backward(forward, backward, **kwargs)
    A, gamma, beta, rng = checks._batch(kwargs.get("seed", 0), kwargs.get("shape", (6, 4)),
                                        kwargs.get("offset", 2.0), kwargs.get("scale", 1.0),
                                        kwargs.get("constant_feature", False))
    eps, dout = kwargs.get("eps", 1e-5), rng.normal(size=A.shape)
    right = checks._autograd(A, gamma, beta, dout, eps)
    for numeric, g in zip(checks._sum_loss_differences(A, gamma, beta, dout, eps), right,
                          strict=True):
        assert numeric.excess(g) <= 0.5  # a margin of 2 at least, on every entry


def test_the_bound_holds_on_random_batches():
    """Autograd's gradient within half the bound on every entry of 300 random batches (sizes,
    ε, spreads, offsets and constant features drawn at random), where differences run."""
    draw = np.random.default_rng(2024)
    worst, compared = 0.0, 0
    for trial in range(300):
        shape = (int(draw.choice([2, 3, 5, 8, 33])), int(draw.choice([1, 2, 7])))
        eps = float(draw.choice([1e-5, 1e-8, 1e-12, 1.0]))
        scale, offset = float(draw.choice([1e-5, 1e-3, 1.0, 1e4])), float(draw.choice(
            [0.0, 2.0, 1e3, 1e5]))
        A, gamma, beta, rng = checks._batch(trial, shape, offset, scale, draw.random() < 0.2)
        if not checks._differences_resolve(A, eps):
            continue
        dout = rng.normal(size=shape)
        right = checks._autograd(A, gamma, beta, dout, eps)
        differences = checks._sum_loss_differences(A, gamma, beta, dout, eps)
        worst = max(worst, *(d.excess(g) for d, g in zip(differences, right, strict=True)))
        compared += 1
    assert compared > 150 and worst <= 0.5


def test_differences_are_skipped_where_the_step_is_not_small_against_sigma():
    """σ = √ε = 1e-6 for a constant feature at ε = 1e-12: a step of 1e-5 crosses the whole
    curve, so only autograd judges (and right answers pass)."""
    kwargs = {"eps": 1e-12, "scale": 1e-7, "constant_feature": True}
    A = checks._batch(0, (6, 4), 2.0, 1e-7, True)[0]
    assert not checks._differences_resolve(A, 1e-12)
    checks.check_batchnorm_backward(forward_for_autograd, backward_by_autograd, **kwargs)
    checks.check_batchnorm_backward(forward, backward, **kwargs)
    with pytest.raises(AssertionError, match="batchnorm.backward-misses-mean-path"):
        checks.check_batchnorm_backward(forward, backward_no_mu_path, **kwargs)


def test_the_former_relative_error_rule_rejected_right_gradients():
    """What the derived bound fixes: at (256, 4), autograd's dA has a relative error above
    1e-7 against the differences, on an entry where the gradient is tiny."""
    A, gamma, beta, rng = checks._batch(0, (256, 4))
    dout = rng.normal(size=A.shape)
    dA = checks._autograd(A, gamma, beta, dout, 1e-5)[0]
    numeric = numerical_gradient(
        lambda x: np.sum(dout * checks._train_forward(x, gamma, beta, 1e-5)), A)
    assert rel_error(dA, numeric) > 1e-7
    assert checks._sum_loss_differences(A, gamma, beta, dout, 1e-5)[0].excess(dA) < 0.1


@pytest.mark.parametrize("kwargs", [{}, {"shape": (256, 4)}, {"scale": 1e-3},
                                    {"seed": 2, "shape": (2, 5)}], ids=str)
@pytest.mark.parametrize("forward_, mutant, array", [
    (forward, backward_stops_at_a_hat, "dA"), (forward, backward_no_sigma_path, "dA"),
    (forward, backward_no_mu_path, "dA"), (forward, backward_without_gamma, "dA"),
    (forward, backward_mean_dbeta, "dbeta"), (forward, backward_swapped, "dgamma"),
    (forward_keeping_a, backward_dgamma_of_a, "dgamma"),
])
def test_finite_differences_alone_reject_the_known_mistakes(monkeypatch, kwargs, forward_,
                                                            mutant, array):
    monkeypatch.setattr(checks, "_check_gradients", lambda *args: None)
    with pytest.raises(AssertionError, match=rf"finite differences.*the {array} \("):
        checks.check_batchnorm_backward(forward_, mutant, **kwargs)


# ---------------------------------------------------------------- the checks' arguments


@pytest.mark.parametrize("check, kwargs, shown", [
    (checks.check_batchnorm_forward, {"eps": 0.0}, "eps=0.0"),
    (checks.check_batchnorm_forward, {"eps": -1e-5}, "eps=-1e-05"),
    (checks.check_batchnorm_forward, {"shape": (1, 4)}, "shape=(1, 4)"),
    (checks.check_batchnorm_forward, {"shape": (8,)}, "shape=(8,)"),
    (checks.check_batchnorm_forward, {"seed": -1}, "seed=-1"),
    (checks.check_batchnorm_forward, {"scale": 0.0}, "scale=0.0"),
    (checks.check_batchnorm_forward, {"offset": -2.0}, "offset=-2.0"),
    (checks.check_batchnorm_backward, {"eps": float("nan")}, "eps=nan"),
    (checks.check_batchnorm_backward, {"shape": (1, 3)}, "shape=(1, 3)"),
    (checks.check_batchnorm_backward, {"shape": (4, 0)}, "shape=(4, 0)"),
    (checks.check_update_running_stats, {"momentum": 1.5}, "momentum=1.5"),
    (checks.check_update_running_stats, {"momentum": -0.1}, "momentum=-0.1"),
    (checks.check_update_running_stats, {"shape": (1, 3)}, "shape=(1, 3)"),
    (checks.check_update_running_stats, {"steps": 0}, "steps=0"),
    (checks.check_batchnorm_eval, {"eps": 0}, "eps=0"),
    (checks.check_batchnorm_eval, {"shape": (0, 3)}, "shape=(0, 3)"),
    (checks.check_batchnorm_eval, {"shape": "5x4"}, "shape='5x4'"),
])
def test_bad_arguments_are_refused_before_the_student_is_called(check, kwargs, shown):
    assert_refused(check, kwargs, shown, 2 if check is checks.check_batchnorm_backward else 1)


def test_edge_arguments_are_accepted():
    checks.check_update_running_stats(answers.update_running_stats, momentum=0.0, steps=1)
    checks.check_update_running_stats(answers.update_running_stats, momentum=1, shape=(2, 1))
    checks.check_batchnorm_eval(answers.batchnorm_eval, shape=[1, 1], seed=np.int64(3))


# ---------------------------------------------------------------- generic wrong answers


def _arrays(result, change):
    """``result`` with ``change`` applied to its arrays (at the top level of a tuple; a
    cache dict is left alone)."""
    if isinstance(result, tuple):
        return tuple(change(x) if isinstance(x, np.ndarray) else x for x in result)
    return change(result)


WRONG = {
    "None": lambda result: None,
    "a string": lambda result: "not an array",
    "NaN": lambda result: _arrays(result, lambda x: np.full_like(x, np.nan)),
    "the wrong shape": lambda result: _arrays(result, lambda x: x.reshape(-1)[1:]),
    "a tuple too long": lambda result: (*result, result[0]) if isinstance(result, tuple)
    else (result, result),
    "a tuple too short": lambda result: result[:-1] if isinstance(result, tuple) else (result,),
    "negated": lambda result: _arrays(result, lambda x: -x),
    "scaled by 1.01": lambda result: _arrays(result, lambda x: 1.01 * x),
    "strings inside": lambda result: _arrays(result, lambda x: np.full(x.shape, "a")),
    "ragged lists": lambda result: _arrays(result, lambda x: [[1.0], [1.0, 2.0]]),
}


def _wrong(function, change):
    def wrong(*args, **kwargs):
        return change(function(*args, **kwargs))
    return wrong


def _tupled(function):
    """The backward's triple as a tuple, whatever the model returns."""
    return lambda *args, **kwargs: tuple(function(*args, **kwargs))


SMALL = {"shape": (4, 3)}
BATTERY = [
    ("forward", lambda f: checks.check_batchnorm_forward(f, **SMALL), forward),
    ("backward", lambda f: checks.check_batchnorm_backward(forward, f, **SMALL),
     _tupled(backward)),
    ("running stats", lambda f: checks.check_update_running_stats(f, steps=2, **SMALL),
     _tupled(answers.update_running_stats)),
    ("eval", lambda f: checks.check_batchnorm_eval(f, **SMALL), answers.batchnorm_eval),
]


@pytest.mark.parametrize("change", WRONG, ids=str)
@pytest.mark.parametrize("label, run, model", BATTERY, ids=[b[0] for b in BATTERY])
def test_generic_wrong_answers_end_in_assertion_error(label, run, model, change):
    with pytest.raises(AssertionError):
        run(_wrong(model, WRONG[change]))


def test_a_cache_that_is_not_data_ends_in_assertion_error():
    for cache in (object(), {"f": len}, [np.zeros(2), {3: 1.0}], lambda: 0):
        with pytest.raises(AssertionError, match="cache"):
            checks.check_batchnorm_backward(lambda *a, c=cache, **k: (forward(*a, **k)[0], c),
                                            backward, **SMALL)


# ---------------------------------------------------------------- scale invariance


@pytest.mark.parametrize("kwargs", [{}, {"seed": 3, "n": 3, "dim": 2},
                                    {"lr": 10.0, "scale": 0.01}, {"lr": 1e-6, "scale": 1e3}])
def test_bn_turn_angle_passes(kwargs):
    checks.check_bn_turn_angle(answers.bn_turn_angle, **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_scale_invariant_gradient_is_orthogonal_and_scales_as_one_over_c(seed):
    """What the task's closed form rests on, by autograd: w·∇L(w) = 0 and
    ∇L(cw) = ∇L(w)/c, and the measured angle is arctan(η‖g‖/(c²‖w‖))."""
    H, w, R = checks.bn_scale_problem(seed, 10, 4)
    g = checks.bn_scale_gradient(H, w, R)
    assert abs(g @ w) <= 1e-12 * np.linalg.norm(g) * np.linalg.norm(w)
    for c in (0.1, 3.0, 50.0):
        assert np.allclose(checks.bn_scale_gradient(H, c * w, R), g / c, rtol=1e-10, atol=0)
        measured = checks.bn_turn_angle_measured(H, w, R, 0.3, c)
        ratio = 0.3 * np.linalg.norm(g) / (c**2 * np.linalg.norm(w))
        assert measured == pytest.approx(np.arctan(ratio), rel=1e-10)


@pytest.mark.parametrize("change", WRONG_OUTPUTS)
def test_bn_turn_angle_generic_wrong_answers_teach(change):
    message = failure(checks.check_bn_turn_angle,
                      wrong(answers.bn_turn_angle, WRONG_OUTPUTS[change]))
    assert_teaches(message, "bn_turn_angle")


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"scale": -1.0}, {"n": 2}, {"dim": 1},
                                    {"seed": -1}])
def test_bn_turn_angle_bad_arguments_are_refused(kwargs):
    assert_refused(checks.check_bn_turn_angle, kwargs)
