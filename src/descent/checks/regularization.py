"""Checks for chapter 03: the L2 penalty and its gradient, SGD with coupled weight decay,
AdamW's decoupled decay, and inverted dropout (forward and backward).

Oracles: PyTorch in float64 (the penalty as a tensor sum, ``torch.optim.SGD`` and
``torch.optim.AdamW`` driven through many steps by the same gradient sequence as
the student's function, autograd through ``x·m/(1−p)`` for dropout's backward,
``torch.nn.functional.dropout`` in eval mode) and central finite differences
(:mod:`descent.gradcheck`, within their own error bound) for the penalty's gradient; the
L2-regularized minimum of a quadratic, (H + ωI)⁻¹Hθ*, solved by ``torch.linalg.solve``.

Dropout is random, so its forward check is partly statistical; it is still
deterministic (the student's function is called with fixed seeds) and never flaky:
each tolerance is ``Z`` binomial standard errors (on 2¹⁷ units by default), so a
correct implementation fails with probability below 10⁻⁸ whatever its draws,
while keeping with probability p instead of 1 − p, or scaling by 1/p, is dozens
of standard errors away. The normal approximation behind Z needs a count of dropped
units that varies enough: shapes with n·p·(1 − p) < ``MIN_VARIANCE`` are refused.

When a trajectory leaves PyTorch's, the check recomputes the failing step from the
student's own input state with a few classic mistakes (coupled instead of
decoupled decay, decay not multiplied by lr, no bias correction, ...) and names
the mistake whose result the student's matches. Those variants only choose the
hint; the verdict always comes from PyTorch.

A check refuses bad arguments of its own (a dropout p outside [0, 1), a negative weight
decay or ω, lr ≤ 0, ...) with a ValueError, before calling the student's function.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from descent.checks._arguments import (
    BETAS,
    SEED,
    array_shape,
    array_shapes,
    integer,
    number,
    refuse,
    require,
)
from descent.checks._compare import (
    as_array_list,
    as_float_array,
    as_tuple,
    assert_close,
    assert_unchanged,
    compare_with_hint,
    diagnose,
)
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import torch_run, torch_step
from descent.checks.misconceptions import on_page
from descent.gradcheck import gradient_differences

#: Standard errors allowed for a dropout frequency or mean: P(|N(0,1)| > 6) ≈ 2·10⁻⁹.
Z = 6.0
#: Units in a dropout forward check (2¹⁷ by default: SE of the dropped fraction ≤ 0.0014).
DROPOUT_SHAPE = (256, 512)
#: Smallest n·p·(1 − p) of a dropout forward check: the number of dropped units is then close
#: enough to normal that Z standard errors stay a safe margin for a correct implementation.
MIN_VARIANCE = 100.0

# ---------------------------------------------------------------- known mistakes

_PAGE = "03_regularization"
_mistake = on_page(_PAGE)
_L2, _SGD, _ADAM, _DROPOUT = ("The L2 penalty", "L2 and weight decay: equal under SGD",
                              "… but not under Adam", "Dropout")
L2_NO_HALF = _mistake("l2.no-half", "did you forget the 1/2? R(θ) = ω/2 · Σ‖θ_i‖²", _L2)
L2_NORM_NOT_SQUARED = _mistake(
    "l2.norm-not-squared", "square the norm: ‖θ_i‖² = Σ_j θ_ij², not ‖θ_i‖", _L2)
L2_NO_LAMBDA = _mistake(
    "l2.no-lambda", "multiply by ω (the lam argument): R = ω/2 · Σ‖θ_i‖², and its gradient ωθ", _L2)
L2_FIRST_ONLY = _mistake(
    "l2.first-parameter-only", "sum over ALL parameters in the list, not only the first", _L2)
L2_GRAD_DOUBLED = _mistake(
    "l2.gradient-doubled", "the 1/2 cancels the 2 of the square: the gradient is ωθ, not 2ωθ", _L2)
DECAY_IGNORED = _mistake(
    "weight-decay.ignored",
    "weight_decay is ignored: add weight_decay·θ to the gradient before the step", _SGD)
DECAY_WITHOUT_LR = _mistake(
    "weight-decay.without-lr",
    "the decay is multiplied by lr too: θ ← θ − lr·(g + ωθ) (it is part of the gradient)", _SGD)
DECAY_DECOUPLED = _mistake(
    "weight-decay.decoupled-in-sgd",
    "add the decay to the gradient BEFORE the momentum buffer (coupled, as torch.optim.SGD): "
    "b ← μb + (g + ωθ); adding lr·ωθ after momentum is decoupled decay", _SGD)
SGD_DAMPENING = _mistake(
    "sgd-step.dampening",
    "PyTorch's momentum is b ← μ·b + d_p (no (1 − μ) factor), then θ ← θ − lr·b", _SGD)
SGD_ASCENT = _mistake(
    "sgd-step.wrong-sign", "subtract the step: θ ← θ − lr·v, with v the updated buffer", _SGD)
ADAMW_IS_ADAM_L2 = _mistake(
    "adamw.coupled-l2",
    "this is Adam with L2 (torch.optim.Adam(weight_decay=…)): you added ωθ to the gradient, so "
    "the decay went through m and v and got divided by √v̂. AdamW decays the weights directly, "
    "θ ← θ − lr·ω·θ, and feeds the plain gradient to the moments", _ADAM)
ADAMW_DECAY_IGNORED = _mistake(
    "adamw.decay-ignored",
    "weight_decay is ignored: shrink θ ← θ − lr·ω·θ as well as taking the Adam step", _ADAM)
ADAMW_DECAY_WITHOUT_LR = _mistake(
    "adamw.decay-without-lr",
    "multiply the decay by lr: θ ← θ − lr·ω·θ (PyTorch's AdamW convention)", _ADAM)
ADAMW_NO_BIAS_CORRECTION = _mistake(
    "adamw.no-bias-correction",
    "bias correction is missing: m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)", _ADAM)
ADAMW_STEP_PLUS_ONE = _mistake(
    "adamw.step-plus-one",
    "step counts from 1 and is given: use it as is in β₁ᵗ and β₂ᵗ (do not add 1)", _ADAM)
ADAMW_STEP_MINUS_ONE = _mistake(
    "adamw.step-minus-one",
    "step counts from 1 and is given: use it as is in β₁ᵗ and β₂ᵗ (do not subtract 1)", _ADAM)
ADAMW_DECAY_IN_MOMENTS = _mistake(
    "adamw.decay-in-moments",
    "the moments take the plain gradient g: with decoupled decay, ωθ is never added to g", _ADAM)
OPTIMUM_UNIFORM = _mistake(
    "l2-optimum.uniform-shrink",
    "the penalty does not shrink θ* uniformly by 1/(1 + ω): along the eigenvector of H with "
    "eigenvalue λ_i the component is scaled by λ_i/(λ_i + ω), so θ̃ = (H + ωI)⁻¹ H θ*", _L2)
OPTIMUM_NO_HALF = _mistake(
    "l2-optimum.penalty-gradient-doubled",
    "the gradient of ω/2·‖θ‖² is ωθ, not 2ωθ: solve H(θ − θ*) + ωθ = 0, θ̃ = (H + ωI)⁻¹ Hθ*",
    _L2)
OPTIMUM_DIAGONAL = _mistake(
    "l2-optimum.diagonal",
    "H is not diagonal: its diagonal entries are not its eigenvalues, so shrinking each "
    "coordinate by H_ii/(H_ii + ω) is wrong; solve (H + ωI) θ̃ = H θ* (np.linalg.solve)", _L2)
OPTIMUM_IGNORED = _mistake(
    "l2-optimum.decay-ignored",
    "the penalty moves the minimum: solve ∇(L + ω/2·‖θ‖²) = H(θ − θ*) + ωθ = 0, "
    "θ̃ = (H + ωI)⁻¹ H θ*, not θ*", _L2)
OPTIMUM_NO_H = _mistake(
    "l2-optimum.missing-hessian",
    "the right-hand side is H θ*, not θ*: setting the gradient H(θ − θ*) + ωθ to 0 gives "
    "(H + ωI) θ̃ = H θ*", _L2)

DROPOUT_KEEP_WITH_P = _mistake(
    "dropout.keep-with-p",
    "you kept each unit with probability p: a unit is DROPPED with probability p, kept (m = 1) "
    "with probability 1 − p", _DROPOUT)
DROPOUT_SCALE_BY_P = _mistake(
    "dropout.scale-by-p", "inverted dropout scales the kept units by 1/(1 − p), not 1/p", _DROPOUT)
DROPOUT_UNSCALED = _mistake(
    "dropout.unscaled",
    "scale the kept units by 1/(1 − p) so that the expectation is unchanged", _DROPOUT)
DROPOUT_SCALED_MASK = _mistake(
    "dropout.scaled-mask",
    "the mask holds only 0 (dropped) and 1 (kept); the 1/(1 − p) factor goes into the output, "
    "not the mask", _DROPOUT)
DROPOUT_UNSEEDED = _mistake(
    "dropout.unseeded",
    "draw the mask from np.random.default_rng(seed), so the same seed gives the same mask",
    _DROPOUT)
DROPOUT_SEED_IGNORED = _mistake(
    "dropout.seed-ignored", "use the seed argument: another seed must give another mask", _DROPOUT)
DROPOUT_SHARED_MASK = _mistake(
    "dropout.shared-mask",
    "draw one Bernoulli variable per unit, a mask of the shape of x (not one per row or column)",
    _DROPOUT)
DROPOUT_EVAL = _mistake(
    "dropout.not-identity-at-test-time",
    "at test time (train=False) inverted dropout is the identity: return x itself (no mask, no "
    "scaling)", _DROPOUT)
DROPOUT_BACKWARD_UNSCALED = _mistake(
    "dropout.backward-unscaled", "the backward pass scales by 1/(1 − p) too, as the forward did",
    _DROPOUT)
DROPOUT_BACKWARD_NO_MASK = _mistake(
    "dropout.backward-without-mask",
    "use the forward's mask: the gradient flows only through the kept units", _DROPOUT)


# ---------------------------------------------------------------- the checks' own arguments


_SHAPE = array_shape(1, why=" (an array's shape)")
_DROPOUT_P = number(least=0, below=1, why=" (the probability of dropping a unit; at p = 1 "
                    "nothing is kept and 1/(1 − p) is infinite)")


def _step_arguments(check, seed, shape, steps, lr, weight_decay, scale) -> None:
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape)
    require(check, integer(1), steps=steps)
    require(check, number(above=0), lr=lr)
    require(check, number(least=0, why=" (a negative decay would push the weights away from 0)"),
            weight_decay=weight_decay)
    require(check, number(above=0, why=" (the gradients' spread)"), scale=scale)


def _l2_arguments(check, seed, shapes, lam) -> None:
    require(check, SEED, seed=seed)
    require(check, array_shapes(0, empty=True, why=", one per parameter array"), shapes=shapes)
    require(check, number(least=0, why=" (a negative ω would reward large weights)"), lam=lam)


def _random_params(seed, shapes, scale=1.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, scale, size=shape) for shape in shapes]


# ---------------------------------------------------------------- L2 penalty and gradient


def _penalty(params, lam) -> float:
    """ω/2 Σ_i ‖θ_i‖², summed by PyTorch in float64."""
    return float(0.5 * lam * sum((float64_tensor(p) ** 2).sum() for p in params)) if params else 0.0


def check_l2_penalty(l2_penalty, seed=0, shapes=((3,), (2, 4)), lam=0.1):
    """ω/2 · Σ_i ‖θ_i‖² over a list of arrays, against a PyTorch float64 sum."""
    _l2_arguments("check_l2_penalty", seed, shapes, lam)
    name = f"l2_penalty (lam={lam:g})"
    params = _random_params(seed, shapes)
    saved = [p.copy() for p in params]
    result = l2_penalty(params, lam)
    for before, p in zip(saved, params, strict=True):
        assert_unchanged(name, before, p, "a parameter it was given")
    if isinstance(result, tuple | list):
        raise AssertionError(f"{name}: return one number (the penalty summed over every "
                             f"parameter), got a {type(result).__name__} of length "
                             f"{len(result)}")
    got = as_float_array(result, name)
    if got.size != 1:
        raise AssertionError(f"{name}: return one number (the penalty summed over every "
                             f"parameter), got shape {got.shape}")
    expected = _penalty(saved, lam)
    squares = sum(float(np.sum(p * p)) for p in saved)
    hint = diagnose(got.reshape(()), {
        L2_NO_HALF: lam * squares,
        L2_NORM_NOT_SQUARED: 0.5 * lam * sum(float(np.sqrt(np.sum(p * p))) for p in saved),
        L2_NO_LAMBDA: 0.5 * squares,
        L2_FIRST_ONLY: _penalty(saved[:1], lam),
    }, "R(θ) = ω/2 · Σ_i Σ_j θ_ij², one number for the whole list")
    assert_close(name, got.reshape(()), expected, hint=hint, what="penalty")


def check_l2_grad(l2_grad, seed=0, shapes=((3,), (2, 4)), lam=0.1):
    """∂/∂θ_i of ω/2 Σ‖θ‖², against central finite differences of the penalty, entry by entry
    within the differences' own error bound (:mod:`descent.gradcheck`)."""
    _l2_arguments("check_l2_grad", seed, shapes, lam)
    name = f"l2_grad (lam={lam:g})"
    params = _random_params(seed, shapes)
    saved = [p.copy() for p in params]
    got = as_array_list(l2_grad(params, lam), name, len(params))
    for before, p in zip(saved, params, strict=True):
        assert_unchanged(name, before, p, "a parameter it was given")
    for i, (got_i, theta) in enumerate(zip(got, saved, strict=True)):

        def penalty_of_i(value, i=i):
            return _penalty([*saved[:i], value, *saved[i + 1:]], lam)

        # The penalty is a sum of positive terms: |R| itself sizes its rounding error.
        differences = gradient_differences(penalty_of_i, theta)
        problem = differences.mismatch(got_i, "gradient", inputs=theta, input_name="θ")
        if problem is not None:
            hint = diagnose(got_i, {L2_GRAD_DOUBLED: 2 * lam * theta, L2_NO_LAMBDA: theta},
                             "∂/∂θ (ω/2 · ‖θ‖²) = ω·θ, one array per parameter, same shape")
            raise AssertionError(f"{name}, parameter {i}: {problem} — {hint}")


