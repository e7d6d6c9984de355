"""Checks for chapter 01: activations, their derivatives, a deep scalar chain, clipping.

Oracles: PyTorch in float64 (``torch.sigmoid``, ``torch.tanh``, ``torch.relu``,
``torch.nn.functional.elu`` and autograd through them) and
``torch.nn.utils.clip_grad_value_`` / ``clip_grad_norm_``; for ``growth_rate``, the moduli
of ``torch.linalg.eigvals`` (the spectral radius), with ‖W^N‖₂^(1/N) multiplied out to show
what it predicts. Conventions at kinks
follow PyTorch's autograd: relu'(0) = 0 and elu'(0) = α.

Whatever the arguments, every element-wise check also tries a 2-D array, a plain float
and the edge values (±1000, ±50, ±10, 0, ±10⁻³), and the ELU checks a second α; the
chain check also runs a tanh chain, and the global-norm check an all-zero gradient:
the conventions the tasks state are caught by the visible test cell, not only by the
hidden ones. When a result differs, the check recomputes a few classic mistakes from
the oracle's own quantities and names the one the student's result reproduces (a
:mod:`~descent.checks.misconceptions` tag); the verdict always comes from the oracle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from descent.checks._arguments import (
    FLAG,
    SEED,
    array_shape,
    array_shapes,
    integer,
    number,
    one_of,
    require,
)
from descent.checks._compare import (
    as_array_list,
    as_float_array,
    as_number,
    as_tuple,
    assert_close,
    assert_unchanged,
    diagnose,
)
from descent.checks._oracle import float64_tensor
from descent.checks.misconceptions import on_page

_PAGE = "01_activations"
_ACTIVATIONS = "Activations and their derivatives"
_CHAIN = "A network one unit wide"
_CLIPPING = "Cliffs and gradient clipping"
_CONVENTIONS = "Where conventions differ"
_mistake = on_page(_PAGE, _ACTIVATIONS)


SIGMOID_SIGN = _mistake(
    "sigmoid.sign-flipped",
    "the exponent is −z: σ(z) = 1/(1 + exp(−z)); 1/(1 + exp(z)) is σ(−z), its mirror image")
SIGMOID_OVERFLOW = _mistake(
    "sigmoid.overflow",
    "exp of a large positive number overflows to inf, and inf/inf is NaN: never exponentiate "
    "a large positive z (use exp(−|z|), with e^z/(1 + e^z) only where z < 0)")
SIGMOID_OF_INPUT = _mistake(
    "sigmoid.derivative-of-input",
    "σ'(z) = s·(1 − s) with s = σ(z): apply the sigmoid first; z·(1 − z) is the formula "
    "written for the OUTPUT s, used here on the input z")
SIGMOID_GRAD_IS_VALUE = _mistake(
    "sigmoid.derivative-is-value",
    "this is σ(z) itself; its derivative is σ(z)·(1 − σ(z)), which peaks at 0.25 at z = 0")
SIGMOID_TANH_PATTERN = _mistake(
    "sigmoid.tanh-pattern",
    "1 − σ(z)² is tanh's pattern (tanh' = 1 − tanh²); the sigmoid's derivative is "
    "σ(z)·(1 − σ(z))")
TANH_OF_INPUT = _mistake(
    "tanh.derivative-of-input", "tanh'(z) = 1 − tanh(z)²: square tanh(z), not z")
TANH_NO_SQUARE = _mistake(
    "tanh.missing-square", "tanh'(z) = 1 − tanh(z)²: the tanh is squared; 1 − tanh(z) is not "
    "the derivative")
TANH_SIGMOID_PATTERN = _mistake(
    "tanh.sigmoid-pattern",
    "tanh(z)·(1 − tanh(z)) is the sigmoid's pattern; tanh'(z) = 1 − tanh(z)²")
TANH_OVERFLOW = _mistake(
    "tanh.overflow",
    "exp of a large |z| overflows to inf, and inf/inf is NaN: use np.tanh, which never "
    "overflows")
RELU_MIN = _mistake(
    "relu.min-not-max", "relu keeps the positive part, max(0, z) (np.maximum); min(0, z) keeps "
    "the negative part")
RELU_MASK = _mistake(
    "relu.returns-derivative",
    "this is relu'(z), a 0/1 mask; relu(z) = max(0, z) keeps the value z where z > 0")
RELU_GRAD_AT_ZERO = _mistake(
    "relu.grad-at-zero",
    "relu has no derivative at 0; the course, like PyTorch's autograd, takes relu'(0) = 0: "
    "test z > 0, not z >= 0 (nor np.heaviside(z, 0.5))")
RELU_GRAD_IS_VALUE = _mistake(
    "relu.derivative-is-value",
    "this is relu(z) itself; its derivative is 1 where z > 0 and 0 elsewhere")
ELU_ALPHA_IGNORED = _mistake(
    "elu.alpha-ignored",
    "use the alpha argument: α multiplies the negative branch, α·(exp(z) − 1), and the "
    "derivative's, α·exp(z)")
ELU_MINUS_ONE = _mistake(
    "elu.missing-minus-one",
    "elu(z) = α·(exp(z) − 1) for z ≤ 0: without the − 1 it jumps at 0 instead of bending "
    "smoothly towards −α")
ELU_ALPHA_ON_POSITIVE = _mistake(
    "elu.alpha-on-positive-branch", "α scales only the negative branch: elu(z) = z for z > 0")
ELU_OVERFLOW = _mistake(
    "elu.overflow",
    "np.where evaluates both branches (and a 0/1 mask multiplies both): exp(z) of a large "
    "positive z is inf, and inf·0 is NaN; take the exponential of np.minimum(z, 0)")
ELU_GRAD_AT_ZERO = _mistake(
    "elu.grad-at-zero",
    "at z = 0 the course, like PyTorch's autograd, takes the left branch, elu'(0) = α: the "
    "branch 1 is for z > 0 only")
ELU_GRAD_MINUS_ONE = _mistake(
    "elu.derivative-minus-one",
    "the derivative of α·(exp(z) − 1) is α·exp(z): the − 1 is a constant and drops out")
CHAIN_NO_WEIGHT = _mistake(
    "chain.missing-weight",
    "each layer contributes the factor ∂a_l/∂a_(l−1) = f'(z_l)·w_l: the weight is part of it",
    _CHAIN)
CHAIN_AT_OUTPUT = _mistake(
    "chain.derivative-at-output",
    "evaluate f' at the pre-activation z_l = w_l·a_(l−1) + b_l, not at the activation "
    "a_l = f(z_l)", _CHAIN)
CHAIN_REVERSED = _mistake(
    "chain.reversed",
    "g[l] = ∂a_N/∂a_l is indexed by layer: g[0] = ∂a_N/∂x comes first and g[N] = 1 last; "
    "your array is reversed", _CHAIN)
CHAIN_OFF_BY_ONE = _mistake(
    "chain.off-by-one",
    "layer l = 1 … N uses weights[l − 1], biases[l − 1] and z_l, and g[l − 1] = "
    "g[l]·f'(z_l)·w_l with g[N] = 1: your entries are shifted by one layer", _CHAIN)
CHAIN_OWN_ACTIVATION = _mistake(
    "chain.hard-coded-activation",
    "use the activation and activation_grad arguments (the check passes its own functions): "
    "your result is the chain of another activation", _CHAIN)
CLIP_ONE_SIDED = _mistake(
    "clipping.one-sided",
    "clip both sides: every element into [−c, c], np.clip(g, −c, c); min(g, c) alone leaves "
    "large negative entries (and max(g, −c) large positive ones)", _CLIPPING)
CLIP_NORM_NOT_VALUE = _mistake(
    "clipping.norm-not-value",
    "clip_by_value clips each ELEMENT into [−c, c]; rescaling by a norm is the other method, "
    "clip_by_global_norm", _CLIPPING)
CLIP_IN_PLACE = _mistake(
    "clipping.in-place",
    "PyTorch's clip_grad_value_ and clip_grad_norm_ work in place; the course's functions "
    "return new arrays and leave the gradients they are given untouched", _CONVENTIONS)
CLIP_PER_TENSOR = _mistake(
    "clipping.per-tensor-norm",
    "the norm is global: ONE norm √(Σ_i ‖g_i‖²) over all the gradients and one factor "
    "max_norm/‖g‖ for all of them, not one per array", _CLIPPING)
CLIP_ALWAYS = _mistake(
    "clipping.always-rescaled",
    "scale only when ‖g‖ > max_norm; below the threshold the gradients come back unchanged",
    _CLIPPING)
CLIP_NORM_AFTER = _mistake(
    "clipping.norm-after-clipping",
    "total_norm is ‖g‖ BEFORE clipping, as torch.nn.utils.clip_grad_norm_ returns it",
    _CLIPPING)
CLIP_VALUE_NOT_NORM = _mistake(
    "clipping.by-value-not-norm",
    "clipping by global norm multiplies every gradient by one factor, max_norm/‖g‖, which "
    "keeps the direction; clipping each element into [−c, c] is clip_by_value", _CLIPPING)
CLIP_SQUARED_NORM = _mistake(
    "clipping.squared-norm",
    "the norm is the square ROOT of the sum of squares: ‖g‖ = √(Σ_i ‖g_i‖²)", _CLIPPING)
CLIP_SUM_OF_NORMS = _mistake(
    "clipping.sum-of-norms",
    "the global norm is √(Σ_i ‖g_i‖²), the norm of all entries together, not the sum of the "
    "per-array norms Σ_i ‖g_i‖", _CLIPPING)
CLIP_ZERO_NORM = _mistake(
    "clipping.zero-norm",
    "an all-zero gradient has norm 0: compare before dividing (scale only when "
    "‖g‖ > max_norm) and return the zeros unchanged", _CLIPPING)

_LINEAR = "The linear view: repeated matrices"
RATE_SINGULAR = _mistake(
    "growth-rate.largest-singular-value",
    "σ_max(W) = ‖W‖₂ bounds one step (‖W^N‖ ≤ σ_max^N) but not the long run: for large N, "
    "‖W^N x‖ grows or shrinks like r(W)^N, the spectral radius max_i |λ_i|; the two agree only "
    "for a normal W (symmetric, orthogonal, …)", _LINEAR)
RATE_NO_MODULUS = _mistake(
    "growth-rate.no-modulus",
    "take the modulus of every eigenvalue, r(W) = max_i |λ_i| (np.abs of np.linalg.eigvals): "
    "a negative or complex eigenvalue of modulus above 1 explodes too", _LINEAR)
RATE_EIGVALSH = _mistake(
    "growth-rate.eigvalsh-on-nonsymmetric",
    "np.linalg.eigvalsh assumes a symmetric matrix and reads one triangle only: W is not "
    "symmetric, use np.linalg.eigvals", _LINEAR)
RATE_FROBENIUS = _mistake(
    "growth-rate.frobenius-norm",
    "the Frobenius norm √(Σ W_ij²) is not a growth rate: use the spectral radius "
    "max_i |λ_i(W)|", _LINEAR)

#: Inputs every element-wise check also tries: far and saturated tails (exp(±1000)
#: overflows), the origin, tiny values.
EDGES = np.array([-1000.0, -50.0, -10.0, -1e-3, 0.0, 1e-3, 10.0, 50.0, 1000.0])
#: Beyond this |z|, a NaN or inf where the oracle is finite is an overflow of exp.
_OVERFLOW_Z = 300.0
#: The shape every element-wise check tries besides the one it is given.
_EXTRA_SHAPE = (2, 3)

#: What the checks' arguments may be (a shape may be an int, as NumPy's).
_SHAPE = array_shape(0, bare_int=True, why=" (an array's shape)")
_SHAPES = array_shapes(0, bare_int=True)
_POSITIVE = number(above=0)

# ---------------------------------------------------------------- diagnosis


def _as_array_or_none(value):
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None


def _nan_or_inf(value) -> bool:
    """Whether ``value`` reads as floats, some of them NaN or infinite."""
    array = _as_array_or_none(value)
    return array is not None and not bool(np.isfinite(array).all())


def _overflowed(got, expected, z) -> bool:
    """NaN or inf only where |z| is large and the oracle is finite: exp overflowed."""
    got = _as_array_or_none(got)
    if got is None or got.shape != np.shape(expected):
        return False
    bad = ~np.isfinite(got) & np.isfinite(expected)
    z = np.broadcast_to(np.asarray(z, dtype=float), bad.shape)
    return bool(bad.any()) and bool((np.abs(z[bad]) >= _OVERFLOW_Z).all())


# ---------------------------------------------------------------- element-wise functions


def _value(torch_fn: Callable) -> Callable:
    """NumPy in, NumPy out, computed by PyTorch."""
    return lambda z: torch_fn(float64_tensor(z)).detach().numpy()


def _derivative(torch_fn: Callable) -> Callable:
    """Element-wise derivative of ``torch_fn`` by autograd (d/dz Σ f(z) = f'(z) per entry)."""

    def derivative(z):
        t = float64_tensor(z, grad=True)
        torch_fn(t).sum().backward()
        return t.grad.numpy()

    return derivative


def _inputs(seed, shape, edges) -> list:
    """The inputs of an element-wise check: its shape, a 2-D array, the edges, a float."""
    rng = np.random.default_rng(seed)
    cases = [rng.normal(0.0, 3.0, size=shape), rng.normal(0.0, 3.0, size=_EXTRA_SHAPE)]
    if edges:
        cases.append(EDGES.copy())
    cases.append(float(rng.normal()))
    return cases


def _check_elementwise(name, student, oracle, hint, cases, *, mistakes=(), overflow=None,
                       **kwargs):
    """``student(z, **kwargs)`` against ``oracle(z)`` on every input of ``cases``.

    ``mistakes`` are (misconception, function of a float64 tensor) pairs: the results of
    known mistakes, computed only when the student's result differs, to name the one it
    reproduces. ``overflow`` names NaN or inf that appear only at huge |z|.
    """
    for z in cases:
        scalar = isinstance(z, float)
        before = np.array(z)
        got = student(z, **kwargs)
        if not scalar:
            assert_unchanged(name, before, z, "its input z")
        expected = oracle(before)
        got = as_float_array(got, name)
        if scalar and got.size == 1:
            got = got.reshape(())
        where = f"{name}, for a plain float z" if scalar else name
        try:
            assert_close(where, got, expected, inputs=before)
        except AssertionError:
            if overflow is not None and _overflowed(got, expected, before):
                chosen = overflow
            else:
                t = float64_tensor(before)
                chosen = diagnose(
                    got, ((m, lambda f=f, t=t: np.asarray(f(t))) for m, f in mistakes), hint)
            assert_close(where, got, expected, inputs=before, hint=chosen)


def _check_arguments(check, seed, shape_, edges, scalar):
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape_)
    require(check, FLAG, edges=edges, scalar=scalar)


