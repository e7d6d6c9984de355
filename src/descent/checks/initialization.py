"""Checks for chapter 02: constant, Xavier/Glorot and Kaiming/He initialization.

Oracles: closed forms (the variance and the bound each scheme promises), samples
drawn by ``torch.nn.init`` on a tensor of the same shape (compared in
distribution with a two-sample Kolmogorov–Smirnov statistic), and a forward pass
in PyTorch float64 (per-layer activation variances, deep stacks).

An initializer is random, so its checks are statistical. They are still
deterministic: the student's function is called with fixed seeds, and torch draws
from a seeded generator. Every tolerance below is a number of standard errors
chosen so that a correct implementation, whatever its random draws, fails with a
probability of about 10⁻⁶ or less per check, while the mistakes students make
(a factor 2 or 3 in the variance, the wrong fan, a forgotten gain) are many
standard errors away on samples of 2¹⁷ weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from descent.checks._compare import as_float_array, assert_close, assert_unchanged

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
            hint = "you returned (fan_in, fan_out); " + hint
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
            f"{name}: two calls with seed={seed} returned different weights — create the "
            "generator from the argument, rng = np.random.default_rng(seed), and draw from rng")
    calls = max(2, min(MAX_CALLS, math.ceil(SAMPLES / first.size)))
    draws = [first] + [_draw(student, name, fan_in, fan_out, kwargs, seed + k)
                       for k in range(1, calls)]
    if np.array_equal(draws[0], draws[1]):
        raise AssertionError(
            f"{name}: seed={seed} and seed={seed + 1} returned the same weights — "
            "use the seed argument: rng = np.random.default_rng(seed)")
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


def _diagnosis(ratio: float, suspects: dict[str, float], tolerance: float) -> str:
    """The suspected mistake whose variance ratio is closest to the observed one, if any."""
    best, distance = "", math.inf
    for hint, expected in suspects.items():
        if abs(math.log(expected)) < 2 * tolerance:  # indistinguishable from right here
            continue
        d = abs(math.log(ratio) - math.log(expected))
        if d < distance:
            best, distance = hint, d
    return best if distance < max(2 * tolerance, 0.05) else ""


def _check_moments(name: str, w: np.ndarray, variance: float, formula: str,
                   kurtosis_excess: float, suspects: dict[str, float]) -> None:
    """Mean 0 and E[w²] = ``variance`` (``formula`` says why) within Z standard errors.

    For N draws, the sample mean has standard error σ/√N, and the mean of w² has
    standard error √(Var(w²)/N) = σ²·√((κ − 1)/N), where κ = E[w⁴]/σ⁴ is 9/5 for a
    uniform and 3 for a normal distribution (``kurtosis_excess`` is κ − 1).
    """
    n = w.size
    sigma = math.sqrt(variance)
    mean = float(w.mean())
    if abs(mean) > Z * sigma / math.sqrt(n):
        raise AssertionError(
            f"{name}: the weights should have mean 0, got {mean:.4g} over {n} draws "
            f"(standard deviation {sigma:.4g}) — draw symmetrically around 0")
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
    ε = ln(1/ALPHA)/N keeps a correct answer's false alarms below ALPHA.
    """
    largest = float(np.max(np.abs(w)))
    if largest > bound * (1 + 1e-12):
        raise AssertionError(
            f"{name}: a weight of magnitude {largest:.5g} lies outside [−{letter}, {letter}] "
            f"with {letter} = {formula} = {bound:.5g} — a uniform draw never leaves its "
            f"interval (rng.uniform(-{letter}, {letter}, size=...))")
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
            f"({n} draws each) — right variance but wrong distribution (uniform vs normal?)")


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
                       std: float, formula: str, suspects: dict[str, float],
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