# ---------------------------------------------------------------- SGD with weight decay


def _sgd_variants(theta, grad, lr, wd, mu, buf) -> dict[str, np.ndarray]:
    """One step of SGD with classic mistakes, from the student's own input state."""
    state = {"momentum_buffer": buf if mu else None}
    undecayed = torch_step(torch.optim.SGD, theta, grad, state, lr=lr, momentum=mu)
    right = torch_step(torch.optim.SGD, theta, grad, state, lr=lr, momentum=mu, weight_decay=wd)
    return {
        DECAY_IGNORED: undecayed,
        DECAY_WITHOUT_LR: undecayed - wd * theta,
        DECAY_DECOUPLED: undecayed - lr * wd * theta,
        SGD_DAMPENING: torch_step(torch.optim.SGD, theta, grad, state, lr=lr, momentum=mu,
                                   dampening=mu, weight_decay=wd),
        SGD_ASCENT: 2 * theta - right,
    }


def check_sgd_step(sgd_step, seed=0, shape=(5,), steps=25, lr=0.1, weight_decay=0.1,
                   momentum=0.9, scale=1.0):
    """Many steps of SGD (momentum, coupled weight decay) against ``torch.optim.SGD``.

    The gradients are a fixed random sequence g_1, …, g_T (the same for the student's
    function and for PyTorch); the student's returned state is fed back at each step.
    """
    check = "check_sgd_step"
    _step_arguments(check, seed, shape, steps, lr, weight_decay, scale)
    require(check, number(least=0, most=1), momentum=momentum)
    name = f"sgd_step (lr={lr:g}, weight_decay={weight_decay:g}, momentum={momentum:g})"
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(0.0, 1.0, size=shape)
    grads = rng.normal(0.0, scale, size=(steps, *shape))

    reference = float64_tensor(theta0, grad=True)
    optimizer = torch.optim.SGD([reference], lr=lr, momentum=momentum,
                                weight_decay=weight_decay, foreach=False)
    param, buffer = theta0.copy(), None
    for t in range(1, steps + 1):
        g = grads[t - 1].copy()
        inputs = (param.copy(), None if buffer is None else buffer.copy())
        result = sgd_step(param, g, lr, weight_decay=weight_decay, momentum=momentum,
                          momentum_buffer=buffer)
        assert_unchanged(name, inputs[0], param, "the param it was given")
        assert_unchanged(name, grads[t - 1], g, "the gradient it was given")
        if buffer is not None:
            assert_unchanged(name, inputs[1], buffer, "the momentum_buffer it was given")
        new_param, new_buffer = as_tuple(result, name, "(new_param, new_momentum_buffer)")
        new_param = as_float_array(new_param, name, "new param")

        reference.grad = float64_tensor(g)
        optimizer.step()
        expected = reference.detach().numpy().copy()
        compare_with_hint(
            f"{name}, step {t}", new_param, expected,
            lambda g=g, inputs=inputs: _sgd_variants(inputs[0], g, lr, weight_decay, momentum,
                                                     inputs[1]),
            "d_p = g + ωθ; with momentum b ← d_p at the first step, then b ← μ·b + d_p; "
            "θ ← θ − lr·v", "new param")
        if momentum:
            expected_buffer = optimizer.state[reference]["momentum_buffer"].numpy()
            theta, old = inputs
            compare_with_hint(
                f"{name}, step {t}", new_buffer, expected_buffer,
                lambda g=g, theta=theta, old=old: {
                    DECAY_DECOUPLED: g if old is None else momentum * old + g,
                    SGD_DAMPENING: None if old is None else
                    momentum * old + (1 - momentum) * (g + weight_decay * theta),
                }, "return the updated buffer b (first step: b = g + ωθ, then b ← μ·b + g + ωθ)",
                "momentum buffer")
            buffer = as_float_array(new_buffer, name, "momentum buffer")
        param = new_param