def check_sigmoid(sigmoid, seed=0, shape=(7,), edges=True, scalar=False):
    """sigmoid(z) = 1 / (1 + e^(−z)), against ``torch.sigmoid``.

    A 2-D array and a plain float are always tried (``scalar`` is kept for the notebooks'
    calls), and with ``edges`` the values of ``EDGES``, ±1000 included.
    """
    _check_arguments("check_sigmoid", seed, shape, edges, scalar)
    _check_elementwise("sigmoid", sigmoid, _value(torch.sigmoid),
                       "σ(z) = 1 / (1 + exp(−z)), element-wise", _inputs(seed, shape, edges),
                       mistakes=[(SIGMOID_SIGN, lambda t: torch.sigmoid(-t))],
                       overflow=SIGMOID_OVERFLOW)


def check_sigmoid_grad(sigmoid_grad, seed=0, shape=(7,), edges=True, scalar=False):
    """σ'(z) = σ(z)(1 − σ(z)), against autograd of ``torch.sigmoid``."""
    _check_arguments("check_sigmoid_grad", seed, shape, edges, scalar)
    _check_elementwise(
        "sigmoid_grad", sigmoid_grad, _derivative(torch.sigmoid),
        "σ'(z) = σ(z)·(1 − σ(z)), which is 0.25 at z = 0", _inputs(seed, shape, edges),
        mistakes=[(SIGMOID_OF_INPUT, lambda t: t * (1 - t)),
                  (SIGMOID_OF_INPUT, lambda t: torch.sigmoid(t) * (1 - t)),
                  (SIGMOID_GRAD_IS_VALUE, torch.sigmoid),
                  (SIGMOID_TANH_PATTERN, lambda t: 1 - torch.sigmoid(t) ** 2)],
        overflow=SIGMOID_OVERFLOW)


