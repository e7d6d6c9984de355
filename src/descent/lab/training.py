"""Devices and the loop around a student's epoch: what every run of the lab shares.

The exercises of chapter 09 write the two functions that touch the data,
``train_one_epoch(model, X, y, optimizer, batch_size, seed)`` and
``evaluate(model, X, y, batch_size)``; :func:`fit` calls them once per epoch, on tensors
already moved to the device (once, by :func:`to_device`), and records the curves.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable

import torch

#: The curves :func:`fit` records, one value per epoch.
CURVES = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def devices() -> list[torch.device]:
    """Every device present here: the CPU, then CUDA and Apple's MPS when available."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(torch.device("mps"))
    return found


def pick_device(name: str | None = None) -> torch.device:
    """``name`` (or ``$DESCENT_DEVICE``) if given, else CUDA, else Apple's MPS, else the CPU."""
    name = name or os.environ.get("DESCENT_DEVICE")
    if name:
        return torch.device(name)
    cpu, *accelerators = devices()
    return accelerators[0] if accelerators else cpu


def describe(device: torch.device) -> str:
    """A short name for the figures: "cuda (NVIDIA H100 …)", "cpu (1 thread)"."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' * (threads != 1)})"
    return device.type


def prepare(device: torch.device, seed: int = 0, threads: int | None = None) -> None:
    """Seed every generator; tune the backend for ``device``.

    On a GPU, ``cudnn.benchmark`` lets cuDNN time its convolution algorithms once per
    input shape and keep the fastest (not bit-reproducible). On the CPU, a fixed seed and a
    fixed number of threads make a run repeat exactly.
    """
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work: GPU calls return before the work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def to_device(data, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_val, y_val) of a :class:`descent.data.Digits`, on ``device``.

    Called once per experiment: the epochs then index tensors that are already there,
    instead of copying every mini-batch from host memory.
    """
    return tuple(t.to(device) for t in (data.x_train, data.y_train, data.x_val, data.y_val))


def autocast(device: torch.device, enabled: bool):
    """Mixed precision on a GPU (bfloat16: no loss scaling needed); nothing elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fit(model, tensors, optimizer, train_one_epoch: Callable, evaluate: Callable, *,
        epochs: int, batch_size: int = 64, seed: int = 0, amp: bool = False,
        progress: bool = True, label: str = "") -> dict[str, list[float]]:
    """Train ``model`` for ``epochs`` epochs; the per-epoch curves (see :data:`CURVES`).

    ``tensors`` come from :func:`to_device`; epoch ``e`` shuffles with seed ``seed + e``.
    ``seconds`` is the time of the training epoch alone, device work included.
    """
    x_train, y_train, x_val, y_val = tensors
    device = x_train.device
    history = {name: [] for name in CURVES}
    bar = _bar(epochs, label, progress)
    for epoch in range(epochs):
        synchronize(device)
        started = time.perf_counter()
        with autocast(device, amp):
            train_loss, train_acc = train_one_epoch(model, x_train, y_train, optimizer,
                                                    batch_size=batch_size, seed=seed + epoch)
        synchronize(device)
        seconds = time.perf_counter() - started
        with torch.inference_mode(), autocast(device, amp):  # no autograd bookkeeping
            val_loss, val_acc = evaluate(model, x_val, y_val)
        for name, value in zip(CURVES, (train_loss, train_acc, val_loss, val_acc, seconds),
                               strict=True):
            history[name].append(float(value))
        bar.set_postfix(loss=f"{float(train_loss):.3f}", val_acc=f"{float(val_acc):.3f}")
        bar.update()
    bar.close()
    return history


def _bar(total: int, label: str, enabled: bool):
    from tqdm import tqdm

    from descent.widgets import static_mode

    return tqdm(total=total, desc=label or "epochs", unit="epoch", file=sys.stdout,
                disable=not enabled or static_mode(), leave=False)  # none on the website
