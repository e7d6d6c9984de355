"""Figures of chapter 05: the heavy ball's phase diagram, adaptive step sizes, side-by-side runs.

Every update rule is passed in as a function with the chapter's interface
``step(theta, grad, state, **hyper) -> (theta, state)`` (the model answers on the
page, a student's own in their notebook) and driven by :func:`descent.race.run`.
This module only does the plain NumPy that is not an exercise, and draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache

import numpy as np

from descent.plots import PALETTE, draw_path, draw_surface, figure, major_ticks_only
from descent.race import draw_race, power_of_ten_ticks, run, run_all
from descent.surfaces import SURFACES, Surface

#: name -> (step function, its hyper-parameters), e.g. ``{"adam": (adam_step, {"lr": 0.5})}``.
Runs = Mapping[str, tuple[Callable, dict]]


def first_step(mask) -> int | None:
    """The index of the first True in a boolean array, or None if there is none."""
    hits = np.flatnonzero(np.asarray(mask))
    return int(hits[0]) if hits.size else None


def compare_figure(runs: Runs, surface: Surface | str = "ellipse", steps: int = 50,
                   styles: Mapping[str, dict] | None = None, title: str | None = None):
    """Runs with their own hyper-parameters side by side: paths (left), loss per step (right)."""
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    fig, (left, right) = figure(2, figsize=(7.6, 3.3))
    draw_race(left, right, surface, run_all(runs, surface, steps), steps, styles)
    if title:
        left.set_title(title)
    return fig


# ----------------------------------------------------------------------- the heavy ball


def heavy_ball_rate(lr, momentum, curvatures) -> np.ndarray:
    """The heavy ball's convergence rate r = max |z| on a quadratic with the given curvatures.

    Along an eigen-direction of curvature λ, heavy ball with learning rate η and momentum μ
    is the linear map (θ_t, θ_{t−1}) ↦ (θ_{t+1}, θ_t) with matrix A = [[1 + μ − ηλ, −μ], [1, 0]],
    whose eigenvalues z are the roots of z² − (1 + μ − ηλ)z + μ = 0. The error shrinks like
    rᵗ with r the largest |z| over all directions (the spectral radius of A, maximized over
    the curvatures); r ≥ 1 means divergence. Vectorized over ``lr`` and ``momentum``
    (broadcast together).
    """
    lr, momentum = np.broadcast_arrays(np.asarray(lr, float), np.asarray(momentum, float))
    rate = np.zeros(lr.shape)
    for lam in np.atleast_1d(curvatures):
        trace = 1 + momentum - lr * lam
        root = np.sqrt((trace**2 - 4 * momentum).astype(complex))
        radius = np.maximum(np.abs((trace + root) / 2), np.abs((trace - root) / 2))
        rate = np.maximum(rate, radius)
    return rate


def polyak_optimum(lam_min: float, lam_max: float) -> tuple[float, float]:
    """Polyak's (η*, μ*) for heavy ball on a quadratic with curvatures in [λ_min, λ_max].

    η* = 4/(√λ_max + √λ_min)², μ* = ((√κ − 1)/(√κ + 1))²: every curvature then lies in the
    underdamped band, where the rate is √μ* = (√κ − 1)/(√κ + 1).
    """
    root_max, root_min = np.sqrt(lam_max), np.sqrt(lam_min)
    return 4 / (root_max + root_min) ** 2, ((root_max - root_min) / (root_max + root_min)) ** 2


_LRS = np.linspace(0.0, 0.25, 201)
_MOMENTA = np.linspace(0.0, 0.99, 161)


@cache
def _rate_grid(curvatures: tuple) -> np.ndarray:
    """r on the phase diagram's (μ, η) grid, computed once per problem."""
    return heavy_ball_rate(_LRS[None, :], _MOMENTA[:, None], curvatures)


