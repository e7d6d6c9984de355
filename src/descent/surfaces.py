"""Loss surfaces shared by the chapters, each with its gradient in closed form.

Conventions: every surface is a pair ``<name>_loss(theta, ...)`` /
``<name>_grad(theta, ...)`` of plain NumPy functions, vectorized over ``theta``
(a float or an array of points), with the shape parameters as keyword arguments
of the same names and defaults in both. None of them is an exercise: they are
the landscapes the demos descend on.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit  # the logistic function, used here as a smooth step


def cliff_loss(theta, height: float = 10.0, steepness: float = 60.0, edge: float = 1.5):
    """A bowl with a cliff: J(θ) = θ²/2 + H · s(k(θ − c)), s(u) = 1 / (1 + e^(−u)).

    Above the edge c the loss sits H higher than the bowl; around c it falls by H
    over a width of about 4/k, so the wall's slope reaches H·k/4 (150 with the
    defaults H = 10, k = 60) while the bowl's slope next to it is only θ ≈ 1.5.
    A gradient step that lands on the wall is multiplied by that slope and thrown
    far down the other side of the bowl.
    """
    theta = np.asarray(theta, dtype=float)
    return 0.5 * theta**2 + height * expit(steepness * (theta - edge))


def cliff_grad(theta, height: float = 10.0, steepness: float = 60.0, edge: float = 1.5):
    """dJ/dθ = θ + H · k · s(u) · (1 − s(u)), with u = k(θ − c), of :func:`cliff_loss`."""
    theta = np.asarray(theta, dtype=float)
    step = expit(steepness * (theta - edge))
    return theta + height * steepness * step * (1.0 - step)