# ---------------------------------------------------------------- AdamW


def _adamw_variants(theta, grad, m, v, t, lr, betas, eps, wd) -> dict[str, np.ndarray]:
    """One AdamW step with classic mistakes, from the student's own input state."""
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}

    def adamw(theta_=theta, grad_=grad, step=t, decay=wd):
        # torch counts the step inside: its state holds the number of steps already taken.
        state = {"step": step - 1, "exp_avg": m, "exp_avg_sq": v}
        return torch_step(torch.optim.AdamW, theta_, grad_, state, weight_decay=decay, **hyper)

    variants = {
        ADAMW_IS_ADAM_L2: torch_step(torch.optim.Adam, theta, grad,
                                      {"step": t - 1, "exp_avg": m, "exp_avg_sq": v},
                                      weight_decay=wd, **hyper),
        ADAMW_DECAY_IGNORED: adamw(decay=0.0),
        ADAMW_DECAY_WITHOUT_LR: adamw(theta_=theta * (1 - wd), decay=0.0),
        # After ten million steps β₁ᵗ and β₂ᵗ are 0: the corrections divide by 1.
        ADAMW_NO_BIAS_CORRECTION: adamw(step=10_000_000),
        ADAMW_STEP_PLUS_ONE: adamw(step=t + 1),
        ADAMW_DECAY_IN_MOMENTS: adamw(grad_=grad + wd * theta),
    }
    if t > 1:
        variants[ADAMW_STEP_MINUS_ONE] = adamw(step=t - 1)
    return variants


