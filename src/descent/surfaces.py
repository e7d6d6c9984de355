"""Loss surfaces shared by the chapters, each with its gradient in closed form.

Conventions: every surface is a pair ``<name>_loss(theta, ...)`` /
``<name>_grad(theta, ...)`` of plain NumPy functions, vectorized over ``theta``
(a float or an array of points), with the shape parameters as keyword arguments
of the same names and defaults in both. None of them is an exercise: they are
the landscapes the demos descend on. :data:`SURFACES` names the 2-D ones the
optimizer chapters race on, each with its start point and view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


# ------------------------------------------------------------------ two-dimensional surfaces
# Points are arrays whose last axis holds (x, y): one point of shape (2,), a trajectory of
# shape (T, 2) or a grid of shape (H, W, 2) for contour plots all go through the same code.


def _xy(theta):
    # Arrays (and tensors, which the tests differentiate with autograd) pass through.
    if not hasattr(theta, "shape"):
        theta = np.asarray(theta, dtype=float)
    return theta[..., 0], theta[..., 1]


def ellipse_loss(theta, a: float = 1.0, b: float = 10.0):
    """J(x, y) = a·x² + b·y²: a convex bowl whose condition number is b/a (10 by default).

    The Hessian is diag(2a, 2b), so gradient descent is stable for α < 2/(2b) = 1/b and
    the x direction, with curvature b/a times smaller, is the slow one.
    """
    x, y = _xy(theta)
    return a * x**2 + b * y**2


def ellipse_grad(theta, a: float = 1.0, b: float = 10.0):
    """∇J = (2a·x, 2b·y) of :func:`ellipse_loss`."""
    x, y = _xy(theta)
    return np.stack([2 * a * x, 2 * b * y], axis=-1)


def saddle_loss(theta):
    """J(x, y) = x² − y²: a saddle at the origin, a minimum along x and a maximum along y.

    Started at y ≈ 0 the gradient along y is nearly zero, so plain gradient descent
    walks to the saddle point and only slowly leaves it.
    """
    x, y = _xy(theta)
    return x**2 - y**2


def saddle_grad(theta):
    """∇J = (2x, −2y) of :func:`saddle_loss`."""
    x, y = _xy(theta)
    return np.stack([2 * x, -2 * y], axis=-1)


def beale_loss(theta):
    """Beale's function (1958): (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)².

    Its minimum is 0 at (3, 0.5), at the end of a long flat valley; its walls are steep
    (the loss reaches 10⁵ at the corners of [−4.5, 4.5]²), so it punishes large steps.
    """
    x, y = _xy(theta)
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def beale_grad(theta):
    """The gradient of :func:`beale_loss`, term by term by the chain rule."""
    x, y = _xy(theta)
    r1, r2, r3 = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    dx = 2 * r1 * (y - 1) + 2 * r2 * (y**2 - 1) + 2 * r3 * (y**3 - 1)
    dy = 2 * r1 * x + 2 * r2 * 2 * x * y + 2 * r3 * 3 * x * y**2
    return np.stack([dx, dy], axis=-1)


def rosenbrock_loss(theta, a: float = 1.0, b: float = 100.0):
    """Rosenbrock's function (1960): (a − x)² + b(y − x²)², minimum 0 at (a, a²).

    The minimum lies in a narrow curved valley: finding the valley is easy, following
    its bend to the minimum is slow for every first-order method.
    """
    x, y = _xy(theta)
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rosenbrock_grad(theta, a: float = 1.0, b: float = 100.0):
    """∇J = (−2(a − x) − 4b·x(y − x²), 2b(y − x²)) of :func:`rosenbrock_loss`."""
    x, y = _xy(theta)
    return np.stack([-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)], axis=-1)


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface as the demos use it: the functions, a start and a view."""

    title: str
    loss: Callable
    grad: Callable
    start: tuple[float, float]
    minimum: tuple[float, float] | None  # None when the loss is unbounded below
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_levels: bool = False  # contour levels spaced logarithmically (steep surfaces)


#: The surfaces the optimizer chapters race on, by name.
SURFACES = {
    "ellipse": Surface("x² + 10y²", ellipse_loss, ellipse_grad, (7.0, 5.0), (0.0, 0.0),
                       (-8.0, 8.0), (-6.0, 6.0)),
    "saddle": Surface("x² − y²", saddle_loss, saddle_grad, (7.0, 0.001), None,
                      (-8.0, 8.0), (-4.0, 4.0)),
    "beale": Surface("Beale", beale_loss, beale_grad, (1.0, 1.5), (3.0, 0.5),
                     (-4.5, 4.5), (-4.5, 4.5), log_levels=True),
    "rosenbrock": Surface("Rosenbrock", rosenbrock_loss, rosenbrock_grad, (-1.5, 2.0),
                          (1.0, 1.0), (-2.0, 2.0), (-1.0, 3.0), log_levels=True),
}
