"""What the LeNet-5 lab's tests share: one torch thread, and a tiny random MNIST-shaped set."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread(monkeypatch):
    """Run on one torch thread (steady, repeatable timings and results), then restore; the
    lab's choice of settings (descent.lab.speed) sees one core, so it keeps one thread."""
    from descent.lab import speed

    monkeypatch.setattr(speed, "available_cores", lambda: 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(n_train: int = 96, n_val: int = 40, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random 28×28 images and labels, shaped as descent.data's tensors (train, then val)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n_train, 1, 28, 28, generator=generator),
            torch.randint(0, 10, (n_train,), generator=generator),
            torch.rand(n_val, 1, 28, 28, generator=generator),
            torch.randint(0, 10, (n_val,), generator=generator))