def _xavier(student, kind, fan_in, fan_out, nonlinearity, seed, stack):
    gain = _gain(nonlinearity)
    kwargs = _gain_kwargs(nonlinearity, "linear")
    name = _signature(f"xavier_{kind}", fan_in, fan_out, **kwargs)
    total = fan_in + fan_out
    uniform = kind == "uniform"
    std = gain * math.sqrt(2.0 / total)
    formula = ("gain·√(6/(fan_in + fan_out))" if uniform else "gain·√(2/(fan_in + fan_out))")
    suspects = {
        "only fan_in: Xavier averages both fans, Var(w) = gain²·2/(fan_in + fan_out)":
            total / fan_in,
        "only fan_out: Xavier averages both fans, Var(w) = gain²·2/(fan_in + fan_out)":
            total / fan_out,
        "is the gain missing? multiply the bound (or σ) by gain": 1.0 / gain**2,
        "is the gain applied twice?": gain**2,
        "the 2 of Var(w) = 2/(fan_in + fan_out) is missing": 0.5,
    }
    if uniform:
        suspects["a is the half-width of the interval, a = gain·√(6/(fan_in + fan_out)), "
                 "not the standard deviation"] = 1 / 3
        torch_init = lambda t, generator: torch.nn.init.xavier_uniform_(  # noqa: E731
            t, gain=gain, generator=generator)
    else:
        suspects["σ = gain·√(2/(fan_in + fan_out)); √6 is the uniform bound"] = 3.0
        torch_init = lambda t, generator: torch.nn.init.xavier_normal_(  # noqa: E731
            t, gain=gain, generator=generator)
    _check_initializer(student, name, fan_in, fan_out, kwargs, seed, uniform=uniform, std=std,
                       formula=formula, suspects=suspects, torch_init=torch_init,
                       torch_call=f"torch.nn.init.xavier_{kind}_(gain={gain:.4g})")
    if stack:
        tanh_gain = _gain("tanh")
        stack_name = _signature(f"xavier_{kind}", 128, 128, gain=tanh_gain)
        _check_stack(stack_name, lambda s: _draw(student, stack_name, 128, 128,
                                                 {"gain": tanh_gain}, s), "tanh", seed)


def check_xavier_uniform(xavier_uniform, fan_in=300, fan_out=100, nonlinearity="linear",
                         seed=0, stack=True):
    """U(−a, a), a = gain·√(6/(fan_in + fan_out)), against ``torch.nn.init.xavier_uniform_``.

    ``gain`` is torch's ``calculate_gain(nonlinearity)``, omitted from the call for
    "linear" (the default gain 1). With ``stack``, a 30-layer tanh stack with gain 5/3
    must keep its activation variance within a factor 2.
    """
    _xavier(xavier_uniform, "uniform", fan_in, fan_out, nonlinearity, seed, stack)


def check_xavier_normal(xavier_normal, fan_in=100, fan_out=300, nonlinearity="linear",
                        seed=0, stack=True):
    """N(0, σ²), σ = gain·√(2/(fan_in + fan_out)), against ``torch.nn.init.xavier_normal_``."""
    _xavier(xavier_normal, "normal", fan_in, fan_out, nonlinearity, seed, stack)


def _kaiming(student, kind, fan_in, fan_out, mode, nonlinearity, seed, stack):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")
    gain = _gain(nonlinearity)
    kwargs = {"mode": mode, **_gain_kwargs(nonlinearity, "relu")}
    name = _signature(f"kaiming_{kind}", fan_in, fan_out, **kwargs)
    fan, other = (fan_in, fan_out) if mode == "fan_in" else (fan_out, fan_in)
    uniform = kind == "uniform"
    std = gain / math.sqrt(fan)
    formula = f"gain·√(3/{mode})" if uniform else f"gain/√{mode}"
    suspects = {
        f"mode={mode!r} divides by {mode} = {fan}; did you use the other fan ({other})?":
            fan / other,
        f"Kaiming uses one fan ({mode}), not fan_in + fan_out": fan / (fan_in + fan_out),
        "is the gain missing? the default gain √2 is what makes it He initialization":
            1.0 / gain**2,
    }
    if uniform:
        suspects["the bound is gain·√(3/fan): with gain √2 that is the lecture's √(6/fan), so "
                 "do not also put the 6 in"] = 2.0
        suspects["b is the half-width of the interval, b = gain·√(3/fan), not the standard "
                 "deviation"] = 1 / 3
        torch_init = lambda t, generator: torch.nn.init.kaiming_uniform_(  # noqa: E731
            t, mode=mode, nonlinearity=nonlinearity, generator=generator)
    else:
        suspects["σ = gain/√fan: with gain √2 that is √(2/fan), so do not also put the 2 "
                 "in"] = 2.0
        suspects["σ = gain/√fan; √3 belongs to the uniform bound"] = 3.0
        torch_init = lambda t, generator: torch.nn.init.kaiming_normal_(  # noqa: E731
            t, mode=mode, nonlinearity=nonlinearity, generator=generator)
    _check_initializer(student, name, fan_in, fan_out, kwargs, seed, uniform=uniform, std=std,
                       formula=formula, suspects=suspects, torch_init=torch_init, letter="b",
                       torch_call=f"torch.nn.init.kaiming_{kind}_(mode={mode!r}, "
                                  f"nonlinearity={nonlinearity!r})")
    if stack:
        stack_name = _signature(f"kaiming_{kind}", 128, 128, mode=mode)
        _check_stack(stack_name, lambda s: _draw(student, stack_name, 128, 128,
                                                 {"mode": mode}, s), "relu", seed)