def momentum_phase_figure(momentum_step: Callable, lr: float, momentum: float,
                          curvatures=(2.0, 20.0), steps: int = 60):
    """The (η, μ) plane coloured by the heavy ball's rate, and one run at the chosen point.

    Left: r(η, μ) on x² + 10y² (curvatures 2 and 20), the stable region r < 1 outlined and
    Polyak's optimum marked. Right: the loss of ``momentum_step`` from (7, 5) at the chosen
    (η, μ) against the predicted envelope r^(2t) (the loss is quadratic in the error).
    """
    curvatures = tuple(float(c) for c in curvatures)
    rate = _rate_grid(curvatures)
    fig, (left, right) = figure(2, figsize=(7.6, 3.3),
                                margins=dict(left=0.08, right=0.98, bottom=0.15, top=0.91,
                                             wspace=0.38))
    image = left.imshow(np.minimum(rate, 1.2), origin="lower", aspect="auto", cmap="viridis_r",
                        vmin=0.0, vmax=1.2, extent=(_LRS[0], _LRS[-1], _MOMENTA[0], _MOMENTA[-1]),
                        interpolation="nearest")
    left.contour(_LRS, _MOMENTA, rate, levels=[1.0], colors="white", linewidths=1.2)
    best_lr, best_momentum = polyak_optimum(min(curvatures), max(curvatures))
    best_rate = float(heavy_ball_rate(best_lr, best_momentum, curvatures))
    left.plot(best_lr, best_momentum, marker="*", ms=11, color="white", ls="none",
              label=f"optimum r = {best_rate:.2f}")
    chosen = float(heavy_ball_rate(lr, momentum, curvatures))
    left.plot(lr, momentum, marker="o", ms=7, color="#d62728", mec="white", ls="none",
              label=f"chosen r = {chosen:.3f}")
    left.set(xlabel="learning rate η", ylabel="momentum μ", title="rate r = max |z|")
    left.legend(fontsize=7, loc="lower right")
    fig.colorbar(image, ax=left, shrink=0.9, pad=0.02)

    surface = SURFACES["ellipse"]
    path = run(momentum_step, surface.grad, surface.start, steps, lr=lr, momentum=momentum)
    loss = surface.loss(path)
    t = np.arange(steps + 1)
    right.semilogy(t, np.maximum(loss, 1e-30), color=PALETTE["momentum"], lw=1.2,
                   label="heavy ball on x² + 10y²")
    right.semilogy(t, loss[0] * chosen ** (2.0 * t), color="black", ls="--", lw=0.9,
                   label="loss₀ · r^(2t)")
    right.set(xlabel="step", ylim=(1e-12, 1e6), xlim=(0, steps),
              title=f"loss, η = {lr:g}, μ = {momentum:g}")
    power_of_ten_ticks(right, numticks=7)
    right.legend(fontsize=7, loc="lower left")
    right.grid(alpha=0.3)
    return fig


def momentum_regions_figure(momenta=(0.0, 0.25, 0.64, 0.9)):
    """Heavy ball along one eigen-direction: its rate against ηλ, and the (ηλ, μ) plane.

    Left: r = max |z| as a function of ηλ for a few μ; flat at √μ on the underdamped band
    (1 − √μ)² ≤ ηλ ≤ (1 + √μ)², with critical damping (the band's left end) marked, and
    r = 1 at ηλ = 2(1 + μ). Right: the plane coloured by r with the three boundaries.
    """
    fig, (left, right) = figure(2, figsize=(7.6, 3.3),
                                margins=dict(left=0.08, right=0.98, bottom=0.15, top=0.91,
                                             wspace=0.3))
    x = np.linspace(0.0, 4.0, 801)
    colors = ("0.35", "#ff7f0e", "#2ca02c", "#9467bd")
    for mu, color in zip(momenta, colors[-len(momenta):], strict=True):
        left.plot(x, heavy_ball_rate(x, mu, (1.0,)), color=color, lw=1.3, label=f"μ = {mu:g}")
        critical = (1 - np.sqrt(mu)) ** 2
        left.plot(critical, np.sqrt(mu), marker="o", ms=5, color=color, ls="none")
    left.axhline(1.0, color="black", lw=0.8, ls=":")
    left.set(xlabel="ηλ", ylabel="rate r = max |z|", xlim=(0, 4), ylim=(0, 1.3),
             title="one direction; dots: critical damping")
    left.legend(fontsize=7, loc="lower right")
    left.grid(alpha=0.3)

    mus = np.linspace(0.0, 0.99, 199)
    rate = heavy_ball_rate(x[None, :], mus[:, None], (1.0,))
    image = right.imshow(np.minimum(rate, 1.2), origin="lower", aspect="auto",
                         cmap="viridis_r", vmin=0.0, vmax=1.2,
                         extent=(x[0], x[-1], mus[0], mus[-1]), interpolation="nearest")
    fig.colorbar(image, ax=right, shrink=0.9, pad=0.02)
    root = np.sqrt(mus)
    right.plot((1 - root) ** 2, mus, color="white", lw=1.2)
    right.plot((1 + root) ** 2, mus, color="white", lw=1.2, ls="--")
    right.plot(2 * (1 + mus), mus, color="#d62728", lw=1.2)
    right.annotate("overdamped", xy=(0.03, 0.55), xytext=(0.3, 0.88), fontsize=7,
                   color="white", arrowprops=dict(arrowstyle="->", color="white", lw=0.8))
    right.annotate("underdamped:\nr = √μ", (0.9, 0.45), fontsize=7, color="white")
    right.annotate("overshoots", xy=(1.85, 0.06), xytext=(2.2, 0.45), fontsize=7,
                   color="white", arrowprops=dict(arrowstyle="->", color="white", lw=0.8))
    right.annotate("diverges", (3.1, 0.1), fontsize=7, color="white")
    right.set(xlabel="ηλ", ylabel="momentum μ", xlim=(0, 4), ylim=(0, 0.99),
              title="rate r over (ηλ, μ)")
    return fig