def _adamw_moment_variants(theta, grad, m, v, t, lr, betas, eps, wd, key) -> dict:
    """The moment ``key`` (exp_avg or exp_avg_sq) of a PyTorch AdamW step fed g + ωθ."""
    state = {"step": t - 1, "exp_avg": m, "exp_avg_sq": v}
    _, after = torch_run(torch.optim.AdamW, theta, grad + wd * theta, state, lr=lr,
                          betas=tuple(betas), eps=eps, weight_decay=wd)
    return {ADAMW_DECAY_IN_MOMENTS: after[key]}


def check_adamw_step(adamw_step, seed=0, shape=(6,), steps=30, lr=0.05, betas=(0.9, 0.999),
                     eps=1e-8, weight_decay=0.1, scale=1.0):
    """Many AdamW steps against ``torch.optim.AdamW`` driven by the same gradients.

    State in, state out: the check starts from exp_avg = exp_avg_sq = 0 and step = 1,
    and feeds the student's returned (param, exp_avg, exp_avg_sq) back at each step.
    """
    check = "check_adamw_step"
    _step_arguments(check, seed, shape, steps, lr, weight_decay, scale)
    require(check, BETAS, betas=betas)
    require(check, number(above=0, why=" (it keeps m̂/(√v̂ + ε) finite)"), eps=eps)
    name = f"adamw_step (lr={lr:g}, weight_decay={weight_decay:g})"
    rng = np.random.default_rng(seed)
    theta0 = rng.normal(0.0, 1.0, size=shape)
    # Gradients with a different scale per coordinate, as in a real network: that is
    # what makes coupled L2 (decay divided by √v̂) differ from decoupled decay.
    grads = rng.normal(0.0, scale, size=(steps, *shape)) * np.geomspace(0.1, 10.0, theta0.size
                                                                        ).reshape(shape)
    reference = float64_tensor(theta0, grad=True)
    optimizer = torch.optim.AdamW([reference], lr=lr, betas=tuple(betas), eps=eps,
                                  weight_decay=weight_decay, foreach=False)
    param, exp_avg, exp_avg_sq = theta0.copy(), np.zeros(shape), np.zeros(shape)
    for t in range(1, steps + 1):
        g = grads[t - 1].copy()
        state = (param.copy(), exp_avg.copy(), exp_avg_sq.copy())
        result = adamw_step(param, g, exp_avg, exp_avg_sq, t, lr=lr, betas=tuple(betas),
                            eps=eps, weight_decay=weight_decay)
        for before, after, what in zip(state, (param, exp_avg, exp_avg_sq),
                                       ("param", "exp_avg", "exp_avg_sq"), strict=True):
            assert_unchanged(name, before, after, f"the {what} it was given")
        result = as_tuple(result, name, "(param, exp_avg, exp_avg_sq)", 3)
        new = [as_float_array(r, name, w) for r, w in
               zip(result, ("new param", "exp_avg", "exp_avg_sq"), strict=True)]

        reference.grad = float64_tensor(g)
        optimizer.step()
        moments = optimizer.state[reference]
        where = f"{name}, step {t}"
        compare_with_hint(
            where, new[0], reference.detach().numpy(),
            lambda g=g, state=state, t=t: _adamw_variants(*state[:1], g, *state[1:], t, lr,
                                                          betas, eps, weight_decay),
            "θ ← θ − lr·ω·θ, then θ ← θ − lr·m̂ / (√v̂ + ε)", "new param")
        for index, key, rule in ((1, "exp_avg", "m ← β₁·m + (1 − β₁)·g"),
                                 (2, "exp_avg_sq", "v ← β₂·v + (1 − β₂)·g²")):
            compare_with_hint(
                where, new[index], moments[key].numpy(),
                lambda g=g, state=state, t=t, key=key: _adamw_moment_variants(
                    state[0], g, *state[1:], t, lr, betas, eps, weight_decay, key),
                f"{rule}, with the plain gradient g (no decay term)", key)
        param, exp_avg, exp_avg_sq = new