def check_tanh_grad(tanh_grad, seed=0, shape=(7,), edges=True, scalar=False):
    """tanh'(z) = 1 − tanh(z)², against autograd of ``torch.tanh``."""
    _check_arguments("check_tanh_grad", seed, shape, edges, scalar)
    _check_elementwise(
        "tanh_grad", tanh_grad, _derivative(torch.tanh), "tanh'(z) = 1 − tanh(z)²",
        _inputs(seed, shape, edges),
        mistakes=[(TANH_OF_INPUT, lambda t: 1 - t**2),
                  (TANH_NO_SQUARE, lambda t: 1 - torch.tanh(t)),
                  (TANH_SIGMOID_PATTERN, lambda t: torch.tanh(t) * (1 - torch.tanh(t)))],
        overflow=TANH_OVERFLOW)


def check_relu(relu, seed=0, shape=(7,), edges=True, scalar=False):
    """relu(z) = max(0, z), against ``torch.relu``."""
    _check_arguments("check_relu", seed, shape, edges, scalar)
    _check_elementwise(
        "relu", relu, _value(torch.relu),
        "relu(z) = max(0, z) element-wise (np.maximum, not Python's max)",
        _inputs(seed, shape, edges),
        mistakes=[(RELU_MIN, lambda t: torch.clamp(t, max=0.0)),
                  (RELU_MASK, lambda t: (t > 0).double())])


