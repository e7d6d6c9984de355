"""Chapters 06, 07 and 08 on LeNet-5: learning-rate schedules, weight averaging (EMA and
SWA) and batch normalization, with the harness of chapter 09.

The model, the epoch and the evaluation are chapter 09's exercises, taken as arguments
(``scripts/lenet_extras.py`` passes their model answers). Everything here is plumbing around
them: a per-step hook on the optimizer (for the schedulers and the weight averages), the
batch-normalized copy of a given network, and the runs whose curves
``scripts/lenet_extras.py`` caches in ``book/_data/lenet_extras.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, MultiStepLR
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from descent.lab.training import fit, prepare

#: The schedules compared, all from the same η₀, stepped after every mini-batch.
SCHEDULES = ("constant", "step", "cosine")
#: Step decay: η multiplied by this factor once, after this fraction of the steps.
STEP_FACTOR, STEP_AT = 0.1, 2 / 3
#: Records the learning rate this many times per epoch (for the figure of η_t).
LR_SAMPLES_PER_EPOCH = 5


class StepHooks:
    """An optimizer that calls ``hooks`` after every ``step()``: the epoch of chapter 09 only
    calls ``zero_grad()`` and ``step()``, so schedulers and weight averages ride along."""

    def __init__(self, optimizer: torch.optim.Optimizer, *hooks: Callable[[], None]):
        self.optimizer, self.hooks = optimizer, hooks

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        loss = self.optimizer.step(closure)
        for hook in self.hooks:
            hook()
        return loss


def scheduler(name: str, optimizer: torch.optim.Optimizer, total_steps: int):
    """PyTorch's scheduler for ``name`` of :data:`SCHEDULES`, stepped once per mini-batch:
    constant η₀; η₀ × :data:`STEP_FACTOR` from step ⌊:data:`STEP_AT` · T⌋ on; half a cosine
    from η₀ to 0 over the ``total_steps`` T."""
    if name == "constant":
        return LambdaLR(optimizer, lambda step: 1.0)
    if name == "step":
        return MultiStepLR(optimizer, milestones=[int(STEP_AT * total_steps)], gamma=STEP_FACTOR)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=0.0)
    raise ValueError(f"unknown schedule {name!r}: one of {SCHEDULES}")


def with_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """A copy of the sequential ``model`` with batch normalization after every convolution
    and every linear layer that an activation follows (so not after the output layer),
    before that activation. The layers keep their biases, redundant before a batch norm
    (chapter 08), so that the two networks differ only by the normalization."""
    layers = list(model)
    out: list[nn.Module] = []
    for index, layer in enumerate(layers):
        out.append(layer)
        last = all(not isinstance(after, nn.Conv2d | nn.Linear) for after in layers[index + 1:])
        if last:
            continue
        if isinstance(layer, nn.Conv2d):
            out.append(nn.BatchNorm2d(layer.out_channels))
        elif isinstance(layer, nn.Linear):
            out.append(nn.BatchNorm1d(layer.out_features))
    return nn.Sequential(*out)


def _finite(value: float) -> float | None:
    """A float for the JSON cache; None where a run diverged (NaN or infinite loss)."""
    value = float(value)
    return value if math.isfinite(value) else None


def run(build: Callable[[], nn.Module], tensors, train_one_epoch: Callable,
        evaluate: Callable, *, seed: int, epochs: int, lr: float, momentum: float = 0.9,
        schedule: str = "constant", batch_size: int = 64, batchnorm: bool = False,
        ema_decay: float | None = None, swa_start: int | None = None,
        threads: int | None = None) -> dict:
    """One seeded run of SGD with momentum from a fresh ``build()``; its per-epoch curves.

    Epoch ``e`` (from 0) is chapter 09's ``fit`` for one epoch with shuffling seed
    ``1000 * seed + e``, as ``descent.lab.experiment.run`` seeds it. With ``ema_decay`` ρ, an
    ``AveragedModel`` keeps the EMA of the weights, updated after every step; with
    ``swa_start`` s, another keeps the equal average of the weights at the end of epochs
    s, s + 1, … (counted from 1), SWA. Both are evaluated after every epoch (SWA from epoch s).
    Returns the curves of ``fit`` (``train_loss``, ``val_loss``, ``val_acc`` …; None where a
    loss is not finite), ``lr``: η sampled :data:`LR_SAMPLES_PER_EPOCH` times per epoch from
    step 0, at the epochs ``lr_epoch``, and ``ema_*``, ``swa_*`` curves when asked for.
    """
    x_train = tensors[0]
    device = x_train.device
    prepare(device, seed, threads)
    model = build()
    if batchnorm:
        model = with_batchnorm(model)
    model = model.to(device)
    sgd = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = steps_per_epoch * epochs
    lr_schedule = scheduler(schedule, sgd, total)
    every = max(1, steps_per_epoch // LR_SAMPLES_PER_EPOCH)
    rates, at = [sgd.param_groups[0]["lr"]], [0.0]
    step = [0]

    def after_step() -> None:
        lr_schedule.step()
        step[0] += 1
        if step[0] % every == 0:
            rates.append(sgd.param_groups[0]["lr"])
            at.append(step[0] / steps_per_epoch)

    hooks = [after_step]
    ema = swa = None
    if ema_decay is not None:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
        hooks.append(lambda: ema.update_parameters(model))
    if swa_start is not None:
        swa = AveragedModel(model)
    optimizer = StepHooks(sgd, *hooks)

    history: dict[str, list] = {}

    def record(name: str, value: float) -> None:
        history.setdefault(name, []).append(_finite(value))

    def record_average(prefix: str, average: AveragedModel) -> None:
        loss, accuracy = evaluate(average.module, *tensors[2:])
        record(f"{prefix}_val_loss", loss)
        record(f"{prefix}_val_acc", accuracy)

    for epoch in range(epochs):
        curves = fit(model, tensors, optimizer, train_one_epoch, evaluate, epochs=1,
                     batch_size=batch_size, seed=1000 * seed + epoch, progress=False)
        for name, values in curves.items():
            record(name, values[0])
        if ema is not None:
            record_average("ema", ema)
        if swa is not None and epoch + 1 >= swa_start:
            swa.update_parameters(model)
            record_average("swa", swa)
    history["lr"], history["lr_epoch"] = rates, at
    if swa is not None:
        history["swa_epochs"] = list(range(swa_start, epochs + 1))
    return history
