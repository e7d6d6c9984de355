"""The chapter 01 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
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
from descent.checks import activations as checks
from descent.checks.misconceptions import find
from descent.gradcheck import check_derivative

answers = load("01_activations")


@pytest.mark.parametrize(
    "check, function, kwargs",
    [
        (checks.check_sigmoid, "sigmoid", {"seed": 3, "shape": (2, 5), "scalar": True}),
        (checks.check_sigmoid_grad, "sigmoid_grad", {"seed": 4, "shape": (3, 2)}),
        (checks.check_tanh_grad, "tanh_grad", {"seed": 5, "shape": ()}),
        (checks.check_relu, "relu", {"seed": 6, "shape": (4,), "scalar": True}),
        (checks.check_relu_grad, "relu_grad", {"seed": 7, "shape": (2, 2, 2)}),
        (checks.check_elu, "elu", {"seed": 8, "alpha": 0.3}),
        (checks.check_elu, "elu", {"alpha": 0.5, "edges": False}),
        (checks.check_elu_grad, "elu_grad", {"seed": 9, "alpha": 1.7, "scalar": True}),
        (checks.check_scalar_chain_grad, "scalar_chain_grad", {"seed": 1, "depth": 50}),
        (checks.check_scalar_chain_grad, "scalar_chain_grad", {"activation": "relu"}),
        (checks.check_scalar_chain_grad, "scalar_chain_grad", {"activation": "tanh"}),
        (checks.check_clip_by_value, "clip_by_value", {"seed": 2, "clip_value": 0.05}),
        (checks.check_clip_by_global_norm, "clip_by_global_norm", {"scale": 0.0}),
        (checks.check_clip_by_global_norm, "clip_by_global_norm", {"seed": 5, "max_norm": 0.1}),
        (checks.check_growth_rate, "growth_rate", {}),
        (checks.check_growth_rate, "growth_rate", {"seed": 3, "dim": 1, "radius": 2.0}),
        (checks.check_growth_rate, "growth_rate", {"seed": 4, "dim": 60, "radius": 0.5}),
    ],
)
def test_model_answers_pass(check, function, kwargs):
    check(getattr(answers, function), **kwargs)


# ---------------------------------------------------------------- mistakes


def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def quietly(f):
    """A mutant that overflows on purpose, without the warnings."""
    def wrapped(*args, **kwargs):
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)
    return wrapped


def tanh_by_exp(z):
    z = np.asarray(z, dtype=float)
    t = (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    return 1 - t**2


def elu_masked(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    return z * (z > 0) + alpha * (np.exp(z) - 1) * (z <= 0)


def chain_without_weights(x, weights, biases, f, f_grad):
    z, a = [], x
    for w, b in zip(weights, biases, strict=True):
        z.append(w * a + b)
        a = f(z[-1])
    g = np.ones(len(weights) + 1)
    for layer in range(len(weights), 0, -1):
        g[layer - 1] = g[layer] * f_grad(z[layer - 1])  # forgets w_l
    return g


def chain_at_output(x, weights, biases, f, f_grad):
    a = [x]
    for w, b in zip(weights, biases, strict=True):
        a.append(float(f(w * a[-1] + b)))
    g = np.ones(len(weights) + 1)
    for layer in range(len(weights), 0, -1):
        g[layer - 1] = g[layer] * f_grad(a[layer]) * weights[layer - 1]  # f'(a_l), not f'(z_l)
    return g


def chain_off_by_one(x, weights, biases, f, f_grad):
    g = answers.scalar_chain_grad(x, weights, biases, f, f_grad)
    return np.append(g[1:], 1.0)


def chain_reversed(x, weights, biases, f, f_grad):
    return answers.scalar_chain_grad(x, weights, biases, f, f_grad)[::-1]


def chain_own_sigmoid(x, weights, biases, f, f_grad):
    return answers.scalar_chain_grad(x, weights, biases, answers.sigmoid, answers.sigmoid_grad)


def clip_in_place(grads, c):
    for g in grads:
        np.clip(g, -c, c, out=g)
    return grads


def clip_by_norm_instead(grads, c):
    return answers.clip_by_global_norm(grads, c)[0]


def clip_each_separately(grads, max_norm):
    norms = [np.linalg.norm(g) for g in grads]
    total = float(np.sqrt(sum(n**2 for n in norms)))
    scaled = [g * min(1.0, max_norm / n) if n else g for g, n in zip(grads, norms, strict=True)]
    return scaled, total


def clip_always(grads, max_norm):
    total = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    return [g * max_norm / total for g in grads], total


def norm_after_clipping(grads, max_norm):
    clipped, _ = answers.clip_by_global_norm(grads, max_norm)
    return clipped, float(np.sqrt(sum(np.sum(g**2) for g in clipped)))


def clip_by_value_instead(grads, max_norm):
    total = answers.clip_by_global_norm(grads, max_norm)[1]
    return answers.clip_by_value(grads, max_norm), total


def clip_squared_norm(grads, max_norm):
    total = float(sum(np.sum(g**2) for g in grads))  # no square root
    return [g * min(1.0, max_norm / total) for g in grads], total


def clip_sum_of_norms(grads, max_norm):
    total = float(sum(np.linalg.norm(g) for g in grads))
    return [g * min(1.0, max_norm / total) for g in grads], total


@quietly
def clip_normalized_first(grads, max_norm):
    total = np.sqrt(sum(np.sum(g**2) for g in grads))
    return [g / total * min(total, max_norm) for g in grads], float(total)  # 0/0 for zeros


def expm1_negative(z):
    return np.expm1(np.minimum(np.asarray(z, dtype=float), 0.0))


def rate_singular(W):
    return float(np.linalg.norm(W, 2))


def rate_real_part(W):
    return float(np.max(np.linalg.eigvals(W).real))


def rate_eigvalsh(W):
    return float(np.max(np.abs(np.linalg.eigvalsh(W))))


def rate_frobenius(W):
    return float(np.linalg.norm(W))


def rate_in_place(W):
    W *= 1.0 + 1e-3
    return float(np.max(np.abs(np.linalg.eigvals(W)))) / (1.0 + 1e-3)


MUTANTS = [
    (checks.check_sigmoid, lambda z: 1 / (1 + np.exp(np.asarray(z))), "sigmoid.sign-flipped"),
    (checks.check_sigmoid, quietly(lambda z: np.exp(z) / (1 + np.exp(z))), "sigmoid.overflow"),
    (checks.check_sigmoid_grad, sigmoid, "sigmoid.derivative-is-value"),
    (checks.check_sigmoid_grad, lambda z: np.asarray(z) * (1 - np.asarray(z)),
     "sigmoid.derivative-of-input"),
    (checks.check_sigmoid_grad, lambda z: sigmoid(z) * (1 - np.asarray(z)),
     "sigmoid.derivative-of-input"),
    (checks.check_sigmoid_grad, lambda z: 1 - sigmoid(z) ** 2, "sigmoid.tanh-pattern"),
    (checks.check_sigmoid_grad, quietly(lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
     "sigmoid.overflow"),
    (checks.check_tanh_grad, lambda z: 1 - np.asarray(z) ** 2, "tanh.derivative-of-input"),
    (checks.check_tanh_grad, lambda z: 1 - np.tanh(z), "tanh.missing-square"),
    (checks.check_tanh_grad, lambda z: np.tanh(z) * (1 - np.tanh(z)), "tanh.sigmoid-pattern"),
    (checks.check_tanh_grad, quietly(tanh_by_exp), "tanh.overflow"),
    (checks.check_relu, lambda z: np.minimum(z, 0.0), "relu.min-not-max"),
    (checks.check_relu, lambda z: (np.asarray(z) > 0).astype(float), "relu.returns-derivative"),
    (checks.check_relu_grad, lambda z: (np.asarray(z) >= 0).astype(float), "relu.grad-at-zero"),
    (checks.check_relu_grad, lambda z: np.heaviside(z, 0.5), "relu.grad-at-zero"),
    (checks.check_relu_grad, lambda z: np.maximum(z, 0.0), "relu.derivative-is-value"),
    # the visible call uses α = 1: the check's second α catches a forgotten one
    (checks.check_elu, lambda z, alpha=1.0: np.where(np.asarray(z) > 0, z, expm1_negative(z)),
     "elu.alpha-ignored"),
    (checks.check_elu, lambda z, alpha=1.0: np.where(
        np.asarray(z) > 0, z, alpha * np.exp(np.minimum(z, 0.0))), "elu.missing-minus-one"),
    (checks.check_elu, lambda z, alpha=1.0: alpha * np.where(
        np.asarray(z) > 0, z, expm1_negative(z)), "elu.alpha-on-positive-branch"),
    (checks.check_elu, quietly(elu_masked), "elu.overflow"),
    (checks.check_elu_grad, lambda z, alpha=1.0: np.where(
        np.asarray(z) >= 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))), "elu.grad-at-zero"),
    (checks.check_elu_grad, lambda z, alpha=1.0: np.where(
        np.asarray(z) > 0, 1.0, np.exp(np.minimum(z, 0.0))), "elu.alpha-ignored"),
    (checks.check_elu_grad, lambda z, alpha=1.0: np.where(
        np.asarray(z) > 0, 1.0, alpha * expm1_negative(z)), "elu.derivative-minus-one"),
    (checks.check_elu_grad, quietly(lambda z, alpha=1.0: (np.asarray(z) > 0) + alpha * np.exp(
        z) * (np.asarray(z) <= 0)), "elu.overflow"),
    (checks.check_scalar_chain_grad, chain_without_weights, "chain.missing-weight"),
    (checks.check_scalar_chain_grad, chain_at_output, "chain.derivative-at-output"),
    (checks.check_scalar_chain_grad, chain_off_by_one, "chain.off-by-one"),
    (checks.check_scalar_chain_grad, chain_reversed, "chain.reversed"),
    (checks.check_scalar_chain_grad, chain_own_sigmoid, "chain.hard-coded-activation"),
    (checks.check_clip_by_value, lambda gs, c: [np.minimum(g, c) for g in gs],
     "clipping.one-sided"),
    (checks.check_clip_by_value, clip_in_place, "clipping.in-place"),
    (checks.check_clip_by_value, clip_by_norm_instead, "clipping.norm-not-value"),
    (checks.check_clip_by_global_norm, clip_each_separately, "clipping.per-tensor-norm"),
    (checks.check_clip_by_global_norm, clip_always, "clipping.always-rescaled"),
    (checks.check_clip_by_global_norm, norm_after_clipping, "clipping.norm-after-clipping"),
    (checks.check_clip_by_global_norm, clip_by_value_instead, "clipping.by-value-not-norm"),
    (checks.check_clip_by_global_norm, clip_squared_norm, "clipping.squared-norm"),
    (checks.check_clip_by_global_norm, clip_sum_of_norms, "clipping.sum-of-norms"),
    (checks.check_clip_by_global_norm, clip_normalized_first, "clipping.zero-norm"),
    (checks.check_growth_rate, rate_singular, "growth-rate.largest-singular-value"),
    (checks.check_growth_rate, rate_real_part, "growth-rate.no-modulus"),
    (checks.check_growth_rate, rate_eigvalsh, "growth-rate.eigvalsh-on-nonsymmetric"),
    (checks.check_growth_rate, rate_frobenius, "growth-rate.frobenius-norm"),
]


@pytest.mark.parametrize("check, mutant, misconception", MUTANTS)
def test_plausible_mistakes_are_named_by_the_visible_call(check, mutant, misconception):
    """Called as the notebook's visible test cell calls it, the check names the mistake."""
    fails_with(check, mutant, misconception)