def check_relu_grad(relu_grad, seed=0, shape=(7,), edges=True, scalar=False):
    """relu'(z) = 1 for z > 0 else 0; relu'(0) = 0 as in PyTorch's autograd."""
    _check_arguments("check_relu_grad", seed, shape, edges, scalar)
    half = torch.tensor(0.5, dtype=torch.float64)
    _check_elementwise(
        "relu_grad", relu_grad, _derivative(torch.relu),
        "relu'(z) is 1 where z > 0 and 0 elsewhere", _inputs(seed, shape, edges),
        mistakes=[(RELU_GRAD_AT_ZERO, lambda t: (t >= 0).double()),
                  (RELU_GRAD_AT_ZERO, lambda t: torch.heaviside(t, half)),
                  (RELU_GRAD_IS_VALUE, torch.relu)])


def _other_alpha(alpha: float) -> float:
    """A second α for the ELU checks, never 1 (the value a forgotten α hides behind)."""
    return 0.5 if alpha != 0.5 else 2.0


def check_elu(elu, seed=0, shape=(7,), edges=True, scalar=False, alpha=1.0):
    """elu(z) = z for z > 0, α(e^z − 1) otherwise, against ``torch.nn.functional.elu``.

    Also tried with a second α (0.5, or 2 when α is 0.5), so that the visible call,
    α = 1, catches an α that is not used.
    """
    _check_arguments("check_elu", seed, shape, edges, scalar)
    require("check_elu", _POSITIVE, alpha=alpha)
    for a in (alpha, _other_alpha(alpha)):
        cases = _inputs(seed, shape, edges) if a == alpha else _inputs(seed + 1, (5,), True)

        def negative_only(t, a=a):
            return torch.where(t > 0, t, a * torch.exp(torch.clamp(t, max=0.0)))

        _check_elementwise(
            f"elu (alpha={a:g})", elu, _value(lambda t, a=a: F.elu(t, a)),
            "elu(z) = z if z > 0 else α·(exp(z) − 1)", cases, alpha=a,
            mistakes=[(ELU_ALPHA_IGNORED, lambda t: F.elu(t, 1.0)),
                      (ELU_MINUS_ONE, negative_only),
                      (ELU_ALPHA_ON_POSITIVE, lambda t, a=a: a * F.elu(t, 1.0))],
            overflow=ELU_OVERFLOW)


