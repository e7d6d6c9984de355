"""Checks for chapter 01: activations, their derivatives, a deep scalar chain, clipping.

Oracles: PyTorch in float64 (``torch.sigmoid``, ``torch.tanh``, ``torch.relu``,
``torch.nn.functional.elu`` and autograd through them) and
``torch.nn.utils.clip_grad_value_`` / ``clip_grad_norm_``. Conventions at kinks
follow PyTorch's autograd: relu'(0) = 0 and elu'(0) = α.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from descent.checks._compare import as_array_list, as_float_array, assert_close, assert_unchanged
from descent.checks._oracle import float64_tensor

#: Inputs every element-wise check also tries: saturated tails, the origin, tiny values.
EDGES = np.array([-50.0, -10.0, -1e-3, 0.0, 1e-3, 10.0, 50.0])


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


def _check_elementwise(name, student, oracle, hint, seed, shape, edges, scalar, **kwargs):
    rng = np.random.default_rng(seed)
    cases = [rng.normal(0.0, 3.0, size=shape)]
    if edges:
        cases.append(EDGES.copy())
    for z in cases:
        before = z.copy()
        got = student(z, **kwargs)
        assert_unchanged(name, before, z, "its input z")
        assert_close(name, got, oracle(before), inputs=before, hint=hint)
    if scalar:
        z = float(rng.normal())
        got = as_float_array(student(z, **kwargs), name)
        assert_close(name, got.reshape(()), oracle(np.array(z)), inputs=np.array(z), hint=hint)


def check_sigmoid(sigmoid, seed=0, shape=(7,), edges=True, scalar=False):
    """sigmoid(z) = 1 / (1 + e^(−z)), against ``torch.sigmoid``."""
    _check_elementwise("sigmoid", sigmoid, _value(torch.sigmoid),
                       "σ(z) = 1 / (1 + exp(−z)), element-wise", seed, shape, edges, scalar)


def check_sigmoid_grad(sigmoid_grad, seed=0, shape=(7,), edges=True, scalar=False):
    """σ'(z) = σ(z)(1 − σ(z)), against autograd of ``torch.sigmoid``."""
    _check_elementwise("sigmoid_grad", sigmoid_grad, _derivative(torch.sigmoid),
                       "σ'(z) = σ(z)·(1 − σ(z)), which is 0.25 at z = 0",
                       seed, shape, edges, scalar)


def check_tanh_grad(tanh_grad, seed=0, shape=(7,), edges=True, scalar=False):
    """tanh'(z) = 1 − tanh(z)², against autograd of ``torch.tanh``."""
    _check_elementwise("tanh_grad", tanh_grad, _derivative(torch.tanh),
                       "tanh'(z) = 1 − tanh(z)² (square tanh(z), not z)",
                       seed, shape, edges, scalar)


def check_relu(relu, seed=0, shape=(7,), edges=True, scalar=False):
    """relu(z) = max(0, z), against ``torch.relu``."""
    _check_elementwise("relu", relu, _value(torch.relu),
                       "relu(z) = max(0, z) element-wise (np.maximum, not max)",
                       seed, shape, edges, scalar)


def check_relu_grad(relu_grad, seed=0, shape=(7,), edges=True, scalar=False):
    """relu'(z) = 1 for z > 0 else 0; relu'(0) = 0 as in PyTorch's autograd."""
    _check_elementwise("relu_grad", relu_grad, _derivative(torch.relu),
                       "relu'(z) is 1 where z > 0 and 0 elsewhere; the course (like PyTorch) "
                       "takes relu'(0) = 0", seed, shape, edges, scalar)


def check_elu(elu, seed=0, shape=(7,), edges=True, scalar=False, alpha=1.0):
    """elu(z) = z for z > 0, α(e^z − 1) otherwise, against ``torch.nn.functional.elu``."""
    _check_elementwise(f"elu (alpha={alpha:g})", elu, _value(lambda t: F.elu(t, alpha)),
                       "elu(z) = z if z > 0 else α·(exp(z) − 1); use the alpha argument",
                       seed, shape, edges, scalar, alpha=alpha)


