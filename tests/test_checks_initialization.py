"""The chapter 02 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from descent.answers import load
from descent.checks import initialization as checks

answers = load("02_initialization")
SQRT2 = np.sqrt(2.0)


@pytest.mark.parametrize(
    "check, function, kwargs",
    [
        (checks.check_constant_init, "constant_init", {}),
        (checks.check_constant_init, "constant_init", {"shape": 6, "value": 0.01}),
        (checks.check_xavier_uniform, "xavier_uniform", {"seed": 3}),
        (checks.check_xavier_uniform, "xavier_uniform",
         {"fan_in": 1, "fan_out": 1, "nonlinearity": "tanh", "stack": False}),
        (checks.check_xavier_normal, "xavier_normal", {"seed": 4, "nonlinearity": "relu"}),
        (checks.check_kaiming_uniform, "kaiming_uniform", {"mode": "fan_out", "seed": 5}),
        (checks.check_kaiming_uniform, "kaiming_uniform",
         {"nonlinearity": "sigmoid", "stack": False}),
        (checks.check_kaiming_normal, "kaiming_normal", {"mode": "fan_in", "seed": 6}),
        (checks.check_activation_variances, "activation_variances", {}),
        (checks.check_activation_variances, "activation_variances",
         {"widths": (8,) * 41, "activation": "sigmoid", "weight_scale": 4.0}),
        (checks.check_activation_variances, "activation_variances",
         {"widths": (3, 4), "activation": "linear", "seed": 9}),
    ],
)
def test_model_answers_pass(check, function, kwargs):
    check(getattr(answers, function), **kwargs)


def test_alternative_correct_implementations_pass():
    """Another way to draw the same distribution (rng.random, transposed) is just as right."""

    def xavier_uniform(fan_in, fan_out, gain=1.0, seed=0):
        a = gain * np.sqrt(6 / (fan_in + fan_out))
        return (a * (2 * np.random.default_rng(seed).random((fan_in, fan_out)) - 1)).T

    def kaiming_normal(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
        fan = {"fan_in": fan_in, "fan_out": fan_out}[mode]
        return np.random.default_rng(seed).standard_normal((fan_out, fan_in)) * gain / fan**0.5

    for seed in range(3):
        checks.check_xavier_uniform(xavier_uniform, seed=seed)
        checks.check_kaiming_normal(kaiming_normal, seed=seed)


# Mistakes in the initializers; MUTANTS below says which check and what message.
def xavier_fan_in_only(fan_in, fan_out, gain=1.0, seed=0):
    a = gain * np.sqrt(6 / fan_in)
    return np.random.default_rng(seed).uniform(-a, a, (fan_out, fan_in))


def xavier_no_gain(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_uniform(fan_in, fan_out, 1.0, seed)


def xavier_transposed(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_uniform(fan_in, fan_out, gain, seed).T


def xavier_global_rng(fan_in, fan_out, gain=1.0, seed=0):
    a = gain * np.sqrt(6 / (fan_in + fan_out))
    return np.random.uniform(-a, a, (fan_out, fan_in))


def xavier_seed_ignored(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_uniform(fan_in, fan_out, gain, 0)


def xavier_positive(fan_in, fan_out, gain=1.0, seed=0):
    return np.abs(answers.xavier_uniform(fan_in, fan_out, gain, seed))


def xavier_normal_with_uniform_bound(fan_in, fan_out, gain=1.0, seed=0):
    sigma = gain * np.sqrt(6 / (fan_in + fan_out))
    return np.random.default_rng(seed).normal(0, sigma, (fan_out, fan_in))


def xavier_uniform_instead_of_normal(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_uniform(fan_in, fan_out, gain, seed)


def xavier_normal_instead_of_uniform(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_normal(fan_in, fan_out, gain, seed)


def xavier_narrow(fan_in, fan_out, gain=1.0, seed=0):
    return 0.995 * answers.xavier_uniform(fan_in, fan_out, gain, seed)


def kaiming_mode_ignored(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return answers.kaiming_uniform(fan_in, fan_out, "fan_in", gain, seed)


def kaiming_six_and_gain(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    fan = fan_in if mode == "fan_in" else fan_out
    b = gain * np.sqrt(6 / fan)
    return np.random.default_rng(seed).uniform(-b, b, (fan_out, fan_in))


def kaiming_gain_one(fan_in, fan_out, mode="fan_in", gain=1.0, seed=0):
    return answers.kaiming_uniform(fan_in, fan_out, mode, gain, seed)


def kaiming_normal_two_and_gain(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return SQRT2 * answers.kaiming_normal(fan_in, fan_out, mode, gain, seed)


def kaiming_normal_mode_swapped(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    other = "fan_out" if mode == "fan_in" else "fan_in"
    return answers.kaiming_normal(fan_in, fan_out, other, gain, seed)


MUTANTS = [
    (xavier_fan_in_only, checks.check_xavier_uniform, {}, "only fan_in"),
    (xavier_transposed, checks.check_xavier_uniform, {}, "you returned (fan_in, fan_out)"),
    (xavier_global_rng, checks.check_xavier_uniform, {}, "np.random.default_rng(seed)"),
    (xavier_seed_ignored, checks.check_xavier_uniform, {}, "use the seed argument"),
    (xavier_positive, checks.check_xavier_uniform, {}, "mean 0"),
    (xavier_normal_instead_of_uniform, checks.check_xavier_uniform, {}, "never leaves"),
    (xavier_narrow, checks.check_xavier_uniform, {}, "too narrow"),
    (xavier_normal_with_uniform_bound, checks.check_xavier_normal, {}, "√6 is the uniform bound"),
    (xavier_uniform_instead_of_normal, checks.check_xavier_normal, {}, "wrong distribution"),
    (kaiming_mode_ignored, checks.check_kaiming_uniform, {"mode": "fan_out"}, "other fan"),
    (kaiming_six_and_gain, checks.check_kaiming_uniform, {"mode": "fan_out"}, "put the 6 in"),
    (kaiming_gain_one, checks.check_kaiming_uniform, {"mode": "fan_out"}, "gain missing"),
    (kaiming_normal_two_and_gain, checks.check_kaiming_normal, {}, "do not also put the 2 in"),
    (kaiming_normal_mode_swapped, checks.check_kaiming_normal, {}, "other fan"),
]


@pytest.mark.parametrize("mutant, check, kwargs, message", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(mutant, check, kwargs, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        check(mutant, **kwargs)


def test_a_forgotten_gain_is_named():
    with pytest.raises(AssertionError, match="gain missing"):
        checks.check_xavier_uniform(xavier_no_gain, nonlinearity="tanh", stack=False)


def test_constant_init_mistakes():
    with pytest.raises(AssertionError, match="filled with 0.5"):
        checks.check_constant_init(lambda shape, value=0.0: np.zeros(shape), value=0.5)
    with pytest.raises(AssertionError, match=r"shape \(2, 3\)"):
        checks.check_constant_init(lambda shape, value=0.0: np.full((3, 2), value), shape=(2, 3))


def _forward(x, weights, biases, f):
    a, pre = np.asarray(x, dtype=float), []
    for w, b in zip(weights, biases, strict=True):
        pre.append(a @ np.asarray(w).T + b)
        a = f(pre[-1])
        yield pre[-1], a


def variances_of_z(x, weights, biases, activation):
    return np.array([np.var(z) for z, _ in _forward(x, weights, biases, np.tanh)])


def variances_ddof1(x, weights, biases, activation):
    return np.array([np.var(a, ddof=1) for _, a in _forward(x, weights, biases, np.tanh)])


def variances_per_unit(x, weights, biases, activation):
    return np.array([np.var(a, axis=0).mean() for _, a in _forward(x, weights, biases, np.tanh)])


def variances_with_input(x, weights, biases, activation):
    return np.concatenate([[np.var(x)], answers.activation_variances(x, weights, biases,
                                                                        activation)])


def variances_without_bias(x, weights, biases, activation):
    zeros = [np.zeros_like(b) for b in biases]
    return answers.activation_variances(x, weights, zeros, activation)


def variances_in_place(x, weights, biases, activation):
    x -= x.mean()
    return answers.activation_variances(x, weights, biases, activation)


@pytest.mark.parametrize("mutant, message", [
    (variances_of_z, "apply the activation first"),
    (variances_ddof1, "ddof=0"),
    (variances_per_unit, "not per unit"),
    (variances_with_input, "leave out the input x"),
    (variances_without_bias, "at layer l = "),
    (variances_in_place, "modified in place"),
])
def test_activation_variance_mistakes(mutant, message):
    with pytest.raises(AssertionError) as failure:
        checks.check_activation_variances(mutant)
    assert message in str(failure.value)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_constant_init, checks.check_xavier_uniform,
                  checks.check_xavier_normal, checks.check_kaiming_uniform,
                  checks.check_kaiming_normal, checks.check_activation_variances):
        with pytest.raises(NotImplementedError):
            check(stub)


def _naive(std):
    return lambda seed: np.random.default_rng(seed).normal(0.0, std, (128, 128))


def test_deep_stacks_keep_their_variance_only_when_scaled_right():
    he = lambda seed: answers.kaiming_normal(128, 128, seed=seed)  # noqa: E731
    glorot = lambda seed: answers.xavier_normal(128, 128, gain=5 / 3, seed=seed)  # noqa: E731
    relu, tanh = (checks.stack_variances(he, "relu"), checks.stack_variances(glorot, "tanh"))
    assert 0.8 < (relu[-1] / relu[0]) ** (1 / 29) < 1.25
    assert 0.5 < tanh[-1] / tanh[0] < 2
    # the naive N(0, 0.01²) collapses, N(0, 1) explodes (ReLU) or saturates (tanh)
    assert checks.stack_variances(_naive(0.01), "relu")[-1] < 1e-50
    assert checks.stack_variances(_naive(0.01), "tanh")[-1] < 1e-20
    assert checks.stack_variances(_naive(1.0), "relu")[-1] > 1e50
    assert checks.stack_variances(_naive(1.0), "tanh")[-1] > 0.9


def test_the_stack_test_rejects_a_scale_that_passes_nothing_else():
    with pytest.raises(AssertionError, match="multiplies the activation variance by 0.5"):
        checks._check_stack("naive", lambda s: answers.xavier_normal(128, 128, seed=s), "relu",
                            seed=0)
    with pytest.raises(AssertionError, match="within a factor 2"):
        checks._check_stack("naive", _naive(0.01), "tanh", seed=0)