def check_elu_grad(elu_grad, seed=0, shape=(7,), edges=True, scalar=False, alpha=1.0):
    """elu'(z) = 1 for z > 0, α·e^z otherwise (so elu'(0) = α, as PyTorch's autograd).

    Also tried with a second α, as :func:`check_elu`.
    """
    _check_arguments("check_elu_grad", seed, shape, edges, scalar)
    require("check_elu_grad", _POSITIVE, alpha=alpha)
    for a in (alpha, _other_alpha(alpha)):
        cases = _inputs(seed, shape, edges) if a == alpha else _inputs(seed + 1, (5,), True)

        def right_at_zero(t, a=a):
            return torch.where(t >= 0, torch.ones_like(t), a * torch.exp(torch.clamp(t, max=0)))

        def minus_one(t, a=a):
            return torch.where(t > 0, torch.ones_like(t), a * torch.expm1(torch.clamp(t, max=0)))

        _check_elementwise(
            f"elu_grad (alpha={a:g})", elu_grad, _derivative(lambda t, a=a: F.elu(t, a)),
            "elu'(z) = 1 if z > 0 else α·exp(z)", cases, alpha=a,
            mistakes=[(ELU_GRAD_AT_ZERO, right_at_zero),
                      (ELU_ALPHA_IGNORED, _derivative(lambda t: F.elu(t, 1.0))),
                      (ELU_GRAD_MINUS_ONE, minus_one)],
            overflow=ELU_OVERFLOW)


# ---------------------------------------------------------------- the scalar chain

_TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "elu": F.elu,
}


@dataclass(frozen=True)
class ReferenceActivation:
    """An activation (or its derivative) computed by PyTorch, handed to a student's function.

    scalar_chain_grad receives these instead of the student's own activations, so
    the chain task is graded on its own. They are plain data (a name and a flag),
    so a grader that runs student code in another process can send them there.
    """

    name: str
    derivative: bool = False

    def __call__(self, z):
        torch_fn = _TORCH_ACTIVATIONS[self.name]
        return (_derivative if self.derivative else _value)(torch_fn)(z)


def _chain_oracle(x, weights, biases, torch_fn) -> np.ndarray:
    """∂a_N/∂a_l for l = 0..N by autograd through the scalar network."""
    a = float64_tensor(x, grad=True)
    activations = [a]
    for w, b in zip(weights, biases, strict=True):
        a = torch_fn(float(w) * a + float(b))
        a.retain_grad()
        activations.append(a)
    activations[-1].backward()
    return np.array([float(t.grad) for t in activations])


def _chain_forward(x, weights, biases, torch_fn) -> tuple[np.ndarray, np.ndarray]:
    """The pre-activations z_1..z_N and activations a_1..a_N of the scalar network."""
    a, zs, activations = float64_tensor(x), [], []
    for w, b in zip(weights, biases, strict=True):
        z = float(w) * a + float(b)
        a = torch_fn(z)
        zs.append(float(z))
        activations.append(float(a))
    return np.array(zs), np.array(activations)


def _from_layer(factors: np.ndarray) -> np.ndarray:
    """Entry l is the product of factors l+1 … N (1-based), so the last entry is 1."""
    return np.append(np.cumprod(factors[::-1])[::-1], 1.0)


def _chain_mistakes(x, weights, biases, activation, expected):
    """Known mistakes of the chain, as tweaks of the oracle's own quantities."""
    torch_fn = _TORCH_ACTIVATIONS[activation]
    derivative = _derivative(torch_fn)
    z, a = _chain_forward(x, weights, biases, torch_fn)
    yield CHAIN_NO_WEIGHT, lambda: expected / _from_layer(weights)
    yield CHAIN_AT_OUTPUT, lambda: expected * _from_layer(derivative(a) / derivative(z))
    yield CHAIN_REVERSED, lambda: expected[::-1]
    yield CHAIN_OFF_BY_ONE, lambda: np.append(expected[1:], 1.0)
    for other, other_fn in _TORCH_ACTIVATIONS.items():
        if other != activation:
            yield CHAIN_OWN_ACTIVATION, lambda f=other_fn: _chain_oracle(x, weights, biases, f)


