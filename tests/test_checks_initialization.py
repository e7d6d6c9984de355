"""The chapter 02 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from checktools import (
    WRONG_OUTPUTS,
    assert_misconceptions_reached,
    assert_refused,
    assert_teaches,
    checks_of,
    fails_with,
    failure,
    wrong,
)

from descent.answers import load
from descent.checks import initialization as checks
from descent.checks.misconceptions import find

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
        (checks.check_predicted_variances, "predicted_variances", {}),
        (checks.check_predicted_variances, "predicted_variances",
         {"widths": (784, 300, 100, 10), "init": "he", "input_second_moment": 0.1}),
        (checks.check_predicted_variances, "predicted_variances",
         {"widths": (2,) * 101, "init": "torch_default", "activation": "linear"}),
        (checks.check_predicted_variances, "predicted_variances", {"widths": [7, 3]}),
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


# ---------------------------------------------------------------- mistakes


def _uniform(bound, fan_in, fan_out, seed):
    return np.random.default_rng(seed).uniform(-bound, bound, (fan_out, fan_in))


def _normal(std, fan_in, fan_out, seed):
    return np.random.default_rng(seed).normal(0.0, std, (fan_out, fan_in))


def _fan(fan_in, fan_out, mode):
    return fan_in if mode == "fan_in" else fan_out


def xavier_fan_in_only(fan_in, fan_out, gain=1.0, seed=0):
    return _uniform(gain * np.sqrt(6 / fan_in), fan_in, fan_out, seed)


def xavier_fan_out_only(fan_in, fan_out, gain=1.0, seed=0):
    return _uniform(gain * np.sqrt(6 / fan_out), fan_in, fan_out, seed)


def xavier_uniform_lecun(fan_in, fan_out, gain=1.0, seed=0):
    return _uniform(gain * np.sqrt(3 / fan_in), fan_in, fan_out, seed)


def xavier_normal_lecun(fan_in, fan_out, gain=1.0, seed=0):
    """The "Xavier" of many blogs and of Caffe's filler: N(0, 1/fan_in)."""
    return _normal(gain / np.sqrt(fan_in), fan_in, fan_out, seed)


def xavier_missing_two(fan_in, fan_out, gain=1.0, seed=0):
    return _uniform(gain * np.sqrt(3 / (fan_in + fan_out)), fan_in, fan_out, seed)


def xavier_std_as_bound(fan_in, fan_out, gain=1.0, seed=0):
    return _uniform(gain * np.sqrt(2 / (fan_in + fan_out)), fan_in, fan_out, seed)