def check_kaiming_uniform(kaiming_uniform, fan_in=200, fan_out=50, mode="fan_in",
                          nonlinearity="relu", seed=0, stack=True):
    """U(−b, b), b = gain·√(3/fan), against ``torch.nn.init.kaiming_uniform_``.

    ``fan`` is ``fan_in`` or ``fan_out`` as ``mode`` says. ``gain`` is torch's
    ``calculate_gain(nonlinearity)``, omitted from the call for "relu" (the default √2,
    which makes b = √(6/fan)). With ``stack``, a 30-layer ReLU stack must keep its
    activation variance: each layer multiplies it by a factor within [0.8, 1.25].
    """
    _kaiming(kaiming_uniform, "uniform", fan_in, fan_out, mode, nonlinearity, seed, stack)


def check_kaiming_normal(kaiming_normal, fan_in=50, fan_out=200, mode="fan_out",
                         nonlinearity="relu", seed=0, stack=True):
    """N(0, σ²), σ = gain/√fan, against ``torch.nn.init.kaiming_normal_``."""
    _kaiming(kaiming_normal, "normal", fan_in, fan_out, mode, nonlinearity, seed, stack)


def check_constant_init(constant_init, shape=(4, 3), value=0.0):
    """Every entry equals ``value``, against ``torch.nn.init.constant_``.

    ``value`` is omitted from the call when it is 0.0 (tests the default).
    """
    kwargs = {} if value == 0.0 else {"value": value}
    shown = ", ".join([repr(shape), *(f"value={value:g}" for _ in kwargs)])
    name = f"constant_init({shown})"
    size = (shape,) if isinstance(shape, int) else tuple(shape)
    got = as_float_array(constant_init(shape, **kwargs), name)
    expected = torch.nn.init.constant_(torch.empty(size, dtype=torch.float64), value).numpy()
    assert_close(name, got, expected, rtol=0.0, atol=1e-15,
                 hint=f"np.full(shape, value) gives an array of shape {size} filled with {value:g}")


def _variance_oracle(x, weights, biases, activation):
    """Per-layer Var of the activations, and three near misses, by PyTorch in float64."""
    f = _TORCH_ACTIVATIONS[activation]
    a = torch.tensor(x, dtype=torch.float64)
    result = {"right": [], "pre-activation": [], "ddof=1": [], "per unit": []}
    for weight, bias in zip(weights, biases, strict=True):
        z = torch.nn.functional.linear(a, torch.tensor(weight), torch.tensor(bias))
        a = f(z)
        result["right"].append(float(a.var(correction=0)))
        result["pre-activation"].append(float(z.var(correction=0)))
        result["ddof=1"].append(float(a.var(correction=1)))
        result["per unit"].append(float(a.var(dim=0, correction=0).mean()))
    return {k: np.array(v) for k, v in result.items()}


_NEAR_MISSES = {
    "pre-activation": "these are the variances of z_l = W_l a_(l−1) + b_l; apply the activation "
                      "first, a_l = f(z_l)",
    "ddof=1": "use the population variance (np.var, ddof=0), not the sample variance",
    "per unit": "take the variance of all entries of a_l together (np.var(a)), not per unit "
                "averaged over units",
}


def check_activation_variances(activation_variances, seed=0, widths=(6, 9, 5, 7), batch=40,
                               activation="tanh", weight_scale=1.0, bias_scale=0.1):
    """Var(a_l) for every layer of an MLP a_l = f(W_l a_(l−1) + b_l), against PyTorch.

    ``widths`` are the layer sizes, input first; W_l is drawn N(0, weight_scale²/n_(l−1)).
    """
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
    expected = oracle["right"]
    got = as_float_array(got, name)
    if got.shape != expected.shape:
        extra = (" (leave out the input x: one variance per layer, a_1 … a_N)"
                 if got.size == depth + 1 else "")
        raise AssertionError(f"{name}: expected an array of {depth} variances, one per layer, "
                             f"got shape {got.shape}{extra}")
    hint = "a_l = f(a_(l−1) @ W_lᵀ + b_l), then np.var(a_l) over the batch and the units"
    for miss, explanation in _NEAR_MISSES.items():
        if np.allclose(got, oracle[miss], rtol=1e-7, atol=1e-300) and not np.allclose(
                oracle[miss], expected, rtol=1e-7, atol=1e-300):
            hint = explanation
            break
    # Deep stacks make variances as small as 1e-30: compare relatively.
    assert_close(name, got, expected, inputs=np.arange(1, depth + 1), input_name="layer l",
                 rtol=1e-7, atol=1e-300, hint=hint)