def _check_chain(scalar_chain_grad, seed, depth, activation, weight_scale):
    name = f"scalar_chain_grad ({activation}, depth {depth})"
    torch_fn = _TORCH_ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    x = float(rng.normal())
    weights = rng.normal(0.0, weight_scale, size=depth)
    biases = rng.normal(0.0, 0.5, size=depth)
    saved = weights.copy(), biases.copy()

    got = scalar_chain_grad(x, weights, biases, ReferenceActivation(activation),
                            ReferenceActivation(activation, derivative=True))
    assert_unchanged(name, saved[0], weights, "the weights")
    assert_unchanged(name, saved[1], biases, "the biases")
    expected = _chain_oracle(x, *saved, torch_fn)
    got = as_float_array(got, name)
    if got.shape != expected.shape:
        raise AssertionError(
            f"{name}: expected an array of length N + 1 = {depth + 1} "
            f"(g[0] = ∂a_N/∂x … g[N] = 1), got shape {got.shape}"
        )
    # Deep chains make gradients as small as 1e-30: compare relatively, not absolutely.
    compare = dict(inputs=np.arange(depth + 1), input_name="layer l", rtol=1e-7, atol=1e-300)
    try:
        assert_close(name, got, expected, **compare)
    except AssertionError:
        hint = diagnose(got, _chain_mistakes(x, *saved, activation, expected),
                            "g[N] = 1 and g[l−1] = g[l]·activation_grad(z_l)·w_l, from the "
                            "top down")
        assert_close(name, got, expected, hint=hint, **compare)


def check_scalar_chain_grad(scalar_chain_grad, seed=0, depth=6, activation="sigmoid",
                            weight_scale=1.5):
    """The gradient of a deep scalar chain, g[l] = ∂a_N/∂a_l, against autograd.

    A short tanh chain (a sigmoid one when ``activation`` is tanh) is always tried too:
    the function must use the activations it is given.
    """
    check = "check_scalar_chain_grad"
    require(check, SEED, seed=seed)
    require(check, integer(1), depth=depth)
    require(check, one_of(*_TORCH_ACTIVATIONS), activation=activation)
    require(check, _POSITIVE, weight_scale=weight_scale)
    _check_chain(scalar_chain_grad, seed, depth, activation, weight_scale)
    other = "sigmoid" if activation == "tanh" else "tanh"
    _check_chain(scalar_chain_grad, seed + 1, 4, other, 1.5)


# ---------------------------------------------------------------- clipping


def _torch_params(grads) -> list[torch.Tensor]:
    params = []
    for g in grads:
        p = torch.zeros(np.shape(g), dtype=torch.float64, requires_grad=True)
        p.grad = float64_tensor(g)
        params.append(p)
    return params


def _torch_clipped(grads, clip: Callable, *args) -> list[np.ndarray]:
    """The gradients after a ``torch.nn.utils`` clipping function, applied to a copy."""
    params = _torch_params(grads)
    clip(params, *args)
    return [p.grad.numpy() for p in params]


def _random_grads(seed, shapes, scale) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, scale, size=shape) for shape in shapes]


def _unchanged(name, saved, grads):
    try:
        for before, g in zip(saved, grads, strict=True):
            assert_unchanged(name, before, g, "a gradient it was given")
    except AssertionError as failure:
        raise AssertionError(f"{failure} — {CLIP_IN_PLACE}") from None


def _check_arrays(name, got, expected, candidates: Callable, default, inputs=None, **compare):
    """Compare lists of arrays, naming the first that differs; on failure, ``candidates()``
    gives (hint, thunk of a whole list) pairs, the known mistakes the list may reproduce."""
    hint = None
    for i, (got_i, expected_i) in enumerate(zip(got, expected, strict=True)):
        what = f"clipped grads[{i}]"
        where = {} if inputs is None else {"inputs": inputs[i], "input_name": "g"}
        try:
            assert_close(name, got_i, expected_i, what=what, **where, **compare)
        except AssertionError:
            hint = diagnose(got, candidates(), default) if hint is None else hint
            assert_close(name, got_i, expected_i, what=what, hint=hint, **where, **compare)


def _scaled(grads, max_norm, norm) -> list[np.ndarray]:
    """Every gradient times min(1, max_norm / norm): the course's rule for a given norm."""
    return [g * min(1.0, max_norm / norm) if norm else g.copy() for g in grads]


