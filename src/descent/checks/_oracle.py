"""What the PyTorch oracles of every chapter's checks share."""

from __future__ import annotations

import numpy as np
import torch


def float64_tensor(x, grad: bool = False) -> torch.Tensor:
    """``x`` (array-like) as a new float64 tensor, tracking gradients when ``grad``."""
    return torch.tensor(np.asarray(x, dtype=float), dtype=torch.float64, requires_grad=grad)
