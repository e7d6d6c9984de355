"""Figures of chapter 04: learning rates on x² + 10y², the curvature along the gradient,
batch vs mini-batch vs online SGD, and a saddle point's plateau.

What a student implements (``gradient_descent``, ``minibatch_sgd``, ``max_stable_lr``) is
passed in as a function, so the page draws with the model answers and a student's
notebook can draw with their own. This module only sets up the problems, runs the loops
and draws.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from matplotlib import colormaps

from descent.plots import PALETTE, draw_path, draw_surface, figure, major_ticks_only
from descent.surfaces import SURFACES

ELLIPSE = SURFACES["ellipse"]
SADDLE = SURFACES["saddle"]
#: The Hessian of x² + 10y²: constant, diag(2, 20), so Λ = λ_max = 20 and κ = 10.
ELLIPSE_HESSIAN = np.diag([2.0, 20.0])
_FRAME = "0.6"


def _grid(*axes) -> None:
    for ax in axes:
        ax.grid(alpha=0.3)


# ---------------------------------------------------------------- learning rates


def regime(lr: float, hessian=ELLIPSE_HESSIAN) -> str:
    """How gradient descent behaves on ½θᵀHθ (+ const) with step ``lr``, in words.

    Along eigenvalue λ the error is multiplied by 1 − lr·λ per step: a factor in (0, 1)
    converges monotonically, one in (−1, 0) converges while flipping sign, and one beyond
    ±1 diverges.
    """
    factors = 1.0 - lr * np.linalg.eigvalsh(np.asarray(hessian, dtype=float))
    worst = float(np.max(np.abs(factors)))
    if worst >= 1.0:
        return "diverges" if worst > 1.0 else "oscillates forever"
    if np.any(factors < 0):
        return "converges, oscillating"
    return "converges slowly" if worst > 0.97 else "converges"


def lr_figure(gradient_descent: Callable, max_stable_lr: Callable, lr: float, steps: int = 60):
    """GD on x² + 10y² from (7, 5): the path (left), the loss and the O(1/t) bound (right)."""
    path = np.asarray(gradient_descent(ELLIPSE.grad, np.array(ELLIPSE.start), lr, steps),
                      dtype=float)
    limit = float(max_stable_lr(ELLIPSE_HESSIAN))
    smoothness = 2.0 / limit  # Λ = λ_max
    fig, (plane, losses) = figure(2, figsize=(7.6, 3.4))
    draw_surface(plane, ELLIPSE)
    draw_path(plane, path, color=PALETTE["sgd"])
    factors = 1.0 - lr * np.diag(ELLIPSE_HESSIAN)
    plane.set_title(f"η = {lr:g}: {regime(lr)}\nper step x × {factors[0]:+.3f}, "
                    f"y × {factors[1]:+.3f}", fontsize="small")

    t = np.arange(steps + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        loss = ELLIPSE.loss(path)
    losses.semilogy(t, np.maximum(loss, 1e-16), color=PALETTE["sgd"], label="L(θ_t) − L*")
    if lr <= 1.0 / smoothness:
        start = float(np.sum(np.asarray(ELLIPSE.start) ** 2))
        losses.semilogy(t[1:], start / (2 * lr * t[1:]), color="black", ls="--", lw=1,
                        label="bound ‖θ₀ − θ*‖² / (2ηt)")
    else:
        losses.text(0.97, 0.97, f"η > 1/Λ = {1 / smoothness:g}:\nno O(1/t) guarantee",
                    transform=losses.transAxes, ha="right", va="top", fontsize="x-small")
    losses.set(title=f"loss (stable below 2/λ_max = {limit:g})", xlabel="step t",
               ylim=(1e-10, 1e8), xlim=(0, steps))
    major_ticks_only(losses)
    losses.legend(fontsize="x-small", loc="lower left")
    _grid(plane, losses)
    return fig


# ---------------------------------------------------------------- curvature along the gradient


def taylor_figure(max_stable_lr: Callable, start=(7.0, 1.0)):
    """One step θ₀ − ηg on x² + 10y²: the ray in the plane (left), the change of L (right).

    On a quadratic the second-order Taylor expansion is exact:
    L(θ₀ − ηg) − L(θ₀) = −η gᵀg + ½η² gᵀHg, a parabola in η with its minimum at
    η* = gᵀg / gᵀHg and back to zero at 2η*.
    """
    theta0 = np.asarray(start, dtype=float)
    g = ELLIPSE.grad(theta0)
    slope, curvature = float(g @ g), float(g @ ELLIPSE_HESSIAN @ g)
    best = slope / curvature
    limit = float(max_stable_lr(ELLIPSE_HESSIAN))
    alphas = np.linspace(0.0, max(2.6 * best, 1.3 * limit), 200)
    change = -alphas * slope + 0.5 * alphas**2 * curvature
    exact = ELLIPSE.loss(theta0[None] - alphas[:, None] * g) - ELLIPSE.loss(theta0)

    fig, (plane, line) = figure(2, figsize=(7.6, 3.4))
    draw_surface(plane, ELLIPSE)
    ray = theta0[None] - np.array([0.0, best, 2 * best])[:, None] * g
    plane.plot(*theta0, "o", color="black", ms=5)
    plane.annotate("", ray[2], theta0, arrowprops={"arrowstyle": "->", "color": PALETTE["sgd"]})
    plane.plot(*ray[1], "o", color=PALETTE["adam"], ms=5, label="η* (lowest L on the ray)")
    plane.plot(*ray[2], "s", color=PALETTE["momentum"], ms=5, label="2η* (back to L(θ₀))")
    plane.set_title(f"the ray θ₀ − ηg from θ₀ = ({theta0[0]:g}, {theta0[1]:g})",
                    fontsize="small")
    plane.legend(fontsize="x-small", loc="lower left")

    line.plot(alphas, exact, color=PALETTE["sgd"], lw=3, alpha=0.5, label="L(θ₀ − ηg) − L(θ₀)")
    line.plot(alphas, change, color="black", lw=1, label="−ηgᵀg + ½η²gᵀHg")
    line.plot(alphas, -alphas * slope, color="black", lw=0.8, ls=":", label="first order −ηgᵀg")
    line.axhline(0.0, color=_FRAME, lw=0.8)
    line.plot(best, -0.5 * slope * best, "o", color=PALETTE["adam"])
    line.plot(2 * best, 0.0, "s", color=PALETTE["momentum"])
    line.axvline(limit, color=PALETTE["rmsprop"], ls="--", lw=1,
                 label=f"2/λ_max = {limit:g}")
    line.annotate(f"η* = gᵀg/gᵀHg = {best:.3f}", (best, -0.5 * slope * best),
                  (best * 1.1, -0.62 * slope * best), fontsize="x-small")
    line.set(title="change of L after one step of size η", xlabel="step size η",
             ylim=(-0.75 * slope * best, 0.5 * slope * best), xlim=(0, alphas[-1]))
    line.legend(fontsize="x-small", loc="upper left")
    _grid(plane, line)
    return fig


# ---------------------------------------------------------------- batch size

BATCH_SIZES = (1, 4, 16, 64, 256)


@cache
def regression_problem(n: int = 256, dim: int = 10, noise: float = 0.5, seed: int = 0):
    """A least-squares problem: X (n, dim) standard normal, y = X·w + noise, θ₀ = 0.

    Returns (X, y, θ₀, L*) with L* the lowest full-batch loss ½·mean((Xθ − y)²).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=(n, dim))
    y = X @ rng.normal(0.0, 1.0, size=dim) + rng.normal(0.0, noise, size=n)
    best = np.linalg.lstsq(X, y, rcond=None)[0]
    return X, y, np.zeros(dim), full_loss(X, y, best)