def check_clip_by_value(clip_by_value, seed=0, shapes=((3,), (2, 4)), clip_value=0.5,
                        scale=1.0):
    """Element-wise clipping into [−c, c], against ``torch.nn.utils.clip_grad_value_``."""
    check = "check_clip_by_value"
    require(check, SEED, seed=seed)
    require(check, _SHAPES, shapes=shapes)
    require(check, number(above=0, why=" (the interval is [−c, c])"), clip_value=clip_value)
    require(check, number(least=0), scale=scale)
    name = "clip_by_value"
    grads = _random_grads(seed, shapes, scale)
    saved = [g.copy() for g in grads]
    got = as_array_list(clip_by_value(grads, clip_value), name, len(grads))
    _unchanged(name, saved, grads)
    expected = _torch_clipped(saved, torch.nn.utils.clip_grad_value_, clip_value)

    def candidates():
        c = clip_value
        yield CLIP_ONE_SIDED, lambda: [np.minimum(g, c) for g in saved]
        yield CLIP_ONE_SIDED, lambda: [np.maximum(g, -c) for g in saved]
        yield CLIP_NORM_NOT_VALUE, lambda: _scaled(saved, c, _norms(saved)[0])
        yield CLIP_NORM_NOT_VALUE, lambda: [_scaled([g], c, _norms([g])[0])[0] for g in saved]

    _check_arrays(name, got, expected, candidates,
                  f"every element must end up in [−{clip_value:g}, {clip_value:g}]",
                  inputs=saved)


def _norms(grads) -> tuple[float, float]:
    """(√(Σ_i ‖g_i‖²), Σ_i ‖g_i‖), by torch."""
    norms = [float(torch.linalg.vector_norm(float64_tensor(g))) for g in grads]
    return math.sqrt(sum(n * n for n in norms)), sum(norms)


def _check_global_norm_once(clip_by_global_norm, name, grads, threshold):
    saved = [g.copy() for g in grads]
    result = clip_by_global_norm(grads, threshold)
    _unchanged(name, saved, grads)
    result = as_tuple(result, name, "(clipped_grads, total_norm)")
    clipped = as_array_list(result[0], name, len(grads))
    params = _torch_params(saved)
    total = float(torch.nn.utils.clip_grad_norm_(params, threshold))
    expected = [p.grad.numpy() for p in params]
    norm, sum_of_norms = _norms(saved)

    total_hint = diagnose(result[1], [
        (CLIP_NORM_AFTER, lambda: min(norm, threshold)),
        (CLIP_SQUARED_NORM, lambda: norm**2),
        (CLIP_SUM_OF_NORMS, lambda: sum_of_norms),
    ], "total_norm is √(Σ_i ‖g_i‖²) over ALL gradients, before clipping")
    if norm == 0.0 and _nan_or_inf(result[1]):
        total_hint = CLIP_ZERO_NORM
    assert_close(name, result[1], total, what="total_norm", rtol=1e-9, hint=total_hint)

    def candidates():
        yield CLIP_PER_TENSOR, lambda: [_scaled([g], threshold, _norms([g])[0])[0]
                                        for g in saved]
        yield CLIP_ALWAYS, lambda: [g * threshold / norm for g in saved]
        yield CLIP_VALUE_NOT_NORM, lambda: _torch_clipped(saved, torch.nn.utils.clip_grad_value_,
                                                          threshold)
        yield CLIP_SQUARED_NORM, lambda: _scaled(saved, threshold, norm**2)
        yield CLIP_SUM_OF_NORMS, lambda: _scaled(saved, threshold, sum_of_norms)

    default = (f"with max_norm = {threshold:g} and a global norm of {norm:.4g}, scale every "
               "gradient by max_norm / norm only if norm > max_norm")
    if norm == 0.0 and any(_nan_or_inf(g) for g in clipped):
        default = CLIP_ZERO_NORM
    # PyTorch divides by (norm + 1e-6): its result differs from the course's
    # max_norm / norm by a relative 1e-6 / norm, hence rtol 1e-5.
    _check_arrays(name, clipped, expected, candidates, default, rtol=1e-5, atol=1e-12)


def check_clip_by_global_norm(clip_by_global_norm, seed=0, shapes=((3,), (2, 4), (5,)),
                              max_norm=1.0, scale=1.0):
    """Rescaling by one global norm, against ``torch.nn.utils.clip_grad_norm_``.

    Tried with ``max_norm`` (clipping when the norm is larger), with a threshold above
    the norm (the gradients must come back unchanged) and, whatever the arguments, with
    all-zero gradients (norm 0: unchanged, without a division by zero).
    """
    check = "check_clip_by_global_norm"
    require(check, SEED, seed=seed)
    require(check, _SHAPES, shapes=shapes)
    require(check, _POSITIVE, max_norm=max_norm)
    require(check, number(least=0), scale=scale)
    name = "clip_by_global_norm"
    grads = _random_grads(seed, shapes, scale)
    norm = _norms(grads)[0]
    for threshold in (max_norm, 2.0 * norm + 1.0):
        _check_global_norm_once(clip_by_global_norm, name, grads, threshold)
    zeros = [np.zeros_like(g) for g in grads]
    _check_global_norm_once(clip_by_global_norm, f"{name} (all-zero gradients)", zeros, max_norm)