def test_every_misconception_is_exercised_and_explained_by_its_page():
    assert_misconceptions_reached(checks, [id for *_, id in MUTANTS])


@pytest.mark.parametrize("check, mutant, message", [
    (checks.check_relu, lambda z: np.abs(z), "np.maximum"),
    # a function that works on 1-D arrays only: the visible call also tries a 2-D one
    (checks.check_relu, lambda z: np.maximum(np.ravel(z), 0.0), "has shape (6,), expected (2, 3)"),
    # and a plain float
    (checks.check_relu, lambda z: np.maximum(z, 0.0) if np.ndim(z) else np.zeros(2),
     "for a plain float z: the result has shape (2,), expected ()"),
    (checks.check_sigmoid_grad, quietly(lambda z: sigmoid(z) * (1 - sigmoid(z)) + (
        np.ndim(z) == 0)), "for a plain float z"),
    (checks.check_scalar_chain_grad, lambda *args: np.ones(3), "length N + 1 = 7"),
    (checks.check_clip_by_value, lambda gs, c: [np.clip(g, -c, c) for g in gs[:1]],
     "list of 2 arrays, got 1"),
    (checks.check_clip_by_global_norm, lambda gs, m: gs, "pair"),
])
def test_other_mistakes_get_a_plain_message(check, mutant, message):
    got = failure(check, mutant)
    assert message in got and not find(got), got


