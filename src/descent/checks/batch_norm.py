"""Checks for chapter 08: batch normalization of a mini-batch A of shape (N, D),

    out, cache = batchnorm_forward(A, gamma, beta, eps=1e-5)                  # training mode
    dA, dgamma, dbeta = batchnorm_backward(dout, cache)
    running_mean, running_var = update_running_stats(running_mean, running_var, A,
                                                     momentum=0.1)
    out = batchnorm_eval(A, gamma, beta, running_mean, running_var, eps=1e-5)  # test time

Oracles: ``torch.nn.functional.batch_norm`` in float64, in training mode for the forward
and, through the running tensors it updates in place, for the running statistics; in eval
mode for ``batchnorm_eval``; autograd through it for the backward, and central finite
differences (:mod:`descent.gradcheck`) of the scalar loss Σ R ⊙ out, with PyTorch's
forward, with respect to A, γ and δ, compared entry by entry within the differences' own
error bound (truncation and rounding, derived there), not a fixed relative error.

A check refuses bad arguments of its own (eps ≤ 0, momentum outside [0, 1], a batch too
small for what it checks, ...) with a ValueError, before calling the student's function.

Conventions (PyTorch's): ε (eps) inside the root, σ = √(ε + biased variance) in training
mode; the running variance stores the UNBIASED batch variance and
running ← (1 − m)·running + m·batch. A batch of one example has no variance: the course's
``batchnorm_forward`` raises ValueError, as PyTorch does, and the forward check verifies it.

The cache is whatever the student's forward returns, handed back unchanged to their
backward. The grader carries it between processes, so it must be plain data.

When a result is wrong, the check recomputes it with a few classic mistakes (the unbiased
variance, ε outside the root, the paths through μ and σ left out of the backward, ...), all
with PyTorch, and names the one the student's result matches. Those variants only choose
the hint; the verdict always comes from the oracle.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from descent.checks._arguments import SEED, Rule, integer, is_int, number, require
from descent.checks._compare import (
    as_float_array,
    as_number,
    as_tuple,
    assert_close,
    assert_unchanged,
    compare_with_hint,
    diagnose,
)
from descent.checks._oracle import float64_tensor
from descent.checks.misconceptions import on_page
from descent.gradcheck import FiniteDifferences, gradient_differences

#: PyTorch's default ε, the default of every function of the chapter.
EPS = 1e-5
#: PyTorch's default momentum of the running statistics.
MOMENTUM = 0.1
#: Step h of the central differences; they are taken only where every σ_j is ≥ 10·h: the
#: loss varies in A_ij on the scale σ_j, and its Taylor series in h, which the error bound
#: relies on, converges fast only for h ≪ σ (on 1500 random batches, the largest error
#: was 0.13 of the bound for h/σ < 0.1, and beyond it for h/σ > 0.3).
STEP = 1e-5
_PLAIN = (type(None), bool, int, float, str, np.ndarray, np.generic, torch.Tensor)
#: The arrays the backward returns, and the pair of running statistics, as messages name them.
_GRADIENTS = ("dA (∂L/∂A, first of the triple)", "dgamma (∂L/∂γ, second of the triple)",
              "dbeta (∂L/∂δ, third of the triple)")
_RUNNING = ("running_mean (first of the pair)", "running_var (second of the pair)")

# ---------------------------------------------------------------- known mistakes

_PAGE = "08_batch_norm"
_mistake = on_page(_PAGE)
_FORWARD, _MODES, _BACKWARD, _CONVENTIONS = (
    "The forward pass", "Training mode and test mode", "The backward pass",
    "Where conventions differ")
UNBIASED_VARIANCE = _mistake(
    "batchnorm.unbiased-variance",
    "normalize with the biased variance 1/N·Σ(A − μ)², as PyTorch does in training mode "
    "(not 1/(N − 1))", _FORWARD)
EPS_OUTSIDE_ROOT = _mistake(
    "batchnorm.eps-outside-root",
    "ε goes inside the square root: σ = √(ε + variance), not √variance + ε", _FORWARD)
NO_EPS = _mistake(
    "batchnorm.no-eps", "add ε (eps) to the variance before the square root: σ = √(ε + variance)",
    _FORWARD)
NO_AFFINE = _mistake(
    "batchnorm.no-affine", "scale and shift the normalized Â: out = γ·Â + δ", _FORWARD)
GAMMA_BETA_SWAPPED = _mistake(
    "batchnorm.gamma-beta-swapped", "γ scales and δ shifts: out = γ·Â + δ (you swapped them)",
    _FORWARD)
WRONG_AXIS = _mistake(
    "batchnorm.wrong-axis",
    "you normalized each example over its features (that is layer normalization): batch norm "
    "normalizes each feature, a column, over the batch — axis=0", _FORWARD)
BATCH_OF_ONE = _mistake(
    "batchnorm.batch-of-one",
    "a batch of one example has nothing to normalize with in training mode: check "
    "A.shape[0] < 2 first and raise ValueError, as PyTorch does", _FORWARD)
CACHE_NOT_DATA = _mistake(
    "batchnorm.cache-not-data",
    "the cache must be plain data: keep only arrays, numbers, tuples, lists and dicts with "
    "string keys in it", _FORWARD)
DEFAULT_EPS = _mistake(
    "batchnorm.default-eps", "the default ε is PyTorch's, eps=1e-5", _CONVENTIONS)
STOPS_AT_A_HAT = _mistake(
    "batchnorm.backward-stops-at-a-hat",
    "the gradient stopped at Â = (A − μ)/σ, as if μ and σ were constants: they depend on A "
    "too, so add the paths through μ and σ (the −Σ dout and −Â·Σ(dout ⊙ Â) terms)", _BACKWARD)
MISSES_SIGMA_PATH = _mistake(
    "batchnorm.backward-misses-sigma-path",
    "the path through σ is missing: σ depends on A too (the −Â·Σ(dout ⊙ Â) term)", _BACKWARD)
MISSES_MEAN_PATH = _mistake(
    "batchnorm.backward-misses-mean-path",
    "the path through μ is missing: μ depends on A too (the −Σ dout term)", _BACKWARD)
BACKWARD_WITHOUT_GAMMA = _mistake(
    "batchnorm.backward-without-gamma", "multiply by γ: the gradient reaches Â as dÂ = γ ⊙ dout",
    _BACKWARD)
MEAN_NOT_SUM = _mistake(
    "batchnorm.mean-not-sum",
    "γ and δ touch every example: sum their gradients over the batch (axis 0), not the mean",
    _BACKWARD)
DGAMMA_DBETA_SWAPPED = _mistake(
    "batchnorm.dgamma-dbeta-swapped",
    "dγ and dδ are swapped: dγ = Σ_i dout_i ⊙ Â_i, dδ = Σ_i dout_i; return (dA, dgamma, dbeta)",
    _BACKWARD)
DGAMMA_OF_A = _mistake(
    "batchnorm.dgamma-uses-a", "use the normalized Â, not A: dγ = Σ_i dout_i ⊙ Â_i", _BACKWARD)
CACHE_MODIFIED = _mistake(
    "batchnorm.cache-modified",
    "the backward must leave the cache as it found it (the first call was right, the second "
    "with the same cache was not): compute into new arrays", _BACKWARD)
RUNNING_BIASED = _mistake(
    "batchnorm.running-biased-variance",
    "store the UNBIASED variance of the batch, 1/(N − 1)·Σ(A − μ)², as PyTorch does "
    "(np.var(A, axis=0, ddof=1))", _MODES)
KERAS_MOMENTUM = _mistake(
    "batchnorm.keras-momentum",
    "momentum weighs the NEW batch, as in PyTorch: running ← (1 − m)·running + m·batch (you "
    "used Keras' convention, m·running + (1 − m)·batch)", _MODES)
RUNNING_STD = _mistake(
    "batchnorm.running-std", "store the variance, not the standard deviation", _MODES)
RUNNING_SWAPPED = _mistake(
    "batchnorm.running-swapped", "return the updated running mean first, then the running variance",
    _MODES)
DEFAULT_MOMENTUM = _mistake(
    "batchnorm.default-momentum", "the default momentum is PyTorch's, momentum=0.1", _CONVENTIONS)
EVAL_BATCH_STATS = _mistake(
    "batchnorm.eval-uses-batch-stats",
    "at test time use the RUNNING statistics, not the batch's: the output of an example must "
    "not depend on the others", _MODES)
EVAL_VAR_AS_STD = _mistake(
    "batchnorm.eval-var-as-std", "running_var is a variance: divide by √(running_var + ε)", _MODES)
EVAL_REFUSES_ONE = _mistake(
    "batchnorm.eval-refuses-one",
    "at test time a single example is fine: the running statistics replace the batch's", _MODES)


# ---------------------------------------------------------------- the checks' own arguments


def _batch_shape(rows: int) -> Rule:
    why = {1: "", 2: " (a batch of one example is checked separately, and has no variance to "
                     "normalize with)"}[rows]
    return Rule(lambda x: isinstance(x, tuple | list) and len(x) == 2 and all(map(is_int, x))
                and x[0] >= rows and x[1] >= 1,
                f"{{name}} must be a pair (N, D) of integers with N ≥ {rows} examples and "
                f"D ≥ 1 features{why}")


def _batch_arguments(check: str, seed, shape, rows: int, offset, scale, eps=None) -> None:
    """The data arguments every check shares: (N, D) with N ≥ ``rows``."""
    require(check, SEED, seed=seed)
    require(check, _batch_shape(rows), shape=shape)
    require(check, number(least=0, why=" (the spread of the features' means)"), offset=offset)
    require(check, number(above=0, why=" (the features' spread; use constant_feature=True "
                                        "for a feature of variance 0)"), scale=scale)
    if eps is not None:
        require(check, number(above=0, why=" (ε keeps σ = √(ε + variance) away from 0)"),
                eps=eps)


# ---------------------------------------------------------------- data and oracles


def _batch(seed, shape, offset=2.0, scale=1.0, constant_feature=False):
    """A mini-batch A (N, D) whose features have their own mean and spread, and γ, δ.

    Feature j has mean ~ N(0, offset²) and standard deviation scale·U(0.5, 3); with
    ``constant_feature`` the last feature is the same for every example (variance 0).
    """
    rng = np.random.default_rng(seed)
    n, d = shape
    A = rng.normal(0.0, offset, size=d) + rng.uniform(0.5, 3.0, size=d) * scale * rng.normal(
        size=(n, d))
    if constant_feature:
        A[:, -1] = A[0, -1]
    gamma = rng.uniform(0.5, 2.0, size=d)
    beta = rng.normal(0.0, 1.0, size=d)
    return A, gamma, beta, rng


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


def _train_forward(A, gamma, beta, eps) -> np.ndarray:
    """PyTorch's batch norm in training mode (batch statistics, biased variance)."""
    return _numpy(F.batch_norm(float64_tensor(A), None, None, float64_tensor(gamma),
                               float64_tensor(beta), training=True, eps=eps))


