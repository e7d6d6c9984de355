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


def heavy_ball_rate(alpha, beta, curvatures) -> np.ndarray:
    """The heavy ball's convergence rate max_i |σ_i| on a quadratic with the given curvatures.

    Along an eigen-direction of curvature λ, v ← βv + αλθ, θ ← θ − v is the linear map
    (θ_t, θ_{t−1}) ↦ (θ_{t+1}, θ_t) with matrix [[1 + β − αλ, −β], [1, 0]], whose
    eigenvalues are the roots of σ² − (1 + β − αλ)σ + β = 0. The error shrinks like ρᵗ
    with ρ the largest |σ| over all directions; ρ ≥ 1 means divergence. Vectorized over
    ``alpha`` and ``beta`` (broadcast together).
    """
    alpha, beta = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(beta, float))
    rate = np.zeros(alpha.shape)
    for lam in np.atleast_1d(curvatures):
        trace = 1 + beta - alpha * lam
        root = np.sqrt((trace**2 - 4 * beta).astype(complex))
        radius = np.maximum(np.abs((trace + root) / 2), np.abs((trace - root) / 2))
        rate = np.maximum(rate, radius)
    return rate


_ALPHAS = np.linspace(0.0, 0.25, 201)
_BETAS = np.linspace(0.0, 0.99, 161)


@cache
def _rate_grid(curvatures: tuple) -> np.ndarray:
    """ρ on the phase diagram's (β, α) grid, computed once per problem."""
    return heavy_ball_rate(_ALPHAS[None, :], _BETAS[:, None], curvatures)


def momentum_phase_figure(momentum_step: Callable, lr: float, momentum: float,
                          curvatures=(2.0, 20.0), steps: int = 60):
    """The (α, β) plane coloured by the heavy ball's rate, and one run at the chosen point.

    Left: ρ(α, β) on x² + 10y² (curvatures 2 and 20), the stable region ρ < 1 outlined and
    Polyak's optimum marked. Right: the loss of ``momentum_step`` from (7, 5) at the chosen
    (α, β) against the predicted envelope ρ^(2t) (the loss is quadratic in the error).
    """
    curvatures = tuple(float(c) for c in curvatures)
    lam_min, lam_max = min(curvatures), max(curvatures)
    rate = _rate_grid(curvatures)
    fig, (left, right) = figure(2, figsize=(7.6, 3.3),
                                margins=dict(left=0.08, right=0.98, bottom=0.15, top=0.91,
                                             wspace=0.38))
    image = left.imshow(np.minimum(rate, 1.2), origin="lower", aspect="auto", cmap="viridis_r",
                        vmin=0.0, vmax=1.2, extent=(_ALPHAS[0], _ALPHAS[-1], _BETAS[0], _BETAS[-1]),
                        interpolation="nearest")
    left.contour(_ALPHAS, _BETAS, rate, levels=[1.0], colors="white", linewidths=1.2)
    root_max, root_min = np.sqrt(lam_max), np.sqrt(lam_min)
    best_alpha = 4 / (root_max + root_min) ** 2
    best_beta = ((root_max - root_min) / (root_max + root_min)) ** 2
    left.plot(best_alpha, best_beta, marker="*", ms=11, color="white", ls="none",
              label=f"optimum ρ = {float(heavy_ball_rate(best_alpha, best_beta, curvatures)):.2f}")
    chosen = float(heavy_ball_rate(lr, momentum, curvatures))
    left.plot(lr, momentum, marker="o", ms=7, color="#d62728", mec="white", ls="none",
              label=f"chosen ρ = {chosen:.3f}")
    left.set(xlabel="learning rate α", ylabel="momentum β", title="rate ρ = max |σᵢ|")
    left.legend(fontsize=7, loc="lower right")
    fig.colorbar(image, ax=left, shrink=0.9, pad=0.02)

    surface = SURFACES["ellipse"]
    path = run(momentum_step, surface.grad, surface.start, steps, lr=lr, momentum=momentum)
    loss = surface.loss(path)
    t = np.arange(steps + 1)
    right.semilogy(t, np.maximum(loss, 1e-30), color=PALETTE["momentum"], lw=1.2,
                   label="heavy ball on x² + 10y²")
    right.semilogy(t, loss[0] * chosen ** (2.0 * t), color="black", ls="--", lw=0.9,
                   label="loss₀ · ρ^(2t)")
    right.set(xlabel="step", ylim=(1e-12, 1e6), xlim=(0, steps),
              title=f"loss, α = {lr:g}, β = {momentum:g}")
    power_of_ten_ticks(right, numticks=7)
    right.legend(fontsize=7, loc="lower left")
    right.grid(alpha=0.3)
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
    lr/√t. The average loss (big − 2)/3 · x is minimized at x = −1. Returns x_1..x_T.
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

    Plain gradient descent is the same rule with κ = φ = 0 (the rates never change).
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
    right.annotate("2/λ_y: y oscillates above", (steps * 0.35, 0.105), fontsize=7)
    right.set(xlabel="step", ylabel="per-parameter rate ηᵢ", title="the rates it learns")
    right.legend(fontsize=7, loc="upper left")
    right.grid(alpha=0.3)
    return fig


def noise_figure(noisy_sgd_step: Callable, lr: float = 0.1, eta: float = 0.3,
                 gamma: float = 0.55, steps: int = 40, seeds=(0, 1, 2)):
    """Annealed gradient noise: σ_t over time (left) and escapes from a saddle (right).

    Right: x² − y² started exactly on the ridge, (7, 0). Without noise (η = 0) the
    gradient has no y component, so descent walks into the saddle point and stays; with
    noise each seed is pushed off the ridge and escapes downhill along ±y.
    """
    fig, (left, right) = figure(2, figsize=(7.6, 3.3))
    t = np.arange(0, 1000)
    for g in (0.55, 1.0):
        left.loglog(t + 1, np.sqrt(eta / (1 + t) ** g), lw=1.2,
                    color=PALETTE["noisy_sgd"], ls="-" if g == 0.55 else "--",
                    label=f"γ = {g:g}")
    left.set(xlabel="1 + t", ylabel="σ_t", title=f"noise scale, η = {eta:g}")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    major_ticks_only(left)

    surface = SURFACES["saddle"]
    draw_surface(right, surface, levels=20, resolution=120)
    start = np.array([7.0, 0.0])
    plain = run(noisy_sgd_step, surface.grad, start, steps, lr=lr, eta=0.0, gamma=gamma)
    draw_path(right, plain, color="0.3", label="η = 0: stuck at the saddle")
    for seed in seeds:
        path = run(noisy_sgd_step, surface.grad, start, steps, lr=lr, eta=eta, gamma=gamma,
                   seed=seed)
        draw_path(right, path, color=PALETTE["noisy_sgd"],
                  label=f"η = {eta:g}, seeds {', '.join(map(str, seeds))}" if seed == seeds[0]
                  else None)
    right.set_title(f"from (7, 0) on x² − y², lr {lr:g}, {steps} steps")
    right.legend(fontsize=7, loc="lower left")
    return fig