# ---------------------------------------------------------------- dropout


def _dropout_reference(x, mask, p) -> tuple[np.ndarray, np.ndarray]:
    """x·m/(1 − p) for a given 0/1 mask, as a PyTorch graph: (output, input leaf for .grad)."""
    x_t = float64_tensor(x, grad=True)
    out = x_t * float64_tensor(mask) / (1.0 - p)
    return out, x_t


def _mask_of(result, name, shape, p=None) -> tuple[np.ndarray, np.ndarray]:
    out, mask = as_tuple(result, name, "(out, mask)")
    out = as_float_array(out, name, "output")
    mask = as_float_array(mask, name, "mask")
    for array, what in ((out, "output"), (mask, "mask")):
        if array.shape != shape:
            raise AssertionError(f"{name}: the {what} has shape {array.shape}, expected the "
                                 f"shape of x, {shape}")
    if not bool(np.all((mask == 0.0) | (mask == 1.0))):
        scaled = p is not None and bool(np.all(np.isclose(mask, 0.0) | np.isclose(
            mask * (1 - p), 1.0)))
        raise AssertionError(
            f"{name}: the mask must hold only 0 (dropped) and 1 (kept)"
            + (f" — {DROPOUT_SCALED_MASK}" if scaled else
               "; the course's mask does not include the 1/(1 − p) factor"))
    return out, mask