# ------------------------------------------------------------------------- step sizes


def step_sizes(runs: Runs, steps: int = 200, gradient: float = 1.0) -> dict[str, np.ndarray]:
    """|θ_t − θ_{t−1}| for t = 1..steps of each run fed the same constant 1-D gradient."""
    grad = np.full(1, float(gradient))
    return {name: np.abs(np.diff(run(step, lambda _theta: grad, np.zeros(1), steps,
                                     **hyper)[:, 0]))
            for name, (step, hyper) in runs.items()}


def step_sizes_figure(runs: Runs, steps: int = 200):
    """What each rule does with a steady gradient g = 1: its step length per update, log-log."""
    fig, ax = figure(figsize=(6.0, 3.2))
    t = np.arange(1, steps + 1)
    for name, size in step_sizes(runs, steps).items():
        ax.loglog(t, size, color=PALETTE.get(name.split()[0]), lw=1.4, label=name)
    ax.set(xlabel="step t", ylabel="|Δθ|", title="step length with a constant gradient g = 1")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    major_ticks_only(ax)
    return fig


# --------------------------------------------------------------------- AMSGrad vs Adam


def online_counterexample(step: Callable, steps: int = 3000, big: float = 3.0,
                          lr: float = 0.5, betas=(0.0, 0.1), start: float = 0.5) -> np.ndarray:
    """Reddi et al.'s (2018) online problem: f_t(x) = big·x when t mod 3 = 1, −x otherwise.

    x is kept in [−1, 1] (projected after every step) and the step size decays as
    η_t = lr/√t. The average loss (big − 2)/3 · x is minimized at x = −1. Returns x_1..x_T.
    """
    x, state, xs = np.array([start]), {}, np.empty(steps)
    for t in range(1, steps + 1):
        grad = np.array([big if t % 3 == 1 else -1.0])
        x, state = step(x, grad, state, lr=lr / np.sqrt(t), betas=betas)
        x = np.clip(np.asarray(x, dtype=float), -1.0, 1.0)
        xs[t - 1] = x[0]
    return xs


def counterexample_figure(adam_step: Callable, amsgrad_step: Callable, steps: int = 3000):
    """x_t of Adam and AMSGrad on Reddi et al.'s problem, β₁ = 0 and β₂ = 1/(1 + 3²)."""
    fig, ax = figure(figsize=(6.0, 3.0))
    for name, step in (("adam", adam_step), ("amsgrad", amsgrad_step)):
        ax.plot(np.arange(1, steps + 1), online_counterexample(step, steps), lw=1.0,
                color=PALETTE[name], label=name)
    ax.axhline(-1.0, color="black", ls=":", lw=0.9)
    ax.annotate("the minimum, x = −1", (3, -0.9))
    ax.set(xscale="log", xlabel="step t", ylabel="x_t", ylim=(-1.1, 1.1),
           title="f_t(x) = 3x every third step, −x otherwise")
    ax.legend(fontsize=8, loc="center left")
    ax.grid(alpha=0.3)
    return fig