def test_messages_name_the_array_that_differs():
    def second_wrong(grads, c):
        clipped = answers.clip_by_value(grads, c)
        return [clipped[0], -clipped[1]]

    with pytest.raises(AssertionError, match=re.escape("the clipped grads[1] at g")):
        checks.check_clip_by_value(second_wrong)
    with pytest.raises(AssertionError, match="the total_norm: expected"):
        checks.check_clip_by_global_norm(lambda gs, m: (answers.clip_by_global_norm(gs, m)[0],
                                                        1.0))


def test_the_spectral_radius_is_the_long_run_rate():
    """‖W^N‖₂^(1/N) tends to r(W), not σ_max: the page's non-normal block grows to 19.4 at
    N = 9 before it decays, and its rate at N = 1000 is within 1 % of 0.9."""
    w = np.array([[0.9, 5.0], [0.0, 0.9]])
    norms = [np.linalg.norm(np.linalg.matrix_power(w, n), 2) for n in range(1, 60)]
    assert int(np.argmax(norms)) + 1 == 9 and abs(max(norms) - 19.4) < 0.05
    assert abs(checks._measured_rate(torch.tensor(w)) - 0.9) < 0.009
    random = checks.growth_matrix(0, 5, 1.05)
    assert abs(checks._measured_rate(torch.tensor(random)) - 1.05) < 1e-3