def check_dropout_forward(dropout_forward, seed=0, shape=DROPOUT_SHAPE, p=0.3):
    """Inverted dropout: exact given the returned mask, statistical about the mask itself.

    1. out = x·m/(1 − p) exactly, for the mask the student returns;
    2. the fraction dropped is p within Z binomial standard errors, √(p(1 − p)/n);
    3. on a constant input c the mean output is c within Z standard errors,
       c·√(p/((1 − p)·n)) (the expectation is preserved);
    4. the same seed gives the same mask, another seed another one, and the mask is
       drawn per unit (it varies along every axis);
    5. eval mode (train=False) is the identity with a mask of ones, as
       ``torch.nn.functional.dropout(training=False)``.
    """
    check = "check_dropout_forward"
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape)
    require(check, _DROPOUT_P, p=p)
    shape = tuple(int(n) for n in shape)
    if p > 0 and math.prod(shape) * p * (1 - p) < MIN_VARIANCE:
        refuse(check, "shape", shape, f"shape must be large enough that n·p·(1 − p) ≥ "
               f"{MIN_VARIANCE:g}, n ≥ {math.ceil(MIN_VARIANCE / (p * (1 - p)))} units at "
               f"p = {p:g}: the statistical tests assume the dropped count is close to normal")
    name = f"dropout_forward (p={p:g})"
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=shape)
    student_seed = int(rng.integers(0, 2**31))
    n = x.size
    saved = x.copy()

    out, mask = _mask_of(dropout_forward(x, p, train=True, seed=student_seed), name, shape, p)
    assert_unchanged(name, saved, x, "its input x")
    if p == 0:
        expected_out = saved
    else:
        expected_out = _dropout_reference(saved, mask, p)[0].detach().numpy()
    hint = diagnose(out, {
        DROPOUT_SCALE_BY_P: saved * mask / p if p else saved,
        DROPOUT_UNSCALED: saved * mask,
    }, "out = x·m / (1 − p): dropped units are 0, kept ones are scaled up")
    assert_close(name, out, expected_out, hint=hint, what="output")

    dropped = float(np.mean(mask == 0.0))
    se = math.sqrt(p * (1 - p) / n)
    if abs(dropped - p) > Z * se + 1e-12:
        flipped = abs(dropped - (1 - p)) <= Z * se + 1e-12
        raise AssertionError(
            f"{name}: {dropped:.4f} of the {n} units were dropped, expected p = {p:g} "
            f"± {Z * se:.4f} ({Z:g} standard errors) — "
            + (str(DROPOUT_KEEP_WITH_P) if flipped else
               "draw m ~ Bernoulli(1 − p) independently for every unit"))

    level = 2.0
    constant = np.full(shape, level)
    out_c, _ = _mask_of(dropout_forward(constant, p, train=True, seed=student_seed + 1), name,
                        shape, p)
    mean = float(np.mean(out_c))
    se_mean = level * math.sqrt(p / ((1 - p) * n)) if p < 1 else 0.0
    if abs(mean - level) > Z * se_mean + 1e-9:
        raise AssertionError(
            f"{name}: on an input of constant {level:g}, the mean output is {mean:.4f}, "
            f"expected {level:g} ± {Z * se_mean:.4f} — inverted dropout preserves the "
            "expectation: E[x·m/(1 − p)] = x")

    again = _mask_of(dropout_forward(saved.copy(), p, train=True, seed=student_seed), name,
                     shape, p)[1]
    if not np.array_equal(again, mask):
        raise AssertionError(f"{name}: two calls with the same seed gave different masks — "
                             f"{DROPOUT_UNSEEDED}")
    if 0 < p < 1:
        other = _mask_of(dropout_forward(saved.copy(), p, train=True, seed=student_seed + 7),
                         name, shape, p)[1]
        if np.array_equal(other, mask):
            raise AssertionError(f"{name}: seeds {student_seed} and {student_seed + 7} gave "
                                 f"the same mask — {DROPOUT_SEED_IGNORED}")
        if mask.ndim >= 2 and min(shape[0], shape[-1]) > 16 and (
                np.all(mask == mask[:1]) or np.all(mask == mask[..., :1])):
            raise AssertionError(f"{name}: the mask is the same along one axis — "
                                 f"{DROPOUT_SHARED_MASK}")

    for train_seed in (student_seed, student_seed + 1):
        result = dropout_forward(saved.copy(), p, train=False, seed=train_seed)
        out_eval, mask_eval = _mask_of(result, f"{name}, train=False", shape)
        expected_eval = F.dropout(float64_tensor(saved), p, training=False).numpy()
        assert_close(f"{name}, train=False", out_eval, expected_eval, what="output",
                     hint=DROPOUT_EVAL)
        if not np.all(mask_eval == 1.0):
            raise AssertionError(f"{name}, train=False: the mask must be all ones at test "
                                 "time (every unit is kept)")


