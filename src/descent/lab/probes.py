"""What the grader sees of a student's model, loop and optimizer: plain data.

The grader runs a student's code in a sandboxed worker and only plain data crosses
(``autograder/wire.py``): a student's ``nn.Module`` or ``Optimizer`` can never reach a
check. So the notebook's setup cell makes these *probes* next to the student's code (in
the worker); each one builds the student's object from the check's plain inputs (arrays,
seeds, hyper-parameters), exercises it, and returns plain data: parameters, outputs,
gradients, losses, flags. The checks (``descent.checks.lenet``) compare those with their
PyTorch oracles on the grader's side.

A probe looks the student's names up when it is called, so it sees the latest definition
of ``lenet5``, ``train_one_epoch``, ``evaluate`` and ``CourseAdam``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def probe_net(inputs: int, hidden: int, classes: int, dropout: float = 0.0) -> nn.Module:
    """The small network the loop checks train: Linear → BatchNorm → ReLU (→ Dropout) → Linear.

    Batch normalization behaves differently in training and evaluation mode (batch
    statistics and running averages, or the running averages alone), and so does dropout:
    a loop that forgets ``model.train()`` or ``model.eval()`` computes other numbers.
    """
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(inputs, hidden),
                               nn.BatchNorm1d(hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, classes)).double()


def load_state(model: nn.Module, state: dict) -> nn.Module:
    """``model`` with its parameters and buffers set from plain arrays (by state_dict name)."""
    model.load_state_dict({name: torch.as_tensor(np.asarray(value)) for name, value in
                           state.items()})
    return model


def plain_state(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy().copy()
            for name, value in model.state_dict().items()}


def _tensor(array, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array)).to(dtype)


def _student(namespace: dict, name: str):
    value = namespace.get(name)
    if value is None:
        raise NameError(f"{name} is not defined: run its cell first (did it raise an error?)")
    return value


def adapters(namespace: dict) -> tuple[Callable, ...]:
    """The probes of the notebook whose names live in ``namespace`` (its ``globals()``):
    ``(probe_lenet5, probe_lenet5_training, probe_train_one_epoch, probe_evaluate,
    probe_course_adam)``."""

    def probe_lenet5(x, labels, seed: int):
        """Build ``lenet5()`` after ``torch.manual_seed(seed)``; describe it and run it in
        float64 on ``x``: parameters, the types of their layers, output, gradients."""
        torch.manual_seed(int(seed))
        model = _student(namespace, "lenet5")()
        if not isinstance(model, nn.Module):  # the check says so, as an assertion
            return {"not_a_module": type(model).__name__}
        modules = dict(model.named_modules())
        named = list(model.named_parameters())
        owners = [type(modules[name.rpartition(".")[0]]).__name__ for name, _ in named]
        leaves = [type(m).__name__ for m in model.modules() if not any(m.children())]
        model = model.double()
        params = [p for _, p in named]
        result = {"names": [name for name, _ in named], "owners": owners, "leaves": leaves,
                  "params": [p.detach().numpy().copy() for p in params], "grad_error": ""}
        try:
            output = model(_tensor(x))
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"forward returned a {type(output).__name__}, not a tensor")
        except Exception as error:  # noqa: BLE001 - the checks say what is wrong, as assertions
            return {**result, "forward_error": f"{type(error).__name__}: {error}"[:300]}
        result["output"] = output.detach().numpy().copy()
        try:
            loss = F.cross_entropy(output, _tensor(labels, torch.int64))
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            result["grads"] = [np.zeros(p.shape) if g is None else g.numpy().copy()
                               for p, g in zip(params, grads, strict=True)]
            result["unused"] = [g is None for g in grads]
        except Exception as error:  # noqa: BLE001 - e.g. a 1-D output: reported by the check
            result["grad_error"] = f"{type(error).__name__}: {error}"[:300]
        return result

    def probe_lenet5_training(x_train, y_train, x_val, y_val, seed: int, epochs: int,
                              batch_size: int, lr: float):
        """Train a fresh ``lenet5()`` (float32, Adam, seeded) on the given images; its
        validation accuracy and per-epoch training loss."""
        torch.manual_seed(int(seed))
        model = _student(namespace, "lenet5")()
        x, y = _tensor(x_train, torch.float32), _tensor(y_train, torch.int64)
        optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
        generator = torch.Generator().manual_seed(int(seed))
        losses = []
        model.train()
        for _ in range(int(epochs)):
            total = 0.0
            for batch in torch.randperm(len(y), generator=generator).split(int(batch_size)):
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            losses.append(total / len(y))
        model.eval()
        with torch.no_grad():
            predicted = model(_tensor(x_val, torch.float32)).argmax(dim=1)
        accuracy = float((predicted == _tensor(y_val, torch.int64)).double().mean())
        return {"val_accuracy": accuracy, "losses": losses}

    def probe_train_one_epoch(state: dict, x, y, lr: float, momentum: float,
                              batch_size: int, seed: int):
        """Hand ``train_one_epoch`` a float64 probe network (left in eval mode, as after an
        evaluation) and SGD; what it returned and the network's state after the epoch."""
        model = load_state(_net_for(state), state).eval()
        optimizer = torch.optim.SGD(model.parameters(), lr=float(lr), momentum=float(momentum))
        result = _student(namespace, "train_one_epoch")(
            model, _tensor(x), _tensor(y, torch.int64), optimizer,
            batch_size=int(batch_size), seed=int(seed))
        return {"result": result, "state": plain_state(model)}

    def probe_evaluate(state: dict, x, y, batch_size: int, dropout: float):
        """Hand ``evaluate`` a probe network with dropout, left in training mode; what it
        returned, and for each forward pass: grad mode, training flag, batch size."""
        model = load_state(_net_for(state, dropout), state).train()
        calls: list[tuple[bool, bool, int]] = []
        model.register_forward_hook(lambda module, inputs, output: calls.append(
            (torch.is_grad_enabled(), module.training, int(inputs[0].shape[0]))))
        result = _student(namespace, "evaluate")(model, _tensor(x), _tensor(y, torch.int64),
                                                 batch_size=int(batch_size))
        return {"result": result, "grad_enabled": [c[0] for c in calls],
                "training": [c[1] for c in calls], "batches": [c[2] for c in calls],
                "state": plain_state(model)}

    def probe_course_adam(params: list, grad_fn, steps: int, hyper: dict,
                          groups: list | None = None, closure: bool = False):
        """Drive ``CourseAdam`` for ``steps`` steps on float64 parameters, the gradient of
        step t being ``grad_fn(t, current parameters)`` (None: no gradient this step).
        ``groups`` lists param groups as {"params": [indices], **options}. Returns the
        parameters and the optimizer's state after every step, and its defaults."""
        cls = _student(namespace, "CourseAdam")
        tensors = [torch.tensor(np.asarray(p, dtype=float), requires_grad=True)
                   for p in params]
        if groups is None:
            arg = tensors
        else:
            arg = [{**{k: v for k, v in g.items() if k != "params"},
                    "params": [tensors[i] for i in g["params"]]} for g in groups]
        optimizer = cls(arg, **hyper)
        default = cls([torch.zeros(1, dtype=torch.float64, requires_grad=True)])
        result = {"is_optimizer": isinstance(optimizer, torch.optim.Optimizer),
                  "defaults": {k: default.defaults.get(k) for k in ("lr", "betas", "eps")},
                  "thetas": [], "states": [], "returned": []}
        for t in range(1, int(steps) + 1):
            grads = grad_fn(t, [p.detach().numpy().copy() for p in tensors])
            for p, g in zip(tensors, grads, strict=True):
                p.grad = None if g is None else _tensor(g)
            if closure:
                value = optimizer.step(lambda t=t: torch.tensor(float(t)))
                result["returned"].append(None if value is None else float(value))
            else:
                optimizer.step()
            result["thetas"].append([p.detach().numpy().copy() for p in tensors])
            result["states"].append([_plain_optimizer_state(optimizer.state.get(p, {}))
                                     for p in tensors])
        return result

    return (probe_lenet5, probe_lenet5_training, probe_train_one_epoch, probe_evaluate,
            probe_course_adam)


def _net_for(state: dict, dropout: float = 0.0) -> nn.Module:
    """The probe network whose shapes fit ``state`` (from its two Linear layers)."""
    hidden, inputs = np.shape(state["1.weight"])
    classes = np.shape(state[f"{5 if dropout else 4}.weight"])[0]
    return probe_net(int(inputs), int(hidden), int(classes), dropout)


def _plain_optimizer_state(state) -> dict:
    """An optimizer's per-parameter state as numbers and arrays (anything else dropped)."""
    plain = {}
    for key, value in dict(state).items():
        if isinstance(value, torch.Tensor):
            plain[str(key)] = value.detach().cpu().numpy().copy()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            plain[str(key)] = float(value)
    return plain