def xavier_no_gain(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_uniform(fan_in, fan_out, 1.0, seed)


def xavier_gain_twice(fan_in, fan_out, gain=1.0, seed=0):
    return gain * answers.xavier_uniform(fan_in, fan_out, gain, seed)


def xavier_gain_under_root(fan_in, fan_out, gain=1.0, seed=0):
    return _uniform(np.sqrt(6 * gain / (fan_in + fan_out)), fan_in, fan_out, seed)


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
    return _normal(gain * np.sqrt(6 / (fan_in + fan_out)), fan_in, fan_out, seed)


def xavier_normal_loc_scale(fan_in, fan_out, gain=1.0, seed=0):
    sigma = gain * np.sqrt(2 / (fan_in + fan_out))
    return np.random.default_rng(seed).normal(sigma, size=(fan_out, fan_in))  # loc = σ


def xavier_uniform_instead_of_normal(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_uniform(fan_in, fan_out, gain, seed)


def xavier_normal_instead_of_uniform(fan_in, fan_out, gain=1.0, seed=0):
    return answers.xavier_normal(fan_in, fan_out, gain, seed)


def xavier_narrow(fan_in, fan_out, gain=1.0, seed=0):
    return 0.995 * answers.xavier_uniform(fan_in, fan_out, gain, seed)


def kaiming_mode_ignored(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return answers.kaiming_uniform(fan_in, fan_out, "fan_in", gain, seed)


def kaiming_six_and_gain(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return _uniform(gain * np.sqrt(6 / _fan(fan_in, fan_out, mode)), fan_in, fan_out, seed)


def kaiming_gain_one(fan_in, fan_out, mode="fan_in", gain=1.0, seed=0):
    return answers.kaiming_uniform(fan_in, fan_out, mode, gain, seed)


def kaiming_gain_ignored(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return answers.kaiming_uniform(fan_in, fan_out, mode, SQRT2, seed)


def kaiming_both_fans(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return _uniform(gain * np.sqrt(3 / (fan_in + fan_out)), fan_in, fan_out, seed)


def kaiming_std_as_bound(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return _uniform(gain / np.sqrt(_fan(fan_in, fan_out, mode)), fan_in, fan_out, seed)


def kaiming_like_nn_linear(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return _uniform(1 / np.sqrt(fan_in), fan_in, fan_out, seed)


def kaiming_normal_two_and_gain(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return SQRT2 * answers.kaiming_normal(fan_in, fan_out, mode, gain, seed)


def kaiming_normal_mode_swapped(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    other = "fan_out" if mode == "fan_in" else "fan_in"
    return answers.kaiming_normal(fan_in, fan_out, other, gain, seed)


def kaiming_normal_uniform_bound(fan_in, fan_out, mode="fan_in", gain=SQRT2, seed=0):
    return _normal(gain * np.sqrt(3 / _fan(fan_in, fan_out, mode)), fan_in, fan_out, seed)


def _forward(x, weights, biases, f):
    a = np.asarray(x, dtype=float)
    for w, b in zip(weights, biases, strict=True):
        z = a @ np.asarray(w).T + b
        a = f(z)
        yield z, a


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


def variances_always_tanh(x, weights, biases, activation):
    return np.array([np.var(a) for _, a in _forward(x, weights, biases, np.tanh)])


def _predict(widths, init, activation, moment, *, half=None, fan="in", moment_at_input=None,
             output="z", var_w=None):
    """predicted_variances with one knob turned (a plausible mistake)."""
    kept = (0.5 if activation == "relu" else 1.0) if half is None else half
    second = float(moment if moment_at_input is None else moment_at_input)
    result = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        var = (var_w or checks.PREDICTION_SCHEMES[init])(n_in, n_out)
        q = (n_in if fan == "in" else n_out) * var * second
        result.append(kept * q if output == "a2" else q)
        second = kept * q
    return np.array(result)


def predict_no_half(widths, init, activation, input_second_moment=1.0):
    return _predict(widths, init, activation, input_second_moment, half=1.0)


def predict_half_at_input(widths, init, activation, input_second_moment=1.0):
    kept = 0.5 if activation == "relu" else 1.0
    return _predict(widths, init, activation, input_second_moment,
                    moment_at_input=kept * input_second_moment)


def predict_fan_out(widths, init, activation, input_second_moment=1.0):
    return _predict(widths, init, activation, input_second_moment, fan="out")


def predict_activations(widths, init, activation, input_second_moment=1.0):
    return _predict(widths, init, activation, input_second_moment, output="a2")


def predict_input_moment_ignored(widths, init, activation, input_second_moment=1.0):
    return _predict(widths, init, activation, 1.0)


def predict_xavier_lecun(widths, init, activation, input_second_moment=1.0):
    lecun = (lambda n_in, n_out: 1.0 / n_in) if init == "xavier" else None
    return _predict(widths, init, activation, input_second_moment, var_w=lecun)


def predict_he_modes_swapped(widths, init, activation, input_second_moment=1.0):
    swap = {"he": "he_fan_out", "he_fan_out": "he"}
    var_w = checks.PREDICTION_SCHEMES[swap[init]] if init in swap else None
    return _predict(widths, init, activation, input_second_moment, var_w=var_w)


def predict_with_input(widths, init, activation, input_second_moment=1.0):
    return np.concatenate([[input_second_moment],
                           answers.predicted_variances(widths, init, activation,
                                                       input_second_moment)])


MUTANTS = [
    (checks.check_xavier_uniform, xavier_fan_in_only, "xavier.fan-in-only"),
    (checks.check_xavier_uniform, xavier_fan_out_only, "xavier.fan-out-only"),
    (checks.check_xavier_uniform, xavier_uniform_lecun, "xavier.lecun-variance"),
    (checks.check_xavier_normal, xavier_normal_lecun, "xavier.lecun-variance"),
    (checks.check_xavier_uniform, xavier_missing_two, "xavier.missing-two"),
    (checks.check_xavier_uniform, xavier_std_as_bound, "xavier.std-as-bound"),
    # the visible call tests the default gain; its second stage passes the tanh gain
    (checks.check_xavier_uniform, xavier_no_gain, "xavier.gain-missing"),
    (checks.check_xavier_uniform, xavier_gain_twice, "xavier.gain-twice"),
    (checks.check_xavier_uniform, xavier_gain_under_root, "xavier.gain-under-root"),
    (checks.check_xavier_uniform, xavier_transposed, "init.weight-shape"),
    (checks.check_xavier_uniform, xavier_global_rng, "init.global-rng"),
    (checks.check_xavier_uniform, xavier_seed_ignored, "init.seed-ignored"),
    (checks.check_xavier_uniform, xavier_positive, "init.not-centred"),
    (checks.check_xavier_uniform, xavier_normal_instead_of_uniform, "init.uniform-vs-normal"),
    (checks.check_xavier_normal, xavier_normal_with_uniform_bound, "xavier.uniform-bound-as-std"),
    (checks.check_xavier_normal, xavier_normal_loc_scale, "init.normal-loc-scale"),
    (checks.check_xavier_normal, xavier_uniform_instead_of_normal, "init.uniform-vs-normal"),
    # the visible call uses mode="fan_in"; its second stage uses the other mode
    (checks.check_kaiming_uniform, kaiming_mode_ignored, "kaiming.fan-mode"),
    (checks.check_kaiming_uniform, kaiming_six_and_gain, "kaiming.gain-and-two"),
    (checks.check_kaiming_uniform, kaiming_gain_one, "kaiming.gain-missing"),
    (checks.check_kaiming_uniform, kaiming_gain_ignored, "kaiming.gain-ignored"),
    (checks.check_kaiming_uniform, kaiming_both_fans, "kaiming.both-fans"),
    (checks.check_kaiming_uniform, kaiming_std_as_bound, "kaiming.std-as-bound"),
    (checks.check_kaiming_uniform, kaiming_like_nn_linear, "kaiming.linear-default"),
    (checks.check_kaiming_normal, kaiming_normal_two_and_gain, "kaiming.gain-and-two"),
    (checks.check_kaiming_normal, kaiming_normal_mode_swapped, "kaiming.fan-mode"),
    (checks.check_kaiming_normal, kaiming_normal_uniform_bound, "kaiming.uniform-bound-as-std"),
    # the visible call tests the default value 0: its second stage asks for -1.5
    (checks.check_constant_init, lambda shape, value=0.0: np.zeros(shape),
     "constant.value-ignored"),
    (checks.check_activation_variances, variances_of_z, "variances.pre-activation"),
    (checks.check_activation_variances, variances_ddof1, "variances.sample-variance"),
    (checks.check_activation_variances, variances_per_unit, "variances.per-unit"),
    (checks.check_activation_variances, variances_with_input, "variances.includes-input"),
    (checks.check_activation_variances, variances_without_bias, "variances.bias-ignored"),
    # the visible call uses tanh; the other activations are tried too
    (checks.check_activation_variances, variances_always_tanh, "variances.activation-ignored"),
    (checks.check_predicted_variances, predict_no_half, "predict-variance.relu-half-forgotten"),
    # E[a_l²] for every layer is every Var(z_l) halved: one mistake, one message for both
    (checks.check_predicted_variances, predict_half_at_input,
     "predict-variance.activation-moment"),
    # the visible call's network is square; the non-square stacks it also predicts catch it
    (checks.check_predicted_variances, predict_fan_out, "predict-variance.fan-out-sum"),
    (checks.check_predicted_variances, predict_activations, "predict-variance.activation-moment"),
    (checks.check_predicted_variances, predict_input_moment_ignored,
     "predict-variance.input-moment-ignored"),
    (checks.check_predicted_variances, predict_xavier_lecun, "xavier.lecun-variance"),
    (checks.check_predicted_variances, predict_he_modes_swapped, "kaiming.fan-mode"),
    (checks.check_predicted_variances, predict_with_input, "variances.includes-input"),
]


@pytest.mark.parametrize("check, mutant, misconception", MUTANTS)
def test_plausible_mistakes_are_named_by_the_visible_call(check, mutant, misconception):
    """Called as the notebook's visible test cell calls it, the check names the mistake."""
    fails_with(check, mutant, misconception)


def test_every_misconception_is_exercised_and_explained_by_its_page():
    assert_misconceptions_reached(checks, [id for *_, id in MUTANTS])


def variances_in_place(x, weights, biases, activation):
    x -= x.mean()
    return answers.activation_variances(x, weights, biases, activation)


@pytest.mark.parametrize("check, mutant, message", [
    (checks.check_xavier_uniform, xavier_narrow, "too narrow"),
    (checks.check_xavier_uniform, lambda fan_in, fan_out, gain=1.0, seed=0: 0.01 + answers.
     xavier_uniform(fan_in, fan_out, gain, seed), "draw symmetrically around 0"),
    (checks.check_constant_init, lambda shape, value=0.0: np.full((3, 4), value), "shape (4, 3)"),
    (checks.check_activation_variances, variances_in_place, "modified in place"),
])
def test_other_mistakes_get_a_plain_message(check, mutant, message):
    got = failure(check, mutant)
    assert message in got and not find(got), got


@pytest.mark.parametrize("init, activation", [
    ("xavier", "relu"), ("he", "relu"), ("he_fan_out", "relu"), ("torch_default", "relu"),
    ("xavier", "linear"), ("he_fan_out", "linear"),
])
def test_the_predicted_variances_are_what_wide_networks_measure(init, activation):
    """The closed form against simulated networks: over 8 networks of width ~500 (8 000
    inputs each), the mean measured Var(z_l) is within 6 % of the prediction at every
    layer (the finite-width fluctuation is about √(2/n) per layer, averaged over 8 draws)."""
    widths = (400, 600, 300, 500, 500)
    predicted = answers.predicted_variances(widths, init, activation, 2.0)
    measured = np.mean([checks.simulate_preactivation_variances(
        widths, init, activation, 2.0, batch=8000, seed=seed) for seed in range(8)], axis=0)
    assert np.allclose(measured, predicted, rtol=0.06), (measured, predicted)


def test_he_fan_out_scales_by_a_ratio_of_widths():
    """He's fan-out mode on a ReLU stack: Var(z_l) = 2·(n_0/n_l)·E[x²], no compounding."""
    widths = (100, 50, 200, 80)
    got = answers.predicted_variances(widths, "he_fan_out", "relu", 1.0)
    assert np.allclose(got, [2 * 100 / n for n in widths[1:]], rtol=1e-12)


def test_the_lecun_variance_is_right_for_a_square_layer():
    """N(0, 1/fan_in) is Xavier's variance when fan_in = fan_out: nothing to diagnose."""
    checks.check_xavier_normal(xavier_normal_lecun, fan_in=256, fan_out=256, stack=False)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_constant_init, checks.check_xavier_uniform,
                  checks.check_xavier_normal, checks.check_kaiming_uniform,
                  checks.check_kaiming_normal, checks.check_activation_variances,
                  checks.check_predicted_variances):
        with pytest.raises(NotImplementedError):
            check(stub)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("check, kwargs", [
    (checks.check_xavier_uniform, {"fan_in": 0}),
    (checks.check_xavier_uniform, {"fan_out": 2.5}),
    (checks.check_xavier_normal, {"nonlinearity": "gelu"}),
    (checks.check_xavier_normal, {"seed": "1"}),
    (checks.check_kaiming_uniform, {"mode": "fan_avg"}),
    (checks.check_kaiming_uniform, {"seed": -3}),
    (checks.check_kaiming_normal, {"stack": "no"}),
    (checks.check_constant_init, {"shape": (2, -3)}),
    (checks.check_constant_init, {"value": float("inf")}),
    (checks.check_activation_variances, {"widths": (5,)}),
    (checks.check_activation_variances, {"batch": 0}),
    (checks.check_activation_variances, {"activation": "elu"}),
    (checks.check_activation_variances, {"weight_scale": 0.0}),
    (checks.check_activation_variances, {"bias_scale": -0.1}),
    (checks.check_predicted_variances, {"widths": (5,)}),
    (checks.check_predicted_variances, {"init": "lecun"}),
    (checks.check_predicted_variances, {"activation": "tanh"}),
    (checks.check_predicted_variances, {"input_second_moment": 0.0}),
])
def test_bad_arguments_are_refused_before_the_student_runs(check, kwargs):
    assert_refused(check, kwargs)


# ---------------------------------------------------------------- generic wrong answers

WRONG_OUTPUTS_ONLY_FOR_NORMALS = {"scaled by 1.05": lambda out: 1.05 * np.asarray(out)}
SYMMETRIC = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")
# A symmetric distribution, negated, is the same distribution: a right answer, not a wrong one.
CASES = [(check, function, change) for check, function in checks_of(checks)
         for change in WRONG_OUTPUTS if not (change == "negated" and function in SYMMETRIC)]


@pytest.mark.parametrize("check, function, change", CASES)
def test_generic_wrong_answers_fail_with_an_assertion_that_teaches(check, function, change):
    transform = WRONG_OUTPUTS[change]
    if change == "scaled by 1.01" and function.endswith("normal"):
        # σ·1.01 is 2% more variance, at the edge of the 5 standard errors of 2¹⁷ normal
        # draws (the uniform variants catch it by their bound): try 5% there
        transform = WRONG_OUTPUTS_ONLY_FOR_NORMALS["scaled by 1.05"]
    message = failure(check, wrong(getattr(answers, function), transform),
                      **({"stack": False} if function in SYMMETRIC else {}))
    assert_teaches(message, function)


# ---------------------------------------------------------------- deep stacks


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