# ---------------------------------------------------------------- the growth rate of W^N


def growth_matrix(seed: int, dim: int, radius: float) -> np.ndarray:
    """A random non-normal, non-symmetric (dim × dim) matrix with spectral radius ``radius``:
    a Gaussian matrix (complex eigenvalues, non-orthogonal eigenvectors) rescaled."""
    w = np.random.default_rng(seed).normal(size=(dim, dim))
    return radius * w / np.max(np.abs(np.linalg.eigvals(w)))


#: Whatever the arguments, the visible call also tries these matrices: the page's non-normal
#: block (r = 0.9 but σ_max ≈ 5.1), a rotation by 60° scaled by 1.1 (complex eigenvalues of
#: real part 0.55), and an upper-triangular matrix whose dominant eigenvalue is −1.5.
_GROWTH_MATRICES = (
    ("the page's non-normal 2 × 2", np.array([[0.9, 5.0], [0.0, 0.9]])),
    ("1.1 × a rotation by 60°", 1.1 * np.array([[0.5, -math.sqrt(3) / 2],
                                                 [math.sqrt(3) / 2, 0.5]])),
    ("a triangular 3 × 3", np.array([[-1.5, 2.0, 0.3], [0.0, 0.5, -1.0], [0.0, 0.0, 0.2]])),
)


def _measured_rate(w: torch.Tensor, steps: int = 1000) -> float:
    """‖W^N‖₂^(1/N) at N = ``steps``, multiplied out with a rescaling at every step so that
    nothing overflows: the long-run rate the spectral radius predicts (up to a factor that
    tends to 1, polynomial in N for a Jordan block)."""
    product, log_scale = torch.eye(w.shape[0], dtype=torch.float64), 0.0
    for _ in range(steps):
        product = w @ product
        norm = float(torch.linalg.matrix_norm(product, ord=2))
        if norm == 0.0:
            return 0.0
        product, log_scale = product / norm, log_scale + math.log(norm)
    return math.exp(log_scale / steps)


def _check_rate(growth_rate, label: str, matrix: np.ndarray) -> None:
    name = f"growth_rate ({label})"
    saved = matrix.copy()
    result = growth_rate(matrix)
    assert_unchanged(name, saved, matrix, "W")
    got = as_number(result, name, "rate", ", the spectral radius r(W) = max_i |λ_i|")
    w = float64_tensor(saved)
    eigenvalues = torch.linalg.eigvals(w)
    expected = float(eigenvalues.abs().max())
    symmetric_part = np.tril(saved) + np.tril(saved, -1).T

    def hint() -> str:  # only for a wrong rate: multiplying W out takes a thousand products
        mistake = diagnose(got, [
            (RATE_SINGULAR, lambda: float(torch.linalg.matrix_norm(w, ord=2))),
            (RATE_NO_MODULUS, lambda: float(eigenvalues.real.max())),
            (RATE_NO_MODULUS, lambda: float(eigenvalues.real.abs().max())),
            (RATE_EIGVALSH, lambda: float(np.abs(np.linalg.eigvalsh(symmetric_part)).max())),
            (RATE_EIGVALSH, lambda: float(np.linalg.eigvalsh(symmetric_part).max())),
            (RATE_FROBENIUS, lambda: float(torch.linalg.matrix_norm(w))),
        ], "r(W) = max_i |λ_i(W)|, over the (possibly complex) eigenvalues np.linalg.eigvals(W)")
        return (f"{mistake} (multiplied out, ‖W^N‖₂^(1/N) is {_measured_rate(w):.4g} at "
                "N = 1000 and tends to r(W))")

    assert_close(name, got, expected, rtol=1e-9, atol=1e-12, hint=hint, what="rate")


def check_growth_rate(growth_rate, seed=0, dim=5, radius=1.05):
    """The long-run growth rate of ‖W^N x‖ per step, r(W) = max_i |λ_i|, against the moduli of
    ``torch.linalg.eigvals`` (relative tolerance 1e-9); a failing message also shows
    ‖W^N‖₂^(1/N) multiplied out for N = 1000. W is a random non-symmetric matrix with
    spectral radius ``radius``; the matrices of ``_GROWTH_MATRICES`` are tried too.
    """
    check = "check_growth_rate"
    require(check, SEED, seed=seed)
    require(check, integer(1), dim=dim)
    require(check, number(above=0, why=" (the spectral radius of W)"), radius=radius)
    _check_rate(growth_rate, f"a random {dim} × {dim} W", growth_matrix(seed, dim, radius))
    for label, matrix in _GROWTH_MATRICES:
        _check_rate(growth_rate, label, matrix.copy())
