"""Training throughput of LeNet-5: the lab's loop against a plain reference loop.

* the lab's loop: the data moved to the device once, the chapter's ``train_one_epoch``
  (mini-batches indexed on the device, losses summed there, one transfer per epoch),
  ``cudnn.benchmark`` on a GPU, bfloat16 autocast there when asked;
* a plain loop: ``DataLoader(TensorDataset(...), shuffle=True)`` with its defaults, each
  batch copied to the device, ``loss.item()`` after every step: what one writes first.

Both train the same model with Adam on the same images in the same run; each runs one
warm-up epoch (cuDNN's autotuning, allocator caches), then timed epochs between two
device synchronizations. Used by ``benchmarks/lenet_throughput.py`` and the chapter page.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from descent.lab.training import autocast, describe, prepare, synchronize


def plain_epoch(model, loader, optimizer, device) -> float:
    """The reference loop: one epoch over a DataLoader, as first written."""
    model.train()
    total = 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
    return total


def timed(epoch: Callable, device: torch.device, epochs: int) -> float:
    """Seconds per call of ``epoch()``, after one warm-up call."""
    epoch()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(epochs):
        epoch()
    synchronize(device)
    return (time.perf_counter() - started) / epochs


def measure(device: torch.device, x, y, build: Callable, train_one_epoch: Callable, *,
            epochs: int = 2, batch_size: int = 64, amp: bool = False) -> dict:
    """Both loops on ``device`` (``x``, ``y`` on the CPU): images/s, s/epoch, their ratio."""
    prepare(device, seed=0)
    model = build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_dev, y_dev = x.to(device), y.to(device)  # the lab's loop: moved once

    def ours():
        with autocast(device, amp):
            train_one_epoch(model, x_dev, y_dev, optimizer, batch_size=batch_size)

    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    plain_model = build().to(device)
    plain_optimizer = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    ours_s = timed(ours, device, epochs)
    plain_s = timed(lambda: plain_epoch(plain_model, loader, plain_optimizer, device), device,
                    epochs)
    n = len(y)
    return {"device": describe(device), "images": n, "batch_size": batch_size,
            "amp": amp and device.type == "cuda",
            "ours_images_per_s": n / ours_s, "ours_epoch_s": ours_s,
            "plain_images_per_s": n / plain_s, "plain_epoch_s": plain_s,
            "ratio": plain_s / ours_s}