def _eval_forward(A, gamma, beta, mean, var, eps) -> np.ndarray:
    """PyTorch's batch norm in eval mode: the given statistics stand for the batch's."""
    return _numpy(F.batch_norm(float64_tensor(A), float64_tensor(mean), float64_tensor(var),
                               float64_tensor(gamma), float64_tensor(beta), training=False,
                               eps=eps))


def _autograd(A, gamma, beta, dout, eps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(∂L/∂A, ∂L/∂γ, ∂L/∂δ) by autograd through F.batch_norm(training=True), ∂L/∂out = dout."""
    a, g, b = (float64_tensor(x, grad=True) for x in (A, gamma, beta))
    F.batch_norm(a, None, None, g, b, training=True, eps=eps).backward(float64_tensor(dout))
    return _numpy(a.grad), _numpy(g.grad), _numpy(b.grad)


def _detached_grad(A, gamma, dout, eps, through_mu: bool, through_sigma: bool) -> np.ndarray:
    """∂L/∂A by autograd with μ and/or σ detached: a backward that forgets those paths."""
    a = float64_tensor(A, grad=True)
    mu = a.mean(0) if through_mu else a.mean(0).detach()
    sigma = torch.sqrt(eps + ((a - mu) ** 2).mean(0))
    sigma = sigma if through_sigma else sigma.detach()
    (float64_tensor(gamma) * (a - mu) / sigma).backward(float64_tensor(dout))
    return _numpy(a.grad)


def _stacked_losses(A, gamma, beta, R, eps) -> np.ndarray:
    """L = Σ R ⊙ out by PyTorch's training-mode forward, for K stacked arguments at once:
    A (K, N, D), γ and δ (K, D), any of them with K = 1 shared by all.

    The features of batch norm are independent, so the K batches side by side, an (N, K·D)
    matrix, are normalized in one call exactly as each would be alone."""
    k = max(len(A), len(gamma), len(beta))
    n, d = A.shape[1:]
    A = np.broadcast_to(A, (k, n, d)).transpose(1, 0, 2).reshape(n, k * d)
    gamma, beta = (np.broadcast_to(x, (k, d)).reshape(-1) for x in (gamma, beta))
    out = _train_forward(A, gamma, beta, eps).reshape(n, k, d).transpose(1, 0, 2)
    return np.sum(R * out, axis=(1, 2))


def _sum_loss_differences(A, gamma, beta, R, eps) -> list[FiniteDifferences]:
    """Central differences of L = Σ R ⊙ out (PyTorch's forward) w.r.t. A, γ and δ, with
    their error bounds (:mod:`descent.gradcheck`).

    The rounding error of L is set by the size of what it adds up: out = γ·(A − μ)/σ + δ is
    computed from A and μ, so each out_ij carries a few roundings of
    |γ_j|·(|A_ij| + |μ_j|)/σ_j + |δ_j|, weighted by |R_ij| in the sum (it exceeds Σ|R ⊙ out|
    when |μ| ≫ σ, where A − μ cancels)."""
    sigma = np.sqrt(eps + A.var(axis=0))
    scale = float(np.sum(np.abs(R) * (np.abs(gamma) * (np.abs(A) + np.abs(A.mean(axis=0)))
                                      / sigma + np.abs(beta))))
    one = (A[None], gamma[None], beta[None])
    return [gradient_differences(None, x, STEP, f_scale=scale, f_batch=lambda xs, i=i:
                                 _stacked_losses(*one[:i], xs, *one[i + 1:], R, eps))
            for i, x in enumerate((A, gamma, beta))]


def _differences_resolve(A, eps) -> bool:
    """Whether the step h = STEP is small against every feature's σ (see STEP)."""
    return bool(np.min(np.sqrt(eps + A.var(axis=0))) >= 10 * STEP)


# ---------------------------------------------------------------- reading results


def _assert_plain(value, name: str, what: str = "cache", depth: int = 0) -> None:
    """Fail unless ``value`` is plain data (arrays, numbers, strings, lists, tuples, dicts)."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, list | tuple) and depth < 16:
        for item in value:
            _assert_plain(item, name, what, depth + 1)
        return
    if isinstance(value, dict) and depth < 16:
        for key, item in value.items():
            if not isinstance(key, str):
                raise AssertionError(f"{name}: the {what} is a dict with a key of type "
                                     f"{type(key).__name__}; use string keys — "
                                     f"{CACHE_NOT_DATA}")
            _assert_plain(item, name, what, depth + 1)
        return
    kind = getattr(value, "type_name", type(value).__name__)  # the grader's stand-in
    raise AssertionError(
        f"{name}: the {what} holds a {kind}, which the grader cannot hand back to your "
        f"batchnorm_backward (it runs your functions in another process) — {CACHE_NOT_DATA}")


def _unchanged_after(call, name: str, inputs: dict):
    """``call()``'s result; fails if the call modified an array of ``inputs`` (what -> array)."""
    saved = {what: x.copy() for what, x in inputs.items()}
    result = call()
    for what, before in saved.items():
        assert_unchanged(name, before, inputs[what], f"the {what} it was given")
    return result


def _raised(call) -> str | None:
    """The name of the exception ``call()`` raises, or None when it returns.

    In the grader a student's exception arrives as the trusted class it names
    (``autograder/remote.py``), so its name is what their code raised.
    """
    try:
        call()
    except Exception as error:  # noqa: BLE001 - we only report what it raised
        return type(error).__name__
    return None


def _torch_refusal(A) -> str:
    """PyTorch's own message for a batch norm in training mode on a batch of one."""
    try:
        F.batch_norm(float64_tensor(A), None, None, training=True)
    except ValueError as error:
        return str(error)
    return "a batch of one example"  # pragma: no cover - PyTorch refuses it


# ---------------------------------------------------------------- the forward pass


def _forward_mistakes(A, gamma, beta, eps) -> dict:
    """The output of classic mistakes in the training-mode forward, computed by PyTorch."""
    a, g, b = float64_tensor(A), float64_tensor(gamma), float64_tensor(beta)
    mean, biased = a.mean(0), a.var(0, unbiased=False)
    mistakes = {
        UNBIASED_VARIANCE: F.batch_norm(a, mean, a.var(0, unbiased=True), g, b, training=False,
                                        eps=eps) if len(A) > 1 else None,
        EPS_OUTSIDE_ROOT: g * (a - mean) / (biased.sqrt() + eps) + b,
        NO_EPS: F.batch_norm(a, mean, biased, g, b, training=False, eps=0.0),
        NO_AFFINE: F.batch_norm(a, None, None, training=True, eps=eps) if len(A) > 1 else None,
        GAMMA_BETA_SWAPPED: F.batch_norm(a, None, None, b, g, training=True, eps=eps)
        if len(A) > 1 else None,
    }
    if A.shape[1] > 1:
        mistakes[WRONG_AXIS] = F.layer_norm(a, (A.shape[1],), eps=eps) * g + b
    return {hint: None if out is None else _numpy(out) for hint, out in mistakes.items()}


_FORWARD_HINT = ("per feature (column): μ = mean over the batch, σ = √(ε + mean((A − μ)²)), "
                 "Â = (A − μ)/σ, out = γ·Â + δ")


def _forward_output(batchnorm_forward, A, gamma, beta, name, **eps_argument):
    """Call the student's forward on copies, check its inputs and output; (out, cache)."""
    result = _unchanged_after(partial(batchnorm_forward, A, gamma, beta, **eps_argument), name,
                              {"A": A, "gamma": gamma, "beta": beta})
    out, cache = as_tuple(result, name, "(out, cache)")
    out = as_float_array(out, name, "output")
    return out, cache


def _check_one_example(batchnorm_forward, gamma, beta, eps, name) -> None:
    """Training mode on a batch of one example must raise ValueError, as PyTorch does."""
    one = np.random.default_rng(len(gamma)).normal(size=(1, len(gamma)))
    kind = _raised(lambda: batchnorm_forward(one.copy(), gamma.copy(), beta.copy(), eps=eps))
    why = ("with N = 1, μ is the example itself and the variance is 0, so Â = 0 and the "
           "output is δ whatever the input. PyTorch raises ValueError "
           f"('{_torch_refusal(one)}')")
    if kind is None:
        raise AssertionError(f"{name}, a batch of N = 1 example (shape {one.shape}): expected "
                             f"a ValueError, but it returned a result — {why}; "
                             f"{BATCH_OF_ONE}")
    if kind != "ValueError":
        raise AssertionError(f"{name}, a batch of N = 1 example: it raised {kind}, expected "
                             f"ValueError — {why}; {BATCH_OF_ONE}")


def check_batchnorm_forward(batchnorm_forward, seed=0, shape=(8, 4), eps=EPS, offset=2.0,
                            scale=1.0, constant_feature=False):
    """The training-mode forward against ``F.batch_norm(training=True)``.

    Also: the cache is plain data, the inputs are not modified, the default ε is 1e-5,
    and a batch of one example raises ValueError.
    """
    _batch_arguments("check_batchnorm_forward", seed, shape, 2, offset, scale, eps)
    name = f"batchnorm_forward (A of shape {tuple(shape)}, eps={eps:g})"
    A, gamma, beta, _ = _batch(seed, shape, offset, scale, constant_feature)
    out, cache = _forward_output(batchnorm_forward, A.copy(), gamma.copy(), beta.copy(), name,
                                 eps=eps)
    expected = _train_forward(A, gamma, beta, eps)
    hint = diagnose(out, _forward_mistakes(A, gamma, beta, eps), _FORWARD_HINT)
    if constant_feature and out.shape == expected.shape and not np.allclose(
            out[:, -1], beta[-1], rtol=1e-7, atol=1e-10):
        hint = ("the last feature is the same for every example: its variance is 0, so "
                f"σ = √ε, Â = 0 and the output is δ. {hint}")
    assert_close(name, out, expected, hint=hint, what="output")
    _assert_plain(cache, name)

    where = "batchnorm_forward (called without eps)"
    out, _ = _forward_output(batchnorm_forward, A.copy(), gamma.copy(), beta.copy(), where)
    assert_close(where, out, _train_forward(A, gamma, beta, EPS), what="output",
                 hint=DEFAULT_EPS)
    _check_one_example(batchnorm_forward, gamma, beta, eps, "batchnorm_forward")


# ---------------------------------------------------------------- the backward pass


def _dA_mistakes(A, gamma, dout, eps) -> dict:
    paths = {STOPS_AT_A_HAT: (False, False), MISSES_SIGMA_PATH: (True, False),
             MISSES_MEAN_PATH: (False, True)}
    mistakes = {hint: _detached_grad(A, gamma, dout, eps, *keep)
                for hint, keep in paths.items()}
    mistakes[BACKWARD_WITHOUT_GAMMA] = _autograd(A, np.ones_like(gamma), np.zeros_like(gamma),
                                                 dout, eps)[0]
    return mistakes


def _gradient_arrays(got, name) -> list[np.ndarray]:
    return [as_float_array(g, name, what) for g, what in zip(got, _GRADIENTS, strict=True)]


def _check_gradients(name, got, A, gamma, beta, dout, eps) -> None:
    """Compare (dA, dγ, dδ) with autograd, hints from the classic mistakes."""
    dA, dgamma, dbeta = _gradient_arrays(got, name)
    expected = _autograd(A, gamma, beta, dout, eps)
    n = len(A)
    compare_with_hint(name, dbeta, expected[2], lambda: {
        MEAN_NOT_SUM: expected[2] / n, DGAMMA_DBETA_SWAPPED: expected[1],
    }, "dδ = Σ_i dout_i, a sum over the batch (axis 0), one value per feature", _GRADIENTS[2])
    compare_with_hint(name, dgamma, expected[1], lambda: {
        DGAMMA_DBETA_SWAPPED: expected[2], DGAMMA_OF_A: np.sum(dout * A, axis=0),
        MEAN_NOT_SUM: expected[1] / n,
    }, "dγ = Σ_i dout_i ⊙ Â_i, a sum over the batch (axis 0), one value per feature",
        _GRADIENTS[1])
    compare_with_hint(name, dA, expected[0], lambda: _dA_mistakes(A, gamma, dout, eps),
                      "dA = γ/(N·σ) ⊙ (N·dout − Σ_i dout_i − Â ⊙ Σ_i dout_i ⊙ Â_i), per feature",
                      _GRADIENTS[0])


def _check_differences(name, got, A, gamma, beta, dout, eps) -> None:
    """Compare (dA, dγ, dδ) with central differences of L = Σ dout ⊙ out, within their own
    error bound (:mod:`descent.gradcheck`)."""
    arrays = _gradient_arrays(got, name)
    for g, numeric, what in zip(arrays, _sum_loss_differences(A, gamma, beta, dout, eps),
                                _GRADIENTS, strict=True):
        problem = numeric.mismatch(g, what)
        if problem is not None:
            raise AssertionError(
                f"{name}, against central finite differences of the loss L = Σ dout ⊙ out: "
                f"{problem} — differentiate the forward pass as it is: every path from A to "
                "out counts")


def check_batchnorm_backward(batchnorm_forward, batchnorm_backward, seed=0, shape=(6, 4),
                             eps=EPS, offset=2.0, scale=1.0, constant_feature=False,
                             finite_differences=True):
    """The backward pass, from the cache of the student's own forward.

    (dA, dγ, dδ) is compared with autograd through ``F.batch_norm(training=True)`` for the
    upstream gradient dout = R (random), and with central differences of L = Σ R ⊙ out,
    entry by entry within the differences' own error bound (truncation, estimated by step
    doubling, plus rounding, from the size of the terms of L: see :mod:`descent.gradcheck`);
    then the same cache is used again with another upstream gradient. The differences are
    skipped where a feature's σ = √(ε + variance) is below 10·STEP (a tiny ε and spread):
    there autograd is the only oracle.
    """
    _batch_arguments("check_batchnorm_backward", seed, shape, 2, offset, scale, eps)
    name = f"batchnorm_backward (A of shape {tuple(shape)}, eps={eps:g})"
    A, gamma, beta, rng = _batch(seed, shape, offset, scale, constant_feature)
    out, cache = _forward_output(batchnorm_forward, A.copy(), gamma.copy(), beta.copy(), name,
                                 eps=eps)
    assert_close(name, out, _train_forward(A, gamma, beta, eps), what="output of your "
                 "batchnorm_forward", hint="the backward pass starts from your forward's cache: "
                 "make the batchnorm_forward test pass first")
    _assert_plain(cache, name)

    for attempt in range(2):
        dout = rng.normal(0.0, 1.0, size=A.shape)
        saved = dout.copy()
        got = as_tuple(batchnorm_backward(dout, cache), name, "(dA, dgamma, dbeta)", 3)
        assert_unchanged(name, saved, dout, "the dout it was given")
        if attempt == 0:
            _check_gradients(name, got, A, gamma, beta, saved, eps)
            if finite_differences and _differences_resolve(A, eps):
                _check_differences(name, got, A, gamma, beta, saved, eps)
            continue
        try:
            _check_gradients(f"{name}, the same cache with another dout", got, A, gamma, beta,
                             saved, eps)
        except AssertionError as error:
            raise AssertionError(f"{error}; {CACHE_MODIFIED}") from None


# ---------------------------------------------------------------- running statistics


def _torch_running(running_mean, running_var, A, momentum) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics after PyTorch's training-mode batch norm saw the batch A."""
    mean, var = float64_tensor(running_mean), float64_tensor(running_var)
    F.batch_norm(float64_tensor(A), mean, var, training=True, momentum=momentum)
    return _numpy(mean), _numpy(var)


def _running_mean_mistakes(running_mean, running_var, A, momentum) -> dict:
    return {
        KERAS_MOMENTUM: _torch_running(running_mean, running_var, A, 1.0 - momentum)[0],
        RUNNING_SWAPPED: _torch_running(running_mean, running_var, A, momentum)[1],
    }


def _running_mistakes(running_mean, running_var, A, momentum) -> dict:
    a = float64_tensor(A)
    biased = _numpy(a.var(0, unbiased=False))
    right = _torch_running(running_mean, running_var, A, momentum)
    return {
        RUNNING_BIASED: (1 - momentum) * running_var + momentum * biased,
        KERAS_MOMENTUM: _torch_running(running_mean, running_var, A, 1.0 - momentum)[1],
        RUNNING_STD: (1 - momentum) * running_var + momentum * np.sqrt(_numpy(a.var(0))),
        RUNNING_SWAPPED: right[0],
    }


def check_update_running_stats(update_running_stats, seed=0, shape=(16, 4), steps=8,
                               momentum=MOMENTUM, offset=2.0, scale=1.0):
    """Running mean and variance over ``steps`` batches, against ``F.batch_norm``'s.

    They start as PyTorch's (zeros and ones); the student's returned pair is fed back at
    every step, and compared after each one. Also: the inputs are left unchanged and the
    default momentum is PyTorch's, 0.1.
    """
    check = "check_update_running_stats"
    _batch_arguments(check, seed, shape, 2, offset, scale)
    require(check, integer(1), steps=steps)
    require(check, number(least=0, most=1, why=" (the weight of the new batch)"),
            momentum=momentum)
    name = f"update_running_stats (momentum={momentum:g}, batches of shape {tuple(shape)})"
    d = shape[1]
    running_mean, running_var = np.zeros(d), np.ones(d)
    oracle = running_mean.copy(), running_var.copy()
    for t in range(1, steps + 1):
        A = _batch(seed + 1000 * t, shape, offset, scale)[0]
        result = _unchanged_after(
            partial(update_running_stats, running_mean, running_var, A, momentum=momentum), name,
            {"A": A, "running_mean": running_mean, "running_var": running_var})
        new_mean, new_var = (as_float_array(x, name, what) for x, what in zip(
            as_tuple(result, name, "(running_mean, running_var)"), _RUNNING, strict=True))
        expected = _torch_running(*oracle, A, momentum)
        where = f"{name}, after {t} batch{'es' if t > 1 else ''}"
        compare_with_hint(where, new_mean, expected[0],
                          partial(_running_mean_mistakes, *oracle, A, momentum),
                          "running_mean ← (1 − m)·running_mean + m·mean(A, axis=0)", _RUNNING[0])
        compare_with_hint(where, new_var, expected[1],
                          partial(_running_mistakes, *oracle, A, momentum),
                          "running_var ← (1 − m)·running_var + m·var(A, axis=0, ddof=1)",
                          _RUNNING[1])
        running_mean, running_var, oracle = new_mean, new_var, expected

    A = _batch(seed + 1, shape, offset, scale)[0]
    got = as_tuple(update_running_stats(np.zeros(d), np.ones(d), A), name,
                "(running_mean, running_var)")
    expected = _torch_running(np.zeros(d), np.ones(d), A, MOMENTUM)
    for value, reference, what in zip(got, expected, _RUNNING, strict=True):
        assert_close("update_running_stats (called without momentum)", value, reference,
                     what=what, hint=DEFAULT_MOMENTUM)


# ---------------------------------------------------------------- test time


def _eval_mistakes(A, gamma, beta, mean, var, eps) -> dict:
    a = float64_tensor(A)
    return {
        EVAL_BATCH_STATS: _train_forward(A, gamma, beta, eps) if len(A) > 1 else None,
        EVAL_VAR_AS_STD: _eval_forward(A, gamma, beta, mean, np.square(var + eps) - eps, eps),
        EPS_OUTSIDE_ROOT: _numpy(float64_tensor(gamma) * (a - float64_tensor(mean))
                                 / (float64_tensor(var).sqrt() + eps) + float64_tensor(beta)),
        NO_EPS: _eval_forward(A, gamma, beta, mean, var, 0.0),
        NO_AFFINE: _eval_forward(A, np.ones_like(gamma), np.zeros_like(beta), mean, var, eps),
    }


def _eval_output(batchnorm_eval, A, gamma, beta, mean, var, name, **eps_argument):
    out = _unchanged_after(partial(batchnorm_eval, A, gamma, beta, mean, var, **eps_argument),
                           name, {"A": A, "gamma": gamma, "beta": beta, "running_mean": mean,
                                  "running_var": var})
    return as_float_array(out, name, "output")


def check_batchnorm_eval(batchnorm_eval, seed=0, shape=(5, 4), eps=EPS, offset=2.0, scale=1.0):
    """Test-time batch norm against ``F.batch_norm(training=False)``.

    On a batch, then on each of its examples alone (a batch of one is fine at test time,
    and must give the same output), and once without eps (default 1e-5).
    """
    _batch_arguments("check_batchnorm_eval", seed, shape, 1, offset, scale, eps)
    name = f"batchnorm_eval (A of shape {tuple(shape)}, eps={eps:g})"
    A, gamma, beta, rng = _batch(seed, shape, offset, scale)
    mean = A.mean(axis=0) + rng.normal(0.0, 0.5, size=shape[1])
    var = A.var(axis=0) * rng.uniform(0.5, 2.0, size=shape[1])
    expected = _eval_forward(A, gamma, beta, mean, var, eps)
    out = _eval_output(batchnorm_eval, A.copy(), gamma.copy(), beta.copy(), mean.copy(),
                       var.copy(), name, eps=eps)
    compare_with_hint(name, out, expected,
                      lambda: _eval_mistakes(A, gamma, beta, mean, var, eps),
                      "out = γ·(A − running_mean)/√(running_var + ε) + δ", "output")

    for i in range(min(len(A), 3)):
        where = f"batchnorm_eval (example {i} alone, A of shape (1, {shape[1]}))"
        try:
            out = _eval_output(batchnorm_eval, A[i:i + 1].copy(), gamma.copy(), beta.copy(),
                               mean.copy(), var.copy(), where, eps=eps)
        except AssertionError:
            raise
        except Exception as error:  # noqa: BLE001 - a student's error, reported as a failure
            raise AssertionError(f"{where}: it raised {type(error).__name__} — "
                                 f"{EVAL_REFUSES_ONE}") from None
        assert_close(where, out, expected[i:i + 1], what="output", hint=(
            "each example's output depends only on itself and the running statistics, so it "
            "is the same alone as in the batch"))

    where = "batchnorm_eval (called without eps)"
    out = _eval_output(batchnorm_eval, A.copy(), gamma.copy(), beta.copy(), mean.copy(),
                       var.copy(), where)
    assert_close(where, out, _eval_forward(A, gamma, beta, mean, var, EPS), what="output",
                 hint=DEFAULT_EPS)


# ---------------------------------------------------------------- scale invariance

_SCALE = "Scale invariance and the learning rate"
TURN_NOT_RESCALED = _mistake(
    "bn-scale.gradient-not-rescaled",
    "the gradient you are given is the one at w; at c·w it is c times SMALLER, ∇L(cw) = "
    "∇L(w)/c (the loss does not change along w, so its slope falls as the weights grow): "
    "tan φ = η‖g‖/(c²‖w‖)", _SCALE)
TURN_TIMES_C = _mistake(
    "bn-scale.ignores-scale",
    "the angle depends on c: the weights are c·w and the gradient there is ∇L(w)/c, so "
    "tan φ = η‖g‖/(c²‖w‖); ignoring c (or multiplying the gradient by c, which cancels the c of "
    "the weights) gives η‖g‖/‖w‖", _SCALE)
TURN_SMALL_ANGLE = _mistake(
    "bn-scale.small-angle",
    "η‖g‖/(c²‖w‖) is the tangent of the angle (the step is orthogonal to w): φ = "
    "arctan(η‖g‖/(c²‖w‖)), which is far below the ratio when the step is long", _SCALE)
TURN_DEGREES = _mistake(
    "bn-scale.degrees", "return the angle in radians (np.arctan gives radians), not degrees",
    _SCALE)
TURN_NORM_SQUARED = _mistake(
    "bn-scale.norm-squared",
    "the step is η‖g(cw)‖ long and the weight c‖w‖: tan φ = η‖g‖/(c²‖w‖), the norms "
    "themselves, not their squares", _SCALE)


def bn_scale_problem(seed: int, n: int, dim: int):
    """A linear unit a = Hw followed by batch normalization (ε = 0, so that the loss is exactly
    scale-invariant in w), and the loss L(w) = Σ_i R_i·BN(Hw)_i: (H, w, R)."""
    rng = np.random.default_rng(seed)
    H = rng.normal(size=(n, dim)) + rng.normal(size=dim)
    w = rng.normal(size=dim)
    R = rng.normal(size=n)
    return H, w, R


def bn_scale_gradient(H, w, R) -> np.ndarray:
    """∇_w L by autograd through batch normalization in training mode, ε = 0, no affine
    (written out: torch's F.batch_norm refuses ε = 0)."""
    weights = float64_tensor(w, grad=True)
    a = float64_tensor(H) @ weights
    out = (a - a.mean()) / torch.sqrt(a.var(correction=0))
    torch.sum(float64_tensor(R) * out).backward()
    return _numpy(weights.grad)


def bn_turn_angle_measured(H, w, R, lr: float, scale: float) -> float:
    """The angle between c·w and c·w − η∇L(cw), with the gradient at c·w by autograd: what
    one SGD step really turns the weights by (atan2 of the two components)."""
    start = scale * np.asarray(w, dtype=float)
    new = start - lr * bn_scale_gradient(H, start, R)
    along = float(new @ start) / float(np.linalg.norm(start))
    across = float(np.linalg.norm(new - along * start / np.linalg.norm(start)))
    return math.atan2(across, along)


#: (lr, scale) the visible call also tries: weights 10 times larger (a 100 times smaller
#: effective rate), and weights 10 times smaller with a long step (the angle nears 90°).
_TURN_CASES = ((0.1, 10.0), (0.5, 0.1), (0.05, 1.0))


def _check_one_turn(bn_turn_angle, seed, n, dim, lr, scale) -> None:
    name = f"bn_turn_angle (lr = {lr:g}, scale = {scale:g})"
    H, w, R = bn_scale_problem(seed, n, dim)
    grad = bn_scale_gradient(H, w, R)
    expected = bn_turn_angle_measured(H, w, R, lr, scale)
    w_in, grad_in = w.copy(), grad.copy()
    got = as_number(bn_turn_angle(w_in, grad_in, lr, scale=scale), name, "angle",
                    ", e.g. float(np.arctan(ratio))")
    ratio = lr * np.linalg.norm(grad) / (scale ** 2 * np.linalg.norm(w))
    hint = diagnose(got, [
        (TURN_NOT_RESCALED, lambda: math.atan(ratio * scale)),
        (TURN_TIMES_C, lambda: math.atan(ratio * scale ** 2)),
        (TURN_SMALL_ANGLE, lambda: ratio),
        (TURN_DEGREES, lambda: math.degrees(expected)),
        (TURN_NORM_SQUARED, lambda: math.atan(ratio * np.linalg.norm(grad) / np.linalg.norm(w))),
    ], "the step −η∇L(cw) is orthogonal to c·w (the loss does not change along w) and "
       "∇L(cw) = ∇L(w)/c: the angle φ has tan φ = η‖g‖/(c²‖w‖)")
    assert_close(name, got, expected, rtol=1e-7, atol=1e-12, hint=hint, what="angle (radians)")
    assert_unchanged(name, w, w_in, "w")
    assert_unchanged(name, grad, grad_in, "grad")


def check_bn_turn_angle(bn_turn_angle, seed=0, n=8, dim=5, lr=0.1, scale=3.0):
    """The angle (radians) by which one SGD step turns weights c·w that feed a batch-normalized
    unit, given the gradient at w, against the angle measured on a real step: the gradient
    at c·w by autograd through batch normalization (ε = 0), the step taken, and the angle
    between the weights before and after (relative tolerance 1e-7).

    Scale invariance gives ∇L(cw) ⊥ w and ∇L(cw) = ∇L(w)/c, so tan φ = η‖g‖/(c²‖w‖). Whatever
    the arguments, (lr, scale) = (0.1, 10), (0.5, 0.1) and (0.05, 1) are tried too.
    """
    check = "check_bn_turn_angle"
    require(check, SEED, seed=seed)
    require(check, integer(3, " (examples in the batch)"), n=n)
    require(check, integer(2, " (a direction to turn needs two dimensions)"), dim=dim)
    require(check, number(above=0, why=" (a step against the gradient)"), lr=lr)
    require(check, number(above=0, why=" (the factor c that multiplies the weights)"),
            scale=scale)
    for case in dict.fromkeys(((float(lr), float(scale)), *_TURN_CASES)):
        _check_one_turn(bn_turn_angle, seed, n, dim, *case)