def check_dropout_backward(dropout_backward, seed=0, shape=(4, 6), p=0.5):
    """dx = dout·m/(1 − p), against autograd through x·m/(1 − p) with a fixed mask."""
    check = "check_dropout_backward"
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape)
    require(check, _DROPOUT_P, p=p)
    name = f"dropout_backward (p={p:g})"
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=shape)
    dout = rng.normal(0.0, 1.0, size=shape)
    mask = (rng.random(shape) >= p).astype(float)
    saved = dout.copy(), mask.copy()

    got = as_float_array(dropout_backward(dout, mask, p), name, "gradient dx")
    assert_unchanged(name, saved[0], dout, "dout")
    assert_unchanged(name, saved[1], mask, "the mask")
    out, x_t = _dropout_reference(x, saved[1], p)
    out.backward(float64_tensor(saved[0]))
    expected = x_t.grad.numpy()
    hint = diagnose(got, {
        DROPOUT_BACKWARD_UNSCALED: saved[0] * saved[1],
        DROPOUT_BACKWARD_NO_MASK: saved[0] / (1 - p),
    }, "dx = dout · m / (1 − p), with the same mask as the forward pass")
    assert_close(name, got, expected, hint=hint, what="gradient dx")
    if got.shape == shape and np.any(got[saved[1] == 0.0] != 0.0):
        raise AssertionError(f"{name}: dx must be exactly 0 where the mask is 0 (a dropped "
                             "unit receives no gradient)")


# ---------------------------------------------------------------- the L2-regularized optimum


