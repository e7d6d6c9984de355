"""The chapter 01 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from descent.answers import load
from descent.checks import activations as checks
from descent.gradcheck import numerical_derivative, numerical_gradient, rel_error

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
        (checks.check_elu_grad, "elu_grad", {"seed": 9, "alpha": 1.7, "scalar": True}),
        (checks.check_scalar_chain_grad, "scalar_chain_grad", {"seed": 1, "depth": 50}),
        (checks.check_scalar_chain_grad, "scalar_chain_grad", {"activation": "relu"}),
        (checks.check_clip_by_value, "clip_by_value", {"seed": 2, "clip_value": 0.05}),
        (checks.check_clip_by_global_norm, "clip_by_global_norm", {"scale": 0.0}),
        (checks.check_clip_by_global_norm, "clip_by_global_norm", {"seed": 5, "max_norm": 0.1}),
    ],
)
def test_model_answers_pass(check, function, kwargs):
    check(getattr(answers, function), **kwargs)


def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def chain_without_weights(x, weights, biases, f, f_grad):
    z, a = [], x
    for w, b in zip(weights, biases, strict=True):
        z.append(w * a + b)
        a = f(z[-1])
    g = np.ones(len(weights) + 1)
    for layer in range(len(weights), 0, -1):
        g[layer - 1] = g[layer] * f_grad(z[layer - 1])  # forgets w_l
    return g


def chain_off_by_one(x, weights, biases, f, f_grad):
    g = answers.scalar_chain_grad(x, weights, biases, f, f_grad)
    return np.append(g[1:], 1.0)


def clip_in_place(grads, c):
    for g in grads:
        np.clip(g, -c, c, out=g)
    return grads


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


MUTANTS = [
    (checks.check_sigmoid, lambda z: np.exp(z) / (1 + np.exp(z)) + 1e-6, "sigmoid"),
    (checks.check_sigmoid_grad, sigmoid, "0.25 at z = 0"),
    (checks.check_tanh_grad, lambda z: 1 - np.asarray(z) ** 2, "tanh"),
    (checks.check_relu, lambda z: np.abs(z), "relu"),
    (checks.check_relu_grad, lambda z: (np.asarray(z) >= 0).astype(float), "relu'(0) = 0"),
    (checks.check_elu, lambda z, alpha=1.0: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
     "alpha"),
    (checks.check_elu_grad, lambda z, alpha=1.0: np.where(z >= 0, 1.0, alpha * np.exp(z)),
     "at z = 0"),
    (checks.check_scalar_chain_grad, chain_without_weights, "layer l"),
    (checks.check_scalar_chain_grad, chain_off_by_one, "layer l"),
    (checks.check_clip_by_value, lambda gs, c: [np.minimum(g, c) for g in gs], "[−0.5, 0.5]"),
    (checks.check_clip_by_value, clip_in_place, "modified in place"),
    (checks.check_clip_by_global_norm, clip_each_separately, "max_norm / norm"),
    (checks.check_clip_by_global_norm, clip_always, "only if norm > max_norm"),
    (checks.check_clip_by_global_norm, norm_after_clipping, "before clipping"),
]


@pytest.mark.parametrize("check, mutant, message", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(check, mutant, message):
    with pytest.raises(AssertionError) as failure:
        alpha_checks = (checks.check_elu, checks.check_elu_grad)
        check(mutant, alpha=2.0) if check in alpha_checks else check(mutant)
    assert message in str(failure.value)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_sigmoid, checks.check_scalar_chain_grad,
                  checks.check_clip_by_global_norm):
        with pytest.raises(NotImplementedError):
            check(stub)


@pytest.mark.parametrize(
    "returned, message",
    [(None, "forget `return`"), ("half", "cannot be read"), (np.zeros(3), "shape (3,)")],
)
def test_wrong_objects_get_a_clear_message(returned, message):
    with pytest.raises(AssertionError) as failure:
        checks.check_sigmoid(lambda z: returned)
    assert message in str(failure.value)


def test_wrong_list_length_and_pair():
    with pytest.raises(AssertionError, match="list of 2 arrays, got 1"):
        checks.check_clip_by_value(lambda gs, c: gs[:1])
    with pytest.raises(AssertionError, match="pair"):
        checks.check_clip_by_global_norm(lambda gs, m: gs)


def test_gradcheck_helpers_match_closed_forms():
    x = np.array([0.3, -1.2, 2.0])
    assert rel_error(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2) < 1e-8
    assert rel_error(numerical_derivative(np.sin, x), np.cos(x)) < 1e-8
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [1.1]) == pytest.approx(0.1 / 2.1)


def test_reference_activations_travel_as_data():
    """What checks hand to student functions must be plain data a sandboxed worker can receive."""
    import pickle

    z = np.array([-2.0, 0.0, 3.0])
    for name in ("sigmoid", "tanh", "relu", "elu"):
        for derivative in (False, True):
            original = checks.ReferenceActivation(name, derivative)
            copy = pickle.loads(pickle.dumps(original))
            assert copy == original and np.array_equal(copy(z), original(z))
    assert np.allclose(checks.ReferenceActivation("sigmoid", True)(z), numerical_derivative(
        checks.ReferenceActivation("sigmoid"), z))