def check_elu_grad(elu_grad, seed=0, shape=(7,), edges=True, scalar=False, alpha=1.0):
    """elu'(z) = 1 for z > 0, α·e^z otherwise (so elu'(0) = α, as PyTorch's autograd)."""
    _check_elementwise(f"elu_grad (alpha={alpha:g})", elu_grad,
                       _derivative(lambda t: F.elu(t, alpha)),
                       "elu'(z) = 1 if z > 0 else α·exp(z); at z = 0 the course (like PyTorch) "
                       "takes α", seed, shape, edges, scalar, alpha=alpha)


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


def check_scalar_chain_grad(scalar_chain_grad, seed=0, depth=6, activation="sigmoid",
                            weight_scale=1.5):
    """The gradient of a deep scalar chain, g[l] = ∂a_N/∂a_l, against autograd."""
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
    expected = _chain_oracle(x, weights, biases, torch_fn)
    got = as_float_array(got, name)
    if got.shape != expected.shape:
        raise AssertionError(
            f"{name}: expected an array of length N + 1 = {depth + 1} "
            f"(g[0] = ∂a_N/∂x … g[N] = 1), got shape {got.shape}"
        )
    # Deep chains make gradients as small as 1e-30: compare relatively, not absolutely.
    assert_close(name, got, expected, inputs=np.arange(depth + 1), input_name="layer l",
                 rtol=1e-7, atol=1e-300,
                 hint="g[N] = 1 and g[l−1] = g[l]·activation_grad(z_l)·w_l, from the top down")


def _torch_params(grads) -> list[torch.Tensor]:
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.float64, requires_grad=True)
        p.grad = float64_tensor(g)
        params.append(p)
    return params


def _random_grads(seed, shapes, scale) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, scale, size=shape) for shape in shapes]


def check_clip_by_value(clip_by_value, seed=0, shapes=((3,), (2, 4)), clip_value=0.5,
                        scale=1.0):
    """Element-wise clipping into [−c, c], against ``torch.nn.utils.clip_grad_value_``."""
    name = "clip_by_value"
    grads = _random_grads(seed, shapes, scale)
    saved = [g.copy() for g in grads]
    got = as_array_list(clip_by_value(grads, clip_value), name, len(grads))
    for before, g in zip(saved, grads, strict=True):
        assert_unchanged(name, before, g, "a gradient it was given")
    params = _torch_params(saved)
    torch.nn.utils.clip_grad_value_(params, clip_value)
    for got_i, before, p in zip(got, saved, params, strict=True):
        assert_close(name, got_i, p.grad.numpy(), inputs=before, input_name="g",
                     hint=f"every element must end up in [−{clip_value:g}, {clip_value:g}]")


def check_clip_by_global_norm(clip_by_global_norm, seed=0, shapes=((3,), (2, 4), (5,)),
                              max_norm=1.0, scale=1.0):
    """Rescaling by one global norm, against ``torch.nn.utils.clip_grad_norm_``.

    Tried twice: with ``max_norm`` (clipping when the norm is larger) and with a
    threshold above the norm (the gradients must come back unchanged).
    """
    name = "clip_by_global_norm"
    grads = _random_grads(seed, shapes, scale)
    norm = float(np.sqrt(sum(float((g**2).sum()) for g in grads)))
    for threshold in (max_norm, 2.0 * norm + 1.0):
        saved = [g.copy() for g in grads]
        result = clip_by_global_norm(grads, threshold)
        for before, g in zip(saved, grads, strict=True):
            assert_unchanged(name, before, g, "a gradient it was given")
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise AssertionError(f"{name}: return a pair (clipped_grads, total_norm), "
                                 f"got a {type(result).__name__}")
        clipped = as_array_list(result[0], name, len(grads))
        params = _torch_params(saved)
        total = float(torch.nn.utils.clip_grad_norm_(params, threshold))
        assert_close(name, result[1], total, what="total_norm", rtol=1e-9,
                     hint="total_norm is √(Σ_i ‖g_i‖²) over ALL gradients, before clipping")
        # PyTorch divides by (norm + 1e-6): its result differs from the course's
        # max_norm / norm by a relative 1e-6 / norm, hence rtol 1e-5.
        for got_i, p in zip(clipped, params, strict=True):
            assert_close(name, got_i, p.grad.numpy(), rtol=1e-5, atol=1e-12,
                         hint=f"with max_norm = {threshold:g} and a global norm of {norm:.4g}, "
                              "scale every gradient by max_norm / norm only if norm > max_norm")
