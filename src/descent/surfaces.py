"""Loss surfaces shared by the chapters, each with its gradient in closed form."""

from __future__ import annotations

import numpy as np
from scipy.special import expit  # the logistic function, used here as a smooth step


def cliff_loss(theta, height: float = 10.0, steepness: float = 60.0, edge: float = 1.5):
    """A bowl with a cliff: J(θ) = θ²/2 + H·s(k(θ − c)), with s the logistic step.

    For θ well above the edge c the loss sits H higher; around c it drops by H
    over a width of about 1/k, so the slope there reaches H·k/4 — a wall that
    throws a plain gradient step far away.
    """
    theta = np.asarray(theta, dtype=float)
    return 0.5 * theta**2 + height * expit(steepness * (theta - edge))


def cliff_grad(theta, height: float = 10.0, steepness: float = 60.0, edge: float = 1.5):
    """dJ/dθ = θ + H·k·s(u)(1 − s(u)), u = k(θ − c)."""
    theta = np.asarray(theta, dtype=float)
    step = expit(steepness * (theta - edge))
    return theta + height * steepness * step * (1.0 - step)