def full_loss(X, y, theta):
    """½·mean((Xθ − y)²) for one θ of shape (d,) or many of shape (k, d)."""
    residual = np.asarray(theta, dtype=float) @ X.T - y
    return 0.5 * np.mean(residual**2, axis=-1)


@cache
def batch_size_runs(minibatch_sgd: Callable, lr: float = 0.05, epochs: int = 30,
                    seed: int = 0) -> dict[int, np.ndarray]:
    """Excess loss L(θ) − L* after each epoch (epoch 0 first), for every batch size."""
    X, y, theta0, best = regression_problem()
    runs = {}
    for batch_size in BATCH_SIZES:
        path = np.asarray(minibatch_sgd(X, y, theta0, lr, batch_size, epochs, seed), dtype=float)
        runs[batch_size] = full_loss(X, y, path) - best
    return runs


def batch_size_figure(minibatch_sgd: Callable, batch_size: int, lr: float = 0.05,
                      epochs: int = 30):
    """Excess loss per epoch (left) and per update (right); ``batch_size`` highlighted."""
    runs = batch_size_runs(minibatch_sgd, lr, epochs)
    n = len(regression_problem()[1])
    colors = colormaps["viridis"](np.linspace(0.0, 0.85, len(BATCH_SIZES)))
    fig, (per_epoch, per_update) = figure(2, figsize=(7.6, 3.4))
    epoch = np.arange(epochs + 1)
    for color, (size, excess) in zip(colors, runs.items(), strict=True):
        chosen = size == batch_size
        style = {"color": color, "lw": 2.4 if chosen else 1.0, "alpha": 1.0 if chosen else 0.35,
                 "label": f"N_s = {size}" + (" (full batch)" if size == n else "")}
        updates = epoch * -(-n // size)
        per_epoch.semilogy(epoch, excess, **style)
        per_update.loglog(np.maximum(updates, 0.8), excess, **style)
    updates_per_epoch = -(-n // batch_size)
    per_epoch.set(title=f"N_s = {batch_size}: {updates_per_epoch} update"
                  f"{'s' if updates_per_epoch > 1 else ''} per epoch", xlabel="epoch (passes "
                  f"over the N = {n} samples)", ylabel="L(θ) − L*", ylim=(1e-5, 20))
    per_update.set(title="the same runs per update", xlabel="updates (mini-batch gradients)",
                   ylim=(1e-5, 20))
    per_epoch.legend(fontsize="x-small", loc="lower left")
    major_ticks_only(per_epoch, per_update)
    _grid(per_epoch, per_update)
    return fig


# ---------------------------------------------------------------- saddle point


#: |L| below this counts as the plateau around the saddle's value L = 0.
PLATEAU = 0.5


def plateau_steps(path) -> int:
    """How many iterates of a path on x² − y² have |L| < PLATEAU."""
    return int(np.sum(np.abs(SADDLE.loss(np.asarray(path, dtype=float))) < PLATEAU))


def saddle_figure(gradient_descent: Callable, y0: float, lr: float = 0.05, steps: int = 250):
    """GD on x² − y² from (7, y0): the path (left); loss and ‖∇L‖ per step (right)."""
    start = np.array([SADDLE.start[0], y0])
    path = np.asarray(gradient_descent(SADDLE.grad, start, lr, steps), dtype=float)
    fig, (plane, losses) = figure(2, figsize=(7.6, 3.4))
    draw_surface(plane, SADDLE)
    plane.plot(0.0, 0.0, "x", color="black", ms=8, mew=2)
    draw_path(plane, path, color=PALETTE["sgd"], markevery=5)
    plane.set_title(f"start (7, {y0:g}), η = {lr:g}", fontsize="small")

    t = np.arange(steps + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        loss = SADDLE.loss(path)
        norm = np.linalg.norm(SADDLE.grad(path), axis=-1)
    losses.plot(t, loss, color=PALETTE["sgd"], label="L(θ_t) = x² − y²")
    losses.axhline(0.0, color=_FRAME, lw=0.8)
    losses.set(xlabel="step t", ylabel="loss", ylim=(-30, 55), xlim=(0, steps))
    flat = np.abs(loss) < PLATEAU
    if flat.any():
        first, last = t[flat][0], t[flat][-1]
        losses.axvspan(first, last, color=PALETTE["rmsprop"], alpha=0.12)
        losses.text((first + last) / 2, 40, f"|L| < {PLATEAU:g}\nfor {last - first + 1} steps",
                    ha="center", fontsize="x-small")
    gradient = losses.twinx()
    gradient.semilogy(t, norm, color=PALETTE["momentum"], lw=1, ls="--", label="‖∇L(θ_t)‖")
    gradient.set(ylim=(1e-4, 1e3), ylabel="gradient norm (dashed)")
    major_ticks_only(gradient)
    losses.set_title("loss (solid) and gradient norm (dashed)", fontsize="small")
    _grid(plane, losses)
    return fig


# ---------------------------------------------------------------- a real network's Hessian

def hessian_spectrum_figure(data: dict):
    """The cached Lanczos estimate of a small MLP's Hessian spectrum (scripts/hessian_spectrum.py).

    Left: every Ritz value with its quadrature weight (the share of the spectrum it
    stands for), at initialization and after training, on a symmetric log axis. Right:
    the ten largest eigenvalues, which Lanczos resolves exactly.
    """
    states = data["states"]
    styles = {"initialization": ("#7f7f7f", "o"), "trained": (PALETTE["adam"], "s")}
    fig, (density, top) = figure(2, figsize=(7.6, 3.4))
    for name, state in states.items():
        color, marker = styles.get(name, ("black", "^"))
        ritz, weights = np.asarray(state["ritz"]), np.asarray(state["weights"])
        label = (f"{name}: loss {state['loss']:.2f}, accuracy {100 * state['accuracy']:.0f} %")
        density.scatter(ritz, np.maximum(weights, 1e-12), s=14, color=color, marker=marker,
                        alpha=0.8, label=label)
        top.plot(range(1, len(state["top_ten"]) + 1), state["top_ten"], color=color,
                 marker=marker, label=f"{name}: λ_max = {state['lambda_max']:.2f}")
    density.set_xscale("symlog", linthresh=1e-3)
    density.set_yscale("log")
    density.axvline(0.0, color=_FRAME, lw=0.8)
    density.set_xticks([-1.0, -1e-2, 0.0, 1e-2, 1.0])
    density.set_xticklabels(["−1", "−0.01", "0", "0.01", "1"])
    density.set(title="Ritz values and their weights", xlabel="eigenvalue λ (symmetric log)",
                ylabel="weight (share of the spectrum)", ylim=(1e-8, 1.5))
    density.legend(fontsize="x-small", loc="lower left")
    top.set(title="the ten largest eigenvalues", xlabel="rank", ylabel="λ", ylim=(0, None))
    top.legend(fontsize="x-small", loc="upper right")
    _grid(density, top)
    major_ticks_only(density)
    return fig