def l2_quadratic_problem(seed: int, dim: int, condition: float, scale: float):
    """(H, θ*): a symmetric positive-definite H with eigenvalues scale·geomspace(1, κ, dim)
    on a random (seeded) rotation, and a minimizer θ* ~ N(0, I)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    hessian = (q * (scale * np.geomspace(1.0, condition, dim))) @ q.T
    return 0.5 * (hessian + hessian.T), rng.normal(size=dim)


def _regularized_minimum(hessian, theta_star, omega, *, scheme="right") -> np.ndarray:
    """argmin ½(θ − θ*)ᵀH(θ − θ*) + ω/2·‖θ‖² = (H + ωI)⁻¹Hθ*, by torch.linalg.solve; the
    other schemes build known mistakes."""
    h, t = float64_tensor(hessian), float64_tensor(theta_star)
    eye = torch.eye(h.shape[0], dtype=torch.float64)
    if scheme == "uniform":
        return (t / (1.0 + omega)).numpy()
    if scheme == "diagonal":
        d = torch.diagonal(h)
        return (d / (d + omega) * t).numpy()
    if scheme == "no_h":
        return torch.linalg.solve(h + omega * eye, t).numpy()
    factor = 2.0 if scheme == "doubled" else 1.0
    return torch.linalg.solve(h + factor * omega * eye, h @ t).numpy()


def _check_optimum(l2_optimum, seed, dim, condition, scale, weight_decay):
    name = (f"l2_optimum (dim={dim}, eigenvalues {scale:g} … {scale * condition:g}, "
            f"weight_decay={weight_decay:g})")
    hessian, theta_star = l2_quadratic_problem(seed, dim, condition, scale)
    saved = hessian.copy(), theta_star.copy()
    got = as_float_array(l2_optimum(hessian, theta_star, weight_decay), name, "minimizer")
    assert_unchanged(name, saved[0], hessian, "the hessian")
    assert_unchanged(name, saved[1], theta_star, "theta_star")
    expected = _regularized_minimum(*saved, weight_decay)
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: the minimizer has shape {got.shape}, expected "
                             f"{expected.shape} (one entry per parameter, like theta_star)")
    hint = diagnose(got, [
        (OPTIMUM_IGNORED, lambda: saved[1]),
        (OPTIMUM_UNIFORM, lambda: _regularized_minimum(*saved, weight_decay, scheme="uniform")),
        (OPTIMUM_NO_HALF, lambda: _regularized_minimum(*saved, weight_decay, scheme="doubled")),
        (OPTIMUM_DIAGONAL, lambda: _regularized_minimum(*saved, weight_decay,
                                                        scheme="diagonal")),
        (OPTIMUM_NO_H, lambda: _regularized_minimum(*saved, weight_decay, scheme="no_h")),
    ], "θ̃ solves H(θ − θ*) + ωθ = 0: θ̃ = (H + ωI)⁻¹ H θ*")
    if np.all(np.isfinite(got)):
        residual = saved[0] @ (got - saved[1]) + weight_decay * got
        hint = (f"{hint} (at your θ̃ the gradient of L + ω/2·‖θ‖² is "
                f"{np.linalg.norm(residual):.3g} in norm, where it must be 0)")
    assert_close(name, got, expected, rtol=1e-7, atol=1e-9, hint=hint, what="minimizer")


def check_l2_optimum(l2_optimum, seed=0, dim=4, condition=100.0, scale=0.1, weight_decay=1.0):
    """The minimizer of ½(θ − θ*)ᵀH(θ − θ*) + ω/2·‖θ‖², against (H + ωI)⁻¹Hθ* (solved by
    PyTorch in float64, relative tolerance 1e-7).

    H is rotated (not diagonal), with eigenvalues from ``scale`` to ``scale·condition``, so
    that some directions are stiffer than ω and some flatter. Whatever the arguments, the
    check also tries ω = 0 (the minimum does not move) and a 1 × 1 problem.
    """
    check = "check_l2_optimum"
    require(check, SEED, seed=seed)
    require(check, integer(1), dim=dim)
    require(check, number(least=1, why=" (λ_max / λ_min)"), condition=condition)
    require(check, number(above=0, why=" (the smallest eigenvalue of H)"), scale=scale)
    require(check, number(least=0, why=" (a negative ω would reward large weights)"),
            weight_decay=weight_decay)
    _check_optimum(l2_optimum, seed, dim, condition, scale, weight_decay)
    _check_optimum(l2_optimum, seed + 1, 3, 10.0, 1.0, 0.0)
    _check_optimum(l2_optimum, seed + 2, 1, 1.0, 2.0, 0.5)
