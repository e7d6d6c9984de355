"""What the checks of update rules share: a PyTorch step from a given state, and the state.

An update rule is checked along a trajectory next to a ``torch.optim`` optimizer fed the
same gradients. When the two part, the check recomputes the failing step with a few
classic mistakes, often a PyTorch step with altered hyper-parameters or state
(:func:`torch_step`), and names the mistake whose result the student's matches
(:func:`~descent.checks._compare.compare_with_hint`). The student's state comes and goes
as a dict: it must hold the named keys and must not be modified in place.
"""

from __future__ import annotations

import numpy as np
import torch

from descent.checks._compare import assert_unchanged
from descent.checks._oracle import float64_tensor


def torch_run(optimizer_class, theta, grad, state: dict, **hyper) -> tuple[np.ndarray, dict]:
    """θ and the optimizer's state after one step of ``optimizer_class`` started from ``state``.

    ``state`` uses PyTorch's names (``step`` is the number of steps already taken); its
    values are converted to float64 tensors, and those of the returned state back to NumPy
    arrays (floats for scalars).
    """
    param = float64_tensor(theta, grad=True)
    optimizer = optimizer_class([param], foreach=False, **hyper)
    optimizer.state[param] = {
        key: torch.tensor(float(value)) if key == "step" else float64_tensor(value)
        for key, value in state.items() if value is not None
    }
    param.grad = float64_tensor(grad)
    optimizer.step()
    after = {key: float(value) if value.ndim == 0 else value.detach().numpy().copy()
             for key, value in optimizer.state[param].items() if value is not None}
    return param.detach().numpy().copy(), after


def torch_step(optimizer_class, theta, grad, state: dict, **hyper) -> np.ndarray:
    """θ after one step of a ``torch.optim`` optimizer started from ``state``.

    The known mistakes of the checks are built from PyTorch steps (and plain arithmetic
    around them), so that the library never spells out the update a student writes.
    """
    return torch_run(optimizer_class, theta, grad, state, **hyper)[0]


def snapshot_state(state) -> tuple[set, dict]:
    """The keys and float copies of a state dict, to prove later that it was not mutated."""
    if not isinstance(state, dict):
        return set(), {}
    saved = {}
    for key, value in state.items():
        try:
            saved[key] = np.array(value, dtype=float)
        except (TypeError, ValueError):
            continue
    return set(state), saved


def assert_state_unchanged(name, snapshot, state) -> None:
    """Fail when the state dict of ``snapshot`` (:func:`snapshot_state`) was modified."""
    keys, saved = snapshot
    if isinstance(state, dict) and set(state) != keys:
        raise AssertionError(f"{name}: the state dict it was given was modified in place (keys "
                             "added or removed); build a new dict, e.g. new_state = dict(state)")
    for key, before in saved.items():
        assert_unchanged(name, before, state[key], f"state['{key}'] (the state it was given)")


def require_state_keys(where, state, keys: dict[str, str]) -> dict:
    """``state`` itself, once it is a dict holding every key (key -> what it stores)."""
    if not isinstance(state, dict):
        raise AssertionError(f"{where}: the new state must be a dict (keys {', '.join(keys)}), "
                             f"got a {type(state).__name__}")
    for key, what in keys.items():
        if key not in state:
            raise AssertionError(f"{where}: the returned state has no '{key}' — store {what} "
                                 "there so the next call can read it")
    return state