def test_a_wrong_rate_shows_the_multiplied_out_norm():
    message = failure(checks.check_growth_rate, rate_singular)
    assert "‖W^N‖₂^(1/N) is" in message and "at N = 1000" in message, message


def test_a_matrix_modified_in_place_is_named():
    message = failure(checks.check_growth_rate, rate_in_place)
    assert "modified in place" in message and not find(message), message


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_sigmoid, checks.check_elu, checks.check_scalar_chain_grad,
                  checks.check_clip_by_value, checks.check_clip_by_global_norm,
                  checks.check_growth_rate):
        with pytest.raises(NotImplementedError):
            check(stub)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("check, kwargs", [
    (checks.check_sigmoid, {"seed": "0"}),
    (checks.check_sigmoid, {"seed": 1.5}),
    (checks.check_sigmoid, {"seed": True}),
    (checks.check_sigmoid_grad, {"seed": -1}),
    (checks.check_tanh_grad, {"shape": (2, -1)}),
    (checks.check_relu, {"shape": "7"}),
    (checks.check_relu_grad, {"edges": "yes"}),
    (checks.check_elu, {"alpha": 0.0}),
    (checks.check_elu_grad, {"alpha": float("nan")}),
    (checks.check_scalar_chain_grad, {"depth": 0}),
    (checks.check_scalar_chain_grad, {"activation": "gelu"}),
    (checks.check_scalar_chain_grad, {"weight_scale": -1.0}),
    (checks.check_clip_by_value, {"clip_value": 0}),
    (checks.check_clip_by_value, {"shapes": []}),
    (checks.check_clip_by_value, {"scale": -1.0}),
    (checks.check_clip_by_global_norm, {"max_norm": -1.0}),
    (checks.check_clip_by_global_norm, {"shapes": [(3,), (2, -4)]}),
    (checks.check_growth_rate, {"dim": 0}),
    (checks.check_growth_rate, {"radius": 0.0}),
    (checks.check_growth_rate, {"seed": -2}),
])
def test_bad_arguments_are_refused_before_the_student_runs(check, kwargs):
    assert_refused(check, kwargs)


# ---------------------------------------------------------------- generic wrong answers


@pytest.mark.parametrize("change", WRONG_OUTPUTS)
@pytest.mark.parametrize("check, function", checks_of(checks))
def test_generic_wrong_answers_fail_with_an_assertion_that_teaches(check, function, change):
    assert_teaches(failure(check, wrong(getattr(answers, function), WRONG_OUTPUTS[change])),
                   function)


# ---------------------------------------------------------------- helpers


def test_reference_activations_travel_as_data():
    """What checks hand to student functions must be plain data a sandboxed worker can receive."""
    import pickle

    z = np.array([-2.0, 0.0, 3.0])
    for name in ("sigmoid", "tanh", "relu", "elu"):
        for derivative in (False, True):
            original = checks.ReferenceActivation(name, derivative)
            copy = pickle.loads(pickle.dumps(original))
            assert copy == original and np.array_equal(copy(z), original(z))
    check_derivative(checks.ReferenceActivation("sigmoid"), z,
                     checks.ReferenceActivation("sigmoid", True)(z), name="sigmoid'")


def test_an_integer_beyond_float_range_fails_with_an_assertion():
    with pytest.raises(AssertionError, match="cannot be read as an array of floats"):
        checks.check_sigmoid(lambda z: 10**400)
