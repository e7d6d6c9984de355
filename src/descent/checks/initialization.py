"""Checks for chapter 02: constant, Xavier/Glorot and Kaiming/He initialization.

Oracles: closed forms (the variance and the bound each scheme promises), samples
drawn by ``torch.nn.init`` on a tensor of the same shape (compared in
distribution with a two-sample Kolmogorov–Smirnov statistic), and a forward pass
in PyTorch float64 (per-layer activation variances, deep stacks). ``predicted_variances``
is checked against the closed form of the variance recursion, Var(z_l) =
n_(l−1)·Var(w_l)·E[a_(l−1)²], and a failing message shows what a simulated network measures.

An initializer is random, so its checks are statistical. They are still
deterministic: the student's function is called with fixed seeds, and torch draws
from a seeded generator. Every tolerance below is a number of standard errors
chosen so that a correct implementation, whatever its random draws, fails with a
probability of about 10⁻⁶ or less per check, while the mistakes students make
(a factor 2 or 3 in the variance, the wrong fan, a forgotten gain) are many
standard errors away on samples of 2¹⁷ weights.

Whatever the arguments, each initializer is tried with and without an explicit
gain, the Kaiming ones with both modes, ``constant_init`` with an integer shape and
a non-zero value, and ``activation_variances`` with every activation name: what a
task states is caught by its visible test cell. When a variance is off, the check
names the known mistake (a :mod:`~descent.checks.misconceptions` tag) whose
variance ratio matches the observed one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from descent.checks._arguments import (
    FLAG,
    SEED,
    Rule,
    array_shape,
    integer,
    number,
    one_of,
    require,
)
from descent.checks._compare import as_float_array, assert_close, assert_unchanged
from descent.checks.misconceptions import on_page

_PAGE = "02_initialization"
_mistake = on_page(_PAGE)

_ZERO = "Why not start from zero?"
_VARIANCE = "How variance travels through a layer"
_XAVIER = "Xavier/Glorot initialization"
_KAIMING = "Kaiming/He initialization"
_DEEP = "Signals through a deep network"
_CONVENTIONS = "Where conventions differ"

INIT_SHAPE = _mistake(
    "init.weight-shape",
    "weights are stored as (fan_out, fan_in), like torch's nn.Linear.weight: row i holds the "
    "weights into output unit i; (fan_in, fan_out) is the transpose", _CONVENTIONS)
INIT_GLOBAL_RNG = _mistake(
    "init.global-rng",
    "draw from a generator made from the seed argument, rng = np.random.default_rng(seed), "
    "not from np.random's global state: the same seed must give the same weights",
    _CONVENTIONS)
INIT_SEED_IGNORED = _mistake(
    "init.seed-ignored",
    "use the seed argument, rng = np.random.default_rng(seed): another seed must give other "
    "weights", _CONVENTIONS)
INIT_NOT_CENTRED = _mistake(
    "init.not-centred",
    "weights are drawn symmetrically around 0, rng.uniform(−a, a) or rng.normal(0, σ): "
    "rng.uniform(0, a) or rng.random() gives only positive weights", _VARIANCE)
INIT_LOC_SCALE = _mistake(
    "init.normal-loc-scale",
    "rng.normal(loc, scale, size) takes the mean first: pass the standard deviation as scale, "
    "rng.normal(0.0, σ, size)", _VARIANCE)
INIT_DISTRIBUTION = _mistake(
    "init.uniform-vs-normal",
    "the variance is right but not the shape of the distribution: the *_uniform initializers "
    "draw rng.uniform(−a, a), the *_normal ones rng.normal(0, σ)", _XAVIER)
XAVIER_FAN_IN = _mistake(
    "xavier.fan-in-only",
    "Xavier averages both fans, Var(w) = gain²·2/(fan_in + fan_out); 2/fan_in alone "
    "(a bound of √(6/fan_in)) is He's variance", _XAVIER)
XAVIER_FAN_OUT = _mistake(
    "xavier.fan-out-only",
    "Xavier averages both fans, Var(w) = gain²·2/(fan_in + fan_out), not 2/fan_out", _XAVIER)
XAVIER_LECUN = _mistake(
    "xavier.lecun-variance",
    "Var(w) = 1/fan_in is LeCun's initialization, which many blogs and libraries call "
    "'Xavier'; Glorot & Bengio average both fans: Var(w) = gain²·2/(fan_in + fan_out)",
    "Where conventions differ")
XAVIER_MISSING_TWO = _mistake(
    "xavier.missing-two",
    "Var(w) = 2/(fan_in + fan_out): the 2 is missing (a = gain·√(6/(fan_in + fan_out)), "
    "σ = gain·√(2/(fan_in + fan_out)))", _XAVIER)
XAVIER_GAIN_MISSING = _mistake(
    "xavier.gain-missing",
    "use the gain argument: it multiplies the bound a (or σ), so Var(w) = "
    "gain²·2/(fan_in + fan_out)", _XAVIER)
XAVIER_GAIN_TWICE = _mistake(
    "xavier.gain-twice",
    "the gain multiplies the bound (or σ) once: Var(w) = gain²·2/(fan_in + fan_out)", _XAVIER)
XAVIER_GAIN_UNDER_ROOT = _mistake(
    "xavier.gain-under-root",
    "the gain multiplies the root, it is not under it: a = gain·√(6/(fan_in + fan_out)), so "
    "Var(w) grows with gain²", _XAVIER)
XAVIER_STD_AS_BOUND = _mistake(
    "xavier.std-as-bound",
    "a is the half-width of the interval, a = gain·√(6/(fan_in + fan_out)) = √3·σ; "
    "gain·√(2/(fan_in + fan_out)) is the normal variant's σ", _XAVIER)
XAVIER_BOUND_AS_STD = _mistake(
    "xavier.uniform-bound-as-std",
    "σ = gain·√(2/(fan_in + fan_out)) is a standard deviation; √(6/(fan_in + fan_out)) is the "
    "uniform variant's bound a = √3·σ", _XAVIER)
KAIMING_MODE = _mistake(
    "kaiming.fan-mode",
    "mode chooses the fan: 'fan_in' divides by fan_in (the columns of the (fan_out, fan_in) "
    "weight; torch reads it as w.shape[1]), 'fan_out' by fan_out; your variance matches the "
    "other fan", _KAIMING)
KAIMING_BOTH = _mistake(
    "kaiming.both-fans",
    "Kaiming divides by ONE fan, the one mode names; fan_in + fan_out is Xavier's average",
    _KAIMING)
KAIMING_GAIN_MISSING = _mistake(
    "kaiming.gain-missing",
    "the gain is missing: He's Var(w) = gain²/fan, with gain √2 for ReLU (2/fan); 1/fan is "
    "LeCun's variance, which halves the signal at every ReLU layer", _KAIMING)
KAIMING_GAIN_IGNORED = _mistake(
    "kaiming.gain-ignored",
    "use the gain argument: √2 is only its default, for ReLU; Var(w) = gain²/fan", _KAIMING)
KAIMING_GAIN_AND_TWO = _mistake(
    "kaiming.gain-and-two",
    "the gain already holds ReLU's factor 2: b = gain·√(3/fan) and σ = gain/√fan, which with "
    "gain √2 are √(6/fan) and √(2/fan); do not also put the 6 (or the 2) in", _KAIMING)
KAIMING_STD_AS_BOUND = _mistake(
    "kaiming.std-as-bound",
    "b is the half-width of the interval, b = gain·√(3/fan) = √3·σ; gain/√fan is the normal "
    "variant's σ", _KAIMING)
KAIMING_BOUND_AS_STD = _mistake(
    "kaiming.uniform-bound-as-std",
    "σ = gain/√fan is a standard deviation; gain·√(3/fan) is the uniform variant's bound "
    "b = √3·σ", _KAIMING)
KAIMING_LINEAR_DEFAULT = _mistake(
    "kaiming.linear-default",
    "a bound of 1/√fan_in is nn.Linear's default (kaiming_uniform_ with a = √5), a third of "
    "a linear layer's variance; He's bound is gain·√(3/fan)", _KAIMING)
CONSTANT_VALUE_IGNORED = _mistake(
    "constant.value-ignored",
    "use the value argument: every entry equals value, np.full(shape, value), not 0", _ZERO)
VARIANCES_PRE_ACTIVATION = _mistake(
    "variances.pre-activation",
    "these are the variances of z_l = a_(l−1) W_lᵀ + b_l; apply the activation first, "
    "a_l = f(z_l)", _DEEP)
VARIANCES_SAMPLE = _mistake(
    "variances.sample-variance",
    "use the population variance np.var(a) (ddof=0), not the sample variance (ddof=1)", _DEEP)
VARIANCES_PER_UNIT = _mistake(
    "variances.per-unit",
    "take the variance of all the entries of a_l together, np.var(a_l), not per unit averaged "
    "over the units", _DEEP)
VARIANCES_INPUT = _mistake(
    "variances.includes-input",
    "one variance per layer, a_1 … a_N: leave out the input x = a_0", _DEEP)
VARIANCES_NO_BIAS = _mistake(
    "variances.bias-ignored", "add the bias: a_l = f(a_(l−1) W_lᵀ + b_l)", _DEEP)
VARIANCES_ACTIVATION = _mistake(
    "variances.activation-ignored",
    "apply the activation the argument names: 'linear' (the identity), 'tanh', 'relu' or "
    "'sigmoid'", _DEEP)

PREDICT_RELU_HALF = _mistake(
    "predict-variance.relu-half-forgotten",
    "a ReLU passes on only half of the second moment, E[relu(z)²] = Var(z)/2: with ReLU "
    "each layer multiplies Var(z) by ½·n_in·Var(w), not n_in·Var(w)", _KAIMING)
PREDICT_FAN_OUT = _mistake(
    "predict-variance.fan-out-sum",
    "the forward pass sums over the fan-in: Var(z_l) = n_(l−1)·Var(w_l)·E[a_(l−1)²], with "
    "n_(l−1) = widths[l − 1] the inputs of layer l, not its n_l outputs", _VARIANCE)
PREDICT_ACTIVATION = _mistake(
    "predict-variance.activation-moment",
    "predict the pre-activations' variance Var(z_l), not the second moment E[a_l²] = "
    "Var(z_l)/2 (or the variance) of the activations a_l = relu(z_l); and the input reaches "
    "layer 1 without a ReLU before it, Var(z_1) = n_0·Var(w_1)·E[x²]", _VARIANCE)
PREDICT_INPUT_MOMENT = _mistake(
    "predict-variance.input-moment-ignored",
    "start from the input's second moment: Var(z_1) = n_0·Var(w_1)·E[x²], with E[x²] = "
    "input_second_moment, not 1", _VARIANCE)

#: Weights pooled for the statistical tests: 2¹⁷, from several seeds when a layer is small.
SAMPLES = 1 << 17
#: At most this many calls of the student's function to pool them.
MAX_CALLS = 64
#: Standard errors allowed for a mean or a variance: P(|N(0,1)| > 5) ≈ 6·10⁻⁷.
Z = 5.0
#: False-alarm rate of the KS test and of the "largest |w| reaches the bound" test.
ALPHA = 1e-6

_TORCH_ACTIVATIONS = {
    "linear": lambda t: t,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}

# ---------------------------------------------------------------- arguments


def _known_gain(name) -> bool:
    torch.nn.init.calculate_gain(name)  # raises ValueError for a name it does not know
    return True


_NONLINEARITY = Rule(_known_gain, "{name} must be a name that torch.nn.init.calculate_gain "
                     "knows: 'linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu' or 'selu'")


def _require_initializer_arguments(check, fan_in, fan_out, nonlinearity, seed, stack):
    require(check, integer(1), fan_in=fan_in, fan_out=fan_out)
    require(check, _NONLINEARITY, nonlinearity=nonlinearity)
    require(check, SEED, seed=seed)
    require(check, FLAG, stack=stack)


# ---------------------------------------------------------------- statistics


def _gain(nonlinearity: str) -> float:
    """The gain PyTorch recommends for ``nonlinearity`` (1 linear, 5/3 tanh, √2 relu)."""
    return float(torch.nn.init.calculate_gain(nonlinearity))


def _signature(name: str, fan_in: int, fan_out: int, **extra) -> str:
    args = ", ".join([f"fan_in={fan_in}", f"fan_out={fan_out}",
                      *(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}"
                        for k, v in extra.items())])
    return f"{name}({args})"


def _draw(student: Callable, name: str, fan_in: int, fan_out: int, kwargs: dict,
          seed: int) -> np.ndarray:
    """One call of an initializer; fails unless it returns a (fan_out, fan_in) array."""
    w = as_float_array(student(fan_in, fan_out, **kwargs, seed=seed), name)
    if w.shape != (fan_out, fan_in):
        hint = ("weights are stored as (fan_out, fan_in), like torch's nn.Linear.weight: "
                "row i holds the weights into output unit i")
        if w.shape == (fan_in, fan_out):
            hint = f"you returned (fan_in, fan_out) — {INIT_SHAPE}"
        raise AssertionError(f"{name}: expected shape {(fan_out, fan_in)}, got {w.shape} — {hint}")
    if not np.isfinite(w).all():
        raise AssertionError(f"{name}: the weights contain inf or NaN")
    return w


def _pooled(student, name, fan_in, fan_out, kwargs, seed) -> np.ndarray:
    """About SAMPLES weights from calls with seeds seed, seed + 1, …, after a seeding test.

    The same seed must give the same weights (``np.random.default_rng(seed)``, not the
    global generator), and another seed other weights.
    """
    first = _draw(student, name, fan_in, fan_out, kwargs, seed)
    again = _draw(student, name, fan_in, fan_out, kwargs, seed)
    if not np.array_equal(first, again):
        raise AssertionError(
            f"{name}: two calls with seed={seed} returned different weights — {INIT_GLOBAL_RNG}")
    calls = max(2, min(MAX_CALLS, math.ceil(SAMPLES / first.size)))
    draws = [first] + [_draw(student, name, fan_in, fan_out, kwargs, seed + k)
                       for k in range(1, calls)]
    if np.array_equal(draws[0], draws[1]):
        raise AssertionError(
            f"{name}: seed={seed} and seed={seed + 1} returned the same weights — "
            f"{INIT_SEED_IGNORED}")
    return np.concatenate([d.ravel() for d in draws])


def _torch_sample(init_: Callable, fan_in: int, fan_out: int, count: int, seed: int):
    """``count`` weights (rounded up to whole tensors) drawn by a ``torch.nn.init`` function."""
    generator = torch.Generator().manual_seed(10_007 + seed)
    tensors = []
    for _ in range(math.ceil(count / (fan_in * fan_out))):
        t = torch.empty(fan_out, fan_in, dtype=torch.float64)
        init_(t, generator=generator)
        tensors.append(t.numpy().ravel())
    return np.concatenate(tensors)[:count]


def _diagnosis(ratio: float, suspects: dict[object, float], tolerance: float):
    """The suspected mistake whose variance ratio is closest to the observed one, if any
    ("" when none is close, or the ratio is not a positive number)."""
    if not (math.isfinite(ratio) and ratio > 0):
        return ""
    observed = math.log(ratio)
    # a suspect must explain the ratio better than the right answer does, and within
    # the spread of the estimate; of equal suspects (the same ratio) the first is named
    best, distance = "", min(abs(observed), max(2 * tolerance, 0.05))
    for hint, expected in suspects.items():
        if not (math.isfinite(expected) and expected > 0):
            continue
        if abs(math.log(expected)) < tolerance:  # indistinguishable from right here
            continue
        d = abs(observed - math.log(expected))
        if d < distance - 1e-9:
            best, distance = hint, d
    return best


def _check_moments(name: str, w: np.ndarray, variance: float, formula: str,
                   kurtosis_excess: float, suspects: dict[object, float]) -> None:
    """Mean 0 and E[w²] = ``variance`` (``formula`` says why) within Z standard errors.

    For N draws, the sample mean has standard error σ/√N, and the mean of w² has
    standard error √(Var(w²)/N) = σ²·√((κ − 1)/N), where κ = E[w⁴]/σ⁴ is 9/5 for a
    uniform and 3 for a normal distribution (``kurtosis_excess`` is κ − 1).
    """
    n = w.size
    sigma = math.sqrt(variance)
    mean = float(w.mean())
    if abs(mean) > Z * sigma / math.sqrt(n):
        if abs(mean - sigma) < Z / math.sqrt(n) and abs(float(w.var()) - 1.0) < 0.1:
            hint = INIT_LOC_SCALE  # rng.normal(σ, size=…): mean σ, standard deviation 1
        elif float(w.min()) >= 0.0 or float(w.max()) <= 0.0:
            hint = INIT_NOT_CENTRED
        else:
            hint = "draw symmetrically around 0"
        raise AssertionError(
            f"{name}: the weights should have mean 0, got {mean:.4g} over {n} draws "
            f"(standard deviation {sigma:.4g}) — {hint}")
    second = float(np.mean(w * w))
    relative = Z * math.sqrt(kurtosis_excess / n)
    ratio = second / variance
    if abs(ratio - 1.0) > relative:
        guess = _diagnosis(ratio, suspects, relative)
        raise AssertionError(
            f"{name}: Var(w) should be {formula}; got {second:.5g} "
            f"({ratio:.3g} times too {'large' if ratio > 1 else 'small'}, over {n} draws)"
            + (f" — {guess}" if guess else ""))


def _check_bound(name: str, w: np.ndarray, bound: float, formula: str, letter: str) -> None:
    """Every |w| ≤ a, and the largest comes close to a.

    For N uniform draws on [−a, a], P(max|w| < a(1 − ε)) = (1 − ε)^N ≤ e^(−εN), so
    ε = ln(1/ALPHA)/N keeps a correct answer's false alarms below ALPHA. Called after
    the variance passed, so weights beyond a mean another shape of distribution.
    """
    largest = float(np.max(np.abs(w)))
    if largest > bound * (1 + 1e-12):
        raise AssertionError(
            f"{name}: a weight of magnitude {largest:.5g} lies outside [−{letter}, {letter}] "
            f"with {letter} = {formula} = {bound:.5g}: a uniform draw never leaves its "
            f"interval (rng.uniform(-{letter}, {letter}, size=...)) — {INIT_DISTRIBUTION}")
    slack = math.log(1 / ALPHA) / w.size
    if largest < bound * (1 - slack):
        raise AssertionError(
            f"{name}: the largest |w| over {w.size} draws is {largest:.5g}, but a uniform draw "
            f"on [−{letter}, {letter}] with {letter} = {formula} = {bound:.5g} gets within "
            f"{slack:.2g}·{letter} of {letter} — is the interval too narrow?")


def _check_against_torch(name: str, w: np.ndarray, reference: np.ndarray, torch_call: str):
    """Two-sample Kolmogorov–Smirnov statistic against torch's draws.

    Under the null hypothesis (same distribution), P(D > c·√((n+m)/(nm))) ≈ 2e^(−2c²);
    c = √(ln(2/ALPHA)/2) ≈ 2.69 makes that ALPHA. With n = m = 2¹⁷ the threshold is
    D ≈ 0.011, while a uniform and a normal of equal variance differ by D ≈ 0.04.
    """
    from scipy.stats import ks_2samp  # here: importing scipy.stats takes 1.5 s, pages skip it

    n, m = w.size, reference.size
    c = math.sqrt(math.log(2 / ALPHA) / 2)
    threshold = c * math.sqrt((n + m) / (n * m))
    statistic = float(ks_2samp(w, reference).statistic)
    if statistic > threshold:
        raise AssertionError(
            f"{name}: the weights are not distributed like {torch_call}'s: the largest gap "
            f"between the two empirical CDFs is {statistic:.3g}, above {threshold:.3g} "
            f"({n} draws each) — {INIT_DISTRIBUTION}")


def stack_variances(init: Callable[[int], np.ndarray], activation: str, width: int = 128,
                    depth: int = 30, batch: int = 256, seed: int = 0) -> np.ndarray:
    """Var of each layer's activations in a ``depth``-layer stack, computed by PyTorch.

    ``init(seed)`` returns one (width, width) weight matrix; biases are 0 and the
    input is standard normal. Returns the ``depth`` variances (over batch and units).
    """
    rng = np.random.default_rng(seed)
    a = torch.tensor(rng.normal(size=(batch, width)), dtype=torch.float64)
    f = _TORCH_ACTIVATIONS[activation]
    variances = []
    for layer in range(depth):
        weight = torch.tensor(init(seed + 1 + layer), dtype=torch.float64)
        a = f(a @ weight.T)
        variances.append(float(a.var(correction=0)))
    return np.array(variances)


def _check_stack(name: str, init: Callable[[int], np.ndarray], activation: str, seed: int,
                 depth: int = 30, width: int = 128) -> None:
    """A deep stack keeps its activation variance: the point of the initialization.

    Compared with the first layer's variance (the activation changes it once: tanh
    squashes, ReLU zeroes half the entries):

    - tanh: the variance settles at a fixed point; v_30/v_1 ≈ 0.74 at gain 5/3,
      with a spread of ±0.05 over random draws, so [1/2, 2] is safe;
    - relu: at finite width the variance does a random walk in log scale, each
      layer multiplying it by a factor of log-standard deviation ≈ √(5/width) = 0.2.
      Over 29 layers that is e^(±1.1): v_30/v_1 leaves [1/2, 2] for about half of
      all correct initializations. Its 29th root, the typical factor per layer,
      has log-standard deviation 0.2/√29 ≈ 0.04, so [0.8, 1.25] is 5σ wide,
      while a wrong scale gives 0.5 (gain forgotten) or 0.01 (N(0, 0.01²)).
    """
    v = stack_variances(init, activation, width=width, depth=depth, seed=seed)
    ratio = v[-1] / v[0] if v[0] > 0 else 0.0
    if activation == "relu":
        per_layer = ratio ** (1.0 / (depth - 1)) if ratio > 0 else 0.0
        if not 0.8 <= per_layer <= 1.25:
            raise AssertionError(
                f"{name}: in a {depth}-layer ReLU stack of width {width}, each layer multiplies "
                f"the activation variance by {per_layer:.3g} on average (Var at layer {depth} / "
                f"layer 1 = {ratio:.3g}); He initialization keeps that factor near 1")
    elif not 0.5 <= ratio <= 2.0:
        raise AssertionError(
            f"{name}: in a {depth}-layer {activation} stack of width {width}, the activation "
            f"variance goes from {v[0]:.3g} at layer 1 to {v[-1]:.3g} at layer {depth} "
            f"(a factor {ratio:.3g}); it should stay within a factor 2")


def _check_initializer(student, name, fan_in, fan_out, kwargs, seed, *, uniform: bool,
                       std: float, formula: str, suspects: dict[object, float],
                       torch_init: Callable, torch_call: str, letter: str = "a") -> None:
    w = _pooled(student, name, fan_in, fan_out, kwargs, seed)
    variance = std**2
    if uniform:
        bound = math.sqrt(3.0) * std
        _check_moments(name, w, variance, f"{letter}²/3 = {variance:.5g}, with {letter} = "
                       f"{formula} = {bound:.5g}", 0.8, suspects)
        _check_bound(name, w, bound, formula, letter)
    else:
        _check_moments(name, w, variance, f"σ² = {variance:.5g}, with σ = {formula} = "
                       f"{std:.5g}", 2.0, suspects)
    reference = _torch_sample(torch_init, fan_in, fan_out, w.size, seed)
    _check_against_torch(name, w, reference, torch_call)


def _gain_kwargs(nonlinearity: str, default: str) -> dict:
    """Pass gain explicitly, except for the default nonlinearity (tests the default value)."""
    return {} if nonlinearity == default else {"gain": _gain(nonlinearity)}


def _toggled(nonlinearity: str, default: str) -> str:
    """The nonlinearity of the extra stage: an explicit gain when the call tests the
    default, and the default (no gain argument) when the call passes one."""
    return "tanh" if nonlinearity == default else default


# ---------------------------------------------------------------- Xavier


def _xavier_stage(student, kind, fan_in, fan_out, nonlinearity, seed):
    gain = _gain(nonlinearity)
    kwargs = _gain_kwargs(nonlinearity, "linear")
    name = _signature(f"xavier_{kind}", fan_in, fan_out, **kwargs)
    total = fan_in + fan_out
    uniform = kind == "uniform"
    std = gain * math.sqrt(2.0 / total)
    formula = ("gain·√(6/(fan_in + fan_out))" if uniform else "gain·√(2/(fan_in + fan_out))")
    # Var(mistake) / Var(right) for each known mistake
    suspects = {
        XAVIER_FAN_IN: total / fan_in,
        XAVIER_FAN_OUT: total / fan_out,
        XAVIER_LECUN: total / (2 * fan_in),
        XAVIER_GAIN_MISSING: 1.0 / gain**2,
        XAVIER_GAIN_TWICE: gain**2,
        XAVIER_GAIN_UNDER_ROOT: 1.0 / gain,
        XAVIER_MISSING_TWO: 0.5,
    }
    if uniform:
        suspects[XAVIER_STD_AS_BOUND] = 1 / 3
        torch_init = lambda t, generator: torch.nn.init.xavier_uniform_(  # noqa: E731
            t, gain=gain, generator=generator)
    else:
        suspects[XAVIER_BOUND_AS_STD] = 3.0
        torch_init = lambda t, generator: torch.nn.init.xavier_normal_(  # noqa: E731
            t, gain=gain, generator=generator)
    _check_initializer(student, name, fan_in, fan_out, kwargs, seed, uniform=uniform, std=std,
                       formula=formula, suspects=suspects, torch_init=torch_init,
                       torch_call=f"torch.nn.init.xavier_{kind}_(gain={gain:.4g})")


def _xavier(student, kind, fan_in, fan_out, nonlinearity, seed, stack):
    _require_initializer_arguments(f"check_xavier_{kind}", fan_in, fan_out, nonlinearity, seed,
                                   stack)
    for stage in (nonlinearity, _toggled(nonlinearity, "linear")):
        _xavier_stage(student, kind, fan_in, fan_out, stage, seed)
    if stack:
        tanh_gain = _gain("tanh")
        stack_name = _signature(f"xavier_{kind}", 128, 128, gain=tanh_gain)
        _check_stack(stack_name, lambda s: _draw(student, stack_name, 128, 128,
                                                 {"gain": tanh_gain}, s), "tanh", seed)


def check_xavier_uniform(xavier_uniform, fan_in=300, fan_out=100, nonlinearity="linear",
                         seed=0, stack=True):
    """U(−a, a), a = gain·√(6/(fan_in + fan_out)), against ``torch.nn.init.xavier_uniform_``.

    ``gain`` is torch's ``calculate_gain(nonlinearity)``, omitted from the call for
    "linear" (the default gain 1); a second stage passes the other (the tanh gain 5/3
    when ``nonlinearity`` is "linear", no gain otherwise). With ``stack``, a 30-layer
    tanh stack with gain 5/3 must keep its activation variance within a factor 2.
    """
    _xavier(xavier_uniform, "uniform", fan_in, fan_out, nonlinearity, seed, stack)


def check_xavier_normal(xavier_normal, fan_in=100, fan_out=300, nonlinearity="linear",
                        seed=0, stack=True):
    """N(0, σ²), σ = gain·√(2/(fan_in + fan_out)), against ``torch.nn.init.xavier_normal_``."""
    _xavier(xavier_normal, "normal", fan_in, fan_out, nonlinearity, seed, stack)


# ---------------------------------------------------------------- Kaiming


def _kaiming_stage(student, kind, fan_in, fan_out, mode, nonlinearity, seed):
    gain = _gain(nonlinearity)
    kwargs = {"mode": mode, **_gain_kwargs(nonlinearity, "relu")}
    name = _signature(f"kaiming_{kind}", fan_in, fan_out, **kwargs)
    fan, other = (fan_in, fan_out) if mode == "fan_in" else (fan_out, fan_in)
    uniform = kind == "uniform"
    std = gain / math.sqrt(fan)
    formula = f"gain·√(3/{mode})" if uniform else f"gain/√{mode}"
    # Var(mistake) / Var(right) for each known mistake
    suspects = {
        KAIMING_MODE: fan / other,
        KAIMING_BOTH: fan / (fan_in + fan_out),
        KAIMING_GAIN_AND_TWO: 2.0,
        KAIMING_GAIN_MISSING: 1.0 / gain**2,
    }
    if "gain" in kwargs:
        suspects[KAIMING_GAIN_IGNORED] = 2.0 / gain**2
    if uniform:
        suspects[KAIMING_STD_AS_BOUND] = 1 / 3
        suspects[KAIMING_LINEAR_DEFAULT] = fan / (3.0 * fan_in * gain**2)
        torch_init = lambda t, generator: torch.nn.init.kaiming_uniform_(  # noqa: E731
            t, mode=mode, nonlinearity=nonlinearity, generator=generator)
    else:
        suspects[KAIMING_BOUND_AS_STD] = 3.0
        torch_init = lambda t, generator: torch.nn.init.kaiming_normal_(  # noqa: E731
            t, mode=mode, nonlinearity=nonlinearity, generator=generator)
    _check_initializer(student, name, fan_in, fan_out, kwargs, seed, uniform=uniform, std=std,
                       formula=formula, suspects=suspects, torch_init=torch_init, letter="b",
                       torch_call=f"torch.nn.init.kaiming_{kind}_(mode={mode!r}, "
                                  f"nonlinearity={nonlinearity!r})")


def _kaiming(student, kind, fan_in, fan_out, mode, nonlinearity, seed, stack):
    check = f"check_kaiming_{kind}"
    _require_initializer_arguments(check, fan_in, fan_out, nonlinearity, seed, stack)
    require(check, one_of("fan_in", "fan_out"), mode=mode)
    other_mode = "fan_out" if mode == "fan_in" else "fan_in"
    for stage_mode, stage_nonlinearity in ((mode, nonlinearity), (other_mode, nonlinearity),
                                           (mode, _toggled(nonlinearity, "relu"))):
        _kaiming_stage(student, kind, fan_in, fan_out, stage_mode, stage_nonlinearity, seed)
    if stack:
        stack_name = _signature(f"kaiming_{kind}", 128, 128, mode=mode)
        _check_stack(stack_name, lambda s: _draw(student, stack_name, 128, 128,
                                                 {"mode": mode}, s), "relu", seed)


def check_kaiming_uniform(kaiming_uniform, fan_in=200, fan_out=50, mode="fan_in",
                          nonlinearity="relu", seed=0, stack=True):
    """U(−b, b), b = gain·√(3/fan), against ``torch.nn.init.kaiming_uniform_``.

    ``fan`` is ``fan_in`` or ``fan_out`` as ``mode`` says. ``gain`` is torch's
    ``calculate_gain(nonlinearity)``, omitted from the call for "relu" (the default √2,
    which makes b = √(6/fan)). Two more stages try the other mode, and the other kind
    of gain (tanh's 5/3 when ``nonlinearity`` is "relu", the default otherwise). With
    ``stack``, a 30-layer ReLU stack must keep its activation variance: each layer
    multiplies it by a factor within [0.8, 1.25].
    """
    _kaiming(kaiming_uniform, "uniform", fan_in, fan_out, mode, nonlinearity, seed, stack)


def check_kaiming_normal(kaiming_normal, fan_in=50, fan_out=200, mode="fan_out",
                         nonlinearity="relu", seed=0, stack=True):
    """N(0, σ²), σ = gain/√fan, against ``torch.nn.init.kaiming_normal_``."""
    _kaiming(kaiming_normal, "normal", fan_in, fan_out, mode, nonlinearity, seed, stack)


# ---------------------------------------------------------------- constant


def _check_constant(constant_init, shape, value):
    kwargs = {} if value == 0.0 else {"value": value}
    shown = ", ".join([repr(shape), *(f"value={value:g}" for _ in kwargs)])
    name = f"constant_init({shown})"
    size = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    got = as_float_array(constant_init(shape, **kwargs), name)
    expected = torch.nn.init.constant_(torch.empty(size, dtype=torch.float64), value).numpy()
    hint = f"np.full(shape, value) gives an array of shape {size} filled with {value:g}"
    if value != 0.0 and got.shape == expected.shape and not got.any():
        hint = CONSTANT_VALUE_IGNORED
    assert_close(name, got, expected, rtol=0.0, atol=1e-15, hint=hint)


def check_constant_init(constant_init, shape=(4, 3), value=0.0):
    """Every entry equals ``value``, against ``torch.nn.init.constant_``.

    ``value`` is omitted from the call when it is 0.0 (tests the default). An integer
    shape and a non-zero value are always tried too.
    """
    check = "check_constant_init"
    require(check, array_shape(0, bare_int=True), shape=shape)
    require(check, number(), value=value)
    _check_constant(constant_init, shape, value)
    _check_constant(constant_init, 5, -1.5)


# ---------------------------------------------------------------- activation variances


def _variance_oracle(x, weights, biases, activation) -> dict[object, np.ndarray]:
    """Per-layer Var of the activations (key "right"), and the results of known
    mistakes (keyed by their misconception), by PyTorch in float64."""

    def forward(f, with_bias=True):
        a, layers = torch.tensor(x, dtype=torch.float64), []
        for weight, bias in zip(weights, biases, strict=True):
            z = torch.nn.functional.linear(a, torch.tensor(weight),
                                           torch.tensor(bias) if with_bias else None)
            a = f(z)
            layers.append((z, a))
        return layers

    f = _TORCH_ACTIVATIONS[activation]
    layers = forward(f)
    result = {
        "right": [float(a.var(correction=0)) for _, a in layers],
        VARIANCES_PRE_ACTIVATION: [float(z.var(correction=0)) for z, _ in layers],
        VARIANCES_SAMPLE: [float(a.var(correction=1)) for _, a in layers],
        VARIANCES_PER_UNIT: [float(a.var(dim=0, correction=0).mean()) for _, a in layers],
        VARIANCES_NO_BIAS: [float(a.var(correction=0)) for _, a in forward(f, False)],
    }
    others = [name for name in _TORCH_ACTIVATIONS if name != activation]
    result.update({(VARIANCES_ACTIVATION, other): [
        float(a.var(correction=0)) for _, a in forward(_TORCH_ACTIVATIONS[other])]
        for other in others})
    return {k: np.array(v) for k, v in result.items()}


def _check_variances(activation_variances, seed, widths, batch, activation, weight_scale,
                     bias_scale):
    depth = len(widths) - 1
    name = f"activation_variances ({activation}, {depth} layer{'s' * (depth != 1)})"
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(batch, widths[0]))
    weights = [rng.normal(0.0, weight_scale / math.sqrt(n_in), size=(n_out, n_in))
               for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)]
    biases = [rng.normal(0.0, bias_scale, size=n) for n in widths[1:]]
    saved = x.copy(), [w.copy() for w in weights], [b.copy() for b in biases]

    got = activation_variances(x, weights, biases, activation)
    assert_unchanged(name, saved[0], x, "the input x")
    for before, after in zip(saved[1] + saved[2], weights + biases, strict=True):
        assert_unchanged(name, before, after, "a weight matrix or bias")
    oracle = _variance_oracle(saved[0], saved[1], saved[2], activation)
    expected = oracle.pop("right")
    got = as_float_array(got, name)
    if got.shape != expected.shape:
        extra = f" — {VARIANCES_INPUT}" if got.size == depth + 1 else ""
        raise AssertionError(f"{name}: expected an array of {depth} variances, one per layer, "
                             f"got shape {got.shape}{extra}")
    hint = "a_l = f(a_(l−1) @ W_lᵀ + b_l), then np.var(a_l) over the batch and the units"
    for miss, variances in oracle.items():
        if np.allclose(got, variances, rtol=1e-7, atol=1e-300) and not np.allclose(
                variances, expected, rtol=1e-7, atol=1e-300):
            hint = miss[0] if isinstance(miss, tuple) else miss
            break
    # Deep stacks make variances as small as 1e-30: compare relatively.
    assert_close(name, got, expected, inputs=np.arange(1, depth + 1), input_name="layer l",
                 rtol=1e-7, atol=1e-300, hint=hint)


def check_activation_variances(activation_variances, seed=0, widths=(6, 9, 5, 7), batch=40,
                               activation="tanh", weight_scale=1.0, bias_scale=0.1):
    """Var(a_l) for every layer of an MLP a_l = f(W_l a_(l−1) + b_l), against PyTorch.

    ``widths`` are the layer sizes, input first; W_l is drawn N(0, weight_scale²/n_(l−1)).
    A small network is also run with each of the other activation names.
    """
    check = "check_activation_variances"
    require(check, SEED, seed=seed)
    require(check, array_shape(1, dims=2, why=" (the input size, then one size per layer)"),
            widths=widths)
    require(check, integer(1), batch=batch)
    require(check, one_of(*_TORCH_ACTIVATIONS), activation=activation)
    require(check, number(above=0), weight_scale=weight_scale)
    require(check, number(least=0), bias_scale=bias_scale)
    _check_variances(activation_variances, seed, widths, batch, activation, weight_scale,
                     bias_scale)
    for other in _TORCH_ACTIVATIONS:
        if other != activation:
            _check_variances(activation_variances, seed + 1, (4, 6, 3), 8, other, 1.5, 0.5)


# ---------------------------------------------------------------- predicted variances

#: Var(w) of each scheme the prediction task names, a function of (n_in, n_out).
PREDICTION_SCHEMES = {
    "xavier": lambda n_in, n_out: 2.0 / (n_in + n_out),
    "he": lambda n_in, n_out: 2.0 / n_in,
    "he_fan_out": lambda n_in, n_out: 2.0 / n_out,
    "torch_default": lambda n_in, n_out: 1.0 / (3.0 * n_in),
}
_PREDICTION_ACTIVATIONS = ("linear", "relu")


def _variance_prediction(widths, init, activation, second_moment, *, relu_factor=None,
                         fan="in", scheme=None, moment=None,
                         output="z") -> np.ndarray:
    """Var(z_1), …, Var(z_N) of a zero-bias MLP at initialization, by the recursion of the
    page: E[a_0²] = E[x²]; Var(z_l) = n_(l−1)·Var(w_l)·E[a_(l−1)²]; E[a_l²] = c·Var(z_l)
    with c = ½ for ReLU, 1 for the identity. The keywords build known mistakes."""
    c = 0.5 if activation == "relu" else 1.0
    c = c if relu_factor is None else relu_factor
    variance_of = scheme or PREDICTION_SCHEMES[init]
    moment_in = float(second_moment if moment is None else moment)
    result = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        q = (n_in if fan == "in" else n_out) * variance_of(n_in, n_out) * moment_in
        moment_in = c * q
        if output == "a2":
            result.append(c * q)
        elif output == "var_a":
            result.append(q * (c - (1.0 / (2.0 * math.pi) if activation == "relu" else 0.0)))
        else:
            result.append(q)
    return np.array(result)


def simulate_preactivation_variances(widths, init, activation, second_moment=1.0, batch=2000,
                                     seed=0) -> np.ndarray:
    """Var(z_l) measured on one network of these widths (weights N(0, Var(w)), zero biases),
    fed ``batch`` inputs N(0, second_moment), in PyTorch float64: what the prediction is the
    expectation of (over the weights and the inputs)."""
    generator = torch.Generator().manual_seed(seed)
    a = math.sqrt(second_moment) * torch.randn(batch, widths[0], generator=generator,
                                               dtype=torch.float64)
    result = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        std = math.sqrt(PREDICTION_SCHEMES[init](n_in, n_out))
        w = std * torch.randn(n_out, n_in, generator=generator, dtype=torch.float64)
        z = a @ w.T
        result.append(float(z.pow(2).mean()))
        a = _TORCH_ACTIVATIONS[activation](z)
    return np.array(result)


def _check_prediction(predicted_variances, widths, init, activation, second_moment):
    name = (f"predicted_variances (widths={tuple(widths)}, init={init!r}, "
            f"activation={activation!r}, input_second_moment={second_moment:g})")
    depth = len(widths) - 1
    args = (widths, init, activation, second_moment)
    got = as_float_array(predicted_variances(list(widths), init, activation, second_moment),
                         name, "predicted variances")
    expected = _variance_prediction(*args)
    if got.shape != expected.shape:
        extra = f" — {VARIANCES_INPUT}" if got.size == depth + 1 else ""
        raise AssertionError(f"{name}: expected an array of {depth} variances, Var(z_1) … "
                             f"Var(z_{depth}), got shape {got.shape}{extra}")
    relu = activation == "relu"
    variants = [
        (PREDICT_RELU_HALF, lambda: _variance_prediction(*args, relu_factor=1.0) if relu
         else None),
        (PREDICT_FAN_OUT, lambda: _variance_prediction(*args, fan="out")),
        (PREDICT_ACTIVATION, lambda: _variance_prediction(*args, output="a2") if relu else None),
        (PREDICT_ACTIVATION, lambda: _variance_prediction(*args, output="var_a")
         if relu else None),
        (PREDICT_INPUT_MOMENT, lambda: _variance_prediction(*args, moment=1.0)),
        (XAVIER_LECUN, lambda: _variance_prediction(
            *args, scheme=lambda n_in, n_out: 1.0 / n_in) if init == "xavier" else None),
        (KAIMING_MODE, lambda: _variance_prediction(
            *args, scheme=PREDICTION_SCHEMES["he_fan_out" if init == "he" else "he"])
         if init in ("he", "he_fan_out") else None),
    ]
    hint = "Var(z_l) = n_(l−1)·Var(w_l)·E[a_(l−1)²], E[a_0²] = E[x²], E[relu(z)²] = Var(z)/2"
    for miss, compute in variants:
        candidate = compute()
        if candidate is not None and candidate.shape == got.shape and np.allclose(
                got, candidate, rtol=1e-7, atol=1e-300) and not np.allclose(
                candidate, expected, rtol=1e-7, atol=1e-300):
            hint = str(miss)
            break
    measured = simulate_preactivation_variances(*args)
    shown = ", ".join(f"{v:.3g}" for v in measured[:6]) + (", …" if depth > 6 else "")
    hint += f" (one simulated network of these widths measures Var(z_l) ≈ {shown})"
    # Deep stacks make variances as small as 1e-30: compare relatively.
    assert_close(name, got, expected, inputs=np.arange(1, depth + 1), input_name="layer l",
                 rtol=1e-9, atol=1e-300, hint=hint, what="predicted variances")


#: Whatever the arguments, the visible call also predicts these: a non-square ReLU stack with
#: each scheme (and an input second moment of 4), and a linear one.
_PREDICTIONS = (
    ((100, 50, 200, 80), "xavier", "relu", 4.0),
    ((100, 50, 200, 80), "he", "relu", 4.0),
    ((100, 50, 200, 80), "he_fan_out", "relu", 4.0),
    ((100, 50, 200, 80), "torch_default", "relu", 4.0),
    ((30, 60, 20), "xavier", "linear", 2.0),
)


def check_predicted_variances(predicted_variances, widths=(256,) * 11, init="xavier",
                              activation="relu", input_second_moment=1.0):
    """Var(z_1), …, Var(z_N) of a zero-bias MLP at initialization, against the closed form.

    Var(z_l) = n_(l−1)·Var(w_l)·E[a_(l−1)²] with E[a_0²] = input_second_moment and
    E[a_l²] = ½·Var(z_l) for ReLU (Var(z_l) for 'linear'); Var(w) is 2/(n_in + n_out)
    ('xavier'), 2/n_in ('he'), 2/n_out ('he_fan_out') or 1/(3 n_in) ('torch_default').
    Compared with a relative tolerance of 1e-9; when a prediction is off, the message also
    shows what one simulated network of those widths measures. Whatever the arguments, the
    configurations of ``_PREDICTIONS`` are predicted too.
    """
    check = "check_predicted_variances"
    require(check, array_shape(1, dims=2, why=" (the input size, then one size per layer)"),
            widths=widths)
    require(check, one_of(*PREDICTION_SCHEMES), init=init)
    require(check, one_of(*_PREDICTION_ACTIVATIONS), activation=activation)
    require(check, number(above=0, why=" (E[x²])"), input_second_moment=input_second_moment)
    widths = tuple(int(n) for n in widths)
    cases = dict.fromkeys(((widths, init, activation, float(input_second_moment)),
                           *_PREDICTIONS))
    for case in cases:
        _check_prediction(predicted_variances, *case)