# ----------------------------------------------------------- delta-bar-delta and noise


def delta_bar_delta_figure(delta_bar_delta_step: Callable, lr: float = 0.01,
                           kappa: float = 2e-3, steps: int = 100):
    """Delta-bar-delta on x² + 10y²: its path against plain descent, and its two rates.

    Plain gradient descent is the same rule with ``kappa`` = ``phi`` = 0 (the rates never
    change).
    """
    surface = SURFACES["ellipse"]
    learned = []  # the per-parameter rates after each step of the adapted run

    def recorded(theta, grad, state, **hyper):
        theta, state = delta_bar_delta_step(theta, grad, state, **hyper)
        learned.append(np.array(state["lr"], dtype=float))
        return theta, state

    plain = run(delta_bar_delta_step, surface.grad, surface.start, steps, lr=lr, kappa=0.0,
                phi=0.0)
    adapted = run(recorded, surface.grad, surface.start, steps, lr=lr, kappa=kappa)
    rates = np.full((steps, 2), np.nan)  # NaN after a divergence, as the path
    rates[:len(learned)] = np.reshape(learned, (-1, 2))
    fig, (left, right) = figure(2, figsize=(7.6, 3.3))
    draw_surface(left, surface, levels=20, resolution=120)
    for name, path in (("sgd", plain), ("delta_bar_delta", adapted)):
        final = surface.loss(path[-1])
        draw_path(left, path, color=PALETTE[name], label=f"{name}: loss {final:.2g}")
    left.legend(fontsize=7, loc="lower left")
    t = np.arange(1, steps + 1)
    color = PALETTE["delta_bar_delta"]
    right.plot(t, rates[:, 0], color=color, label="rate of x (curvature 2)")
    right.plot(t, rates[:, 1], color=color, ls="--", label="rate of y (curvature 20)")
    right.axhline(2 / 20, color="0.6", ls=":", lw=0.9)
    right.annotate("2/λ_y: y would diverge above", (steps * 0.35, 0.105), fontsize=7)
    right.set(xlabel="step", ylabel="per-parameter rate ηᵢ", title="the rates it learns")
    right.legend(fontsize=7, loc="upper left")
    right.grid(alpha=0.3)
    return fig


def noise_figure(noisy_sgd_step: Callable, lr: float = 0.1, c: float = 0.3,
                 p: float = 0.55, steps: int = 40, seeds=(0, 1, 2)):
    """Annealed gradient noise σ_t² = c/(1 + t)^p: σ_t over time (left), saddle escapes (right).

    ``c`` and ``p`` are passed to the step function as its ``eta`` and ``gamma`` (the names of
    Neelakantan et al.). Right: x² − y² started exactly on the ridge, (7, 0). Without noise
    (c = 0) the gradient has no y component, so descent walks into the saddle point and stays;
    with noise each seed is pushed off the ridge and escapes downhill along ±y.
    """
    fig, (left, right) = figure(2, figsize=(7.6, 3.3))
    t = np.arange(0, 1000)
    for power in (p, 1.0):
        left.loglog(t + 1, np.sqrt(c / (1 + t) ** power), lw=1.2,
                    color=PALETTE["noisy_sgd"], ls="-" if power == p else "--",
                    label=f"p = {power:g}")
    left.set(xlabel="1 + t", ylabel="σ_t", title=f"noise scale, c = {c:g}")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    major_ticks_only(left)

    surface = SURFACES["saddle"]
    draw_surface(right, surface, levels=20, resolution=120)
    start = np.array([7.0, 0.0])
    plain = run(noisy_sgd_step, surface.grad, start, steps, lr=lr, eta=0.0, gamma=p)
    draw_path(right, plain, color="0.3", label="c = 0: stuck at the saddle")
    for seed in seeds:
        path = run(noisy_sgd_step, surface.grad, start, steps, lr=lr, eta=c, gamma=p,
                   seed=seed)
        draw_path(right, path, color=PALETTE["noisy_sgd"],
                  label=f"c = {c:g}, seeds {', '.join(map(str, seeds))}" if seed == seeds[0]
                  else None)
    right.set_title(f"from (7, 0) on x² − y², η = {lr:g}, {steps} steps")
    right.legend(fontsize=7, loc="lower left")
    return fig
