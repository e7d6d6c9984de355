"""Figures of chapter 06: the schedules side by side, noisy SGD under each of them, and SGD's
convergence on a quadratic computed exactly.

The schedules are passed in, as a dict from their function names to functions with the
chapter's interfaces (the model answers on the page, a student's own in their notebook):
``name_lr(step, lr0, ...) -> lr`` and ``reduce_on_plateau(metric, lr, state, **hyper) ->
(lr, state)``. This module only runs plain NumPy that is not an exercise, and draws.

Every demo uses the same setting: T = 300 updates from η₀ = 0.04, each schedule parametrized
so that it ends near ``ratio``·η₀ (the lecture notes' η_τ = η₀/100 by default), and SGD on the
bowl x² + 10y² of :mod:`descent.surfaces` with gradient noise, θ ← θ − η_t(∇L(θ) + σξ_t),
ξ_t ~ N(0, I) drawn from ``np.random.default_rng(seed)``. The convergence figure needs no
sampling: on L(θ) = ½λθ² the mean square error obeys an exact recursion
(:func:`mean_square_error`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from descent.plots import draw_surface, figure, major_ticks_only
from descent.race import power_of_ten_ticks
from descent.surfaces import SURFACES

#: Updates per run, initial learning rate, and steps per "epoch" of reduce-on-plateau.
STEPS, LR0, EPOCH = 300, 0.04, 10
#: Reduce-on-plateau's settings in the demos: halve after two epochs without improvement.
PLATEAU = {"factor": 0.5, "patience": 2}
#: The schedules of the demos, in order, with their colours.
COLORS = {
    "constant": "#7f7f7f",
    "piecewise linear": "#1f77b4",
    "step": "#ff7f0e",
    "exponential": "#2ca02c",
    "1/t": "#d62728",
    "cosine + warm-up": "#9467bd",
    "reduce on plateau": "#8c564b",
}
BOWL = SURFACES["ellipse"]
#: The bowl near its minimum, where the late iterates bounce.
ZOOM = dataclasses.replace(BOWL, xlim=(-0.8, 0.8), ylim=(-0.4, 0.4))


def recipes(ratio: float, steps: int = STEPS, lr0: float = LR0) -> dict[str, tuple[str, dict]]:
    """Label -> (function name, arguments) of each timetable, ending near ``ratio``·η₀.

    Piecewise linear reaches η_τ = ratio·η₀ at τ = 3T/4 and stays; step decay cuts by the
    same factor every T/4 steps and reaches ratio·η₀ for the last quarter; exponential and
    1/t reach it at the last step; the cosine warms up for T/10 steps and ends at it.
    """
    last = steps - 1
    return {
        "piecewise linear": ("piecewise_linear_lr",
                             {"lr0": lr0, "lr_tau": ratio * lr0, "tau": 3 * steps // 4}),
        "step": ("step_lr", {"lr0": lr0, "step_size": steps // 4, "gamma": ratio ** (1 / 3)}),
        "exponential": ("exponential_lr", {"lr0": lr0, "gamma": ratio ** (1 / last)}),
        "1/t": ("inverse_time_lr", {"lr0": lr0, "decay": (1 / ratio - 1) / last}),
        "cosine + warm-up": ("cosine_warmup_lr", {"lr0": lr0, "warmup_steps": steps // 10,
                                                  "total_steps": steps,
                                                  "lr_min": ratio * lr0}),
    }


def timetables(schedules: Mapping[str, Callable], ratio: float, steps: int = STEPS,
               lr0: float = LR0) -> dict[str, np.ndarray]:
    """Label -> η_t for t = 0..T−1: the constant rate, then every schedule of :func:`recipes`."""
    tables = {"constant": np.full(steps, lr0)}
    for label, (name, kwargs) in recipes(ratio, steps, lr0).items():
        tables[label] = np.array([schedules[name](t, **kwargs) for t in range(steps)], float)
    return tables


# ------------------------------------------------------------------ noisy SGD on the bowl


@dataclasses.dataclass
class Runs:
    """Noisy SGD from the bowl's start, one run per seed."""

    paths: np.ndarray  # (T + 1, seeds, 2)
    lrs: np.ndarray  # (T, seeds): the rate η_t of each update

    @property
    def losses(self) -> np.ndarray:
        """L(θ_t), shape (T + 1, seeds)."""
        return BOWL.loss(self.paths)


def noisy_sgd(lrs, sigma: float, seeds: Sequence[int] = range(20), *,
              plateau: Callable | None = None, epoch: int = EPOCH, **hyper) -> Runs:
    """θ ← θ − η_t(∇L(θ) + σξ_t) on x² + 10y² from (7, 5), for every seed at once.

    ``lrs`` is the timetable η_0..η_{T−1}. With ``plateau`` (reduce-on-plateau's interface),
    ``lrs`` gives only T and η₀: the rate is updated after every ``epoch`` steps with the
    mean loss of that epoch's iterates, separately for each seed, with ``hyper``.
    """
    lrs = np.asarray(lrs, dtype=float)
    steps, count = len(lrs), len(seeds)
    noise = np.stack([np.random.default_rng(seed).standard_normal((steps, 2))
                      for seed in seeds], axis=1)
    paths = np.empty((steps + 1, count, 2))
    paths[0] = BOWL.start
    used = np.empty((steps, count))
    rate, states = np.full(count, lrs[0]), [{} for _ in seeds]
    for t in range(steps):
        if plateau is None:
            rate = np.full(count, lrs[t])
        elif t and t % epoch == 0:
            metric = BOWL.loss(paths[t - epoch + 1:t + 1]).mean(axis=0)
            for i in range(count):
                rate[i], states[i] = plateau(float(metric[i]), float(rate[i]), states[i],
                                             **hyper)
        used[t] = rate
        paths[t + 1] = paths[t] - rate[:, None] * (BOWL.grad(paths[t]) + sigma * noise[t])
    return Runs(paths, used)


def all_runs(schedules: Mapping[str, Callable], sigma: float, ratio: float = 0.01,
             seeds: Sequence[int] = range(20)) -> dict[str, Runs]:
    """Label -> :class:`Runs` of every timetable, and of reduce-on-plateau (with PLATEAU)."""
    runs = {label: noisy_sgd(lrs, sigma, seeds)
            for label, lrs in timetables(schedules, ratio).items()}
    runs["reduce on plateau"] = noisy_sgd(np.full(STEPS, LR0), sigma, seeds,
                                          plateau=schedules["reduce_on_plateau"], **PLATEAU)
    return runs


def bowl_noise_floor(lr: float, sigma: float, curvatures=(2.0, 20.0)) -> float:
    """The mean loss that SGD at a constant rate η settles to on a quadratic with noise σ.

    Along a direction of curvature λ, θ ← (1 − ηλ)θ − ησξ has stationary variance
    η²σ²/(1 − (1 − ηλ)²) = ησ²/(λ(2 − ηλ)), which costs λ/2 times that in loss.
    """
    return float(sum(lr * sigma**2 / (2 * (2 - lr * lam)) for lam in curvatures))


# ------------------------------------------------------------------ SGD's convergence, exactly

#: The a/t schedules of the convergence figure, as products aλ (λ = 1).
A_LAMBDA = (0.25, 0.5, 1.0, 2.0)
#: Their colours, light (slow) to dark.
A_COLORS = ("#fdae6b", "#e6550d", "#3182bd", "#08306b")


def mean_square_error(rates, curvature: float = 1.0, sigma: float = 1.0,
                      theta0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """E(θ_t − θ*)² of SGD and of its running average on L(θ) = ½λθ², exactly.

    SGD is θ_{t+1} = θ_t − η_t(λθ_t + σξ_t) from θ_0 = ``theta0``, with ξ_t independent of
    mean 0 and variance 1, and ``rates`` = η_0 … η_{T−1}. Squaring and taking expectations
    (the cross term vanishes) gives the exact recursion e_{t+1} = (1 − η_tλ)² e_t + η_t²σ².
    The running average θ̄_t = (θ_0 + … + θ_t)/(t + 1) is tracked through the joint second
    moments E θ_t θ̄_t and E θ̄_t², updated exactly in the same way.

    Returns ``(last, average)``: two arrays of length T + 1, E(θ_t − θ*)² and E(θ̄_t − θ*)².
    """
    lam, var = float(curvature), float(sigma) ** 2
    rates = [float(eta) for eta in np.asarray(rates, dtype=float)]
    a = b = c = float(theta0) ** 2  # E θ², E θ·θ̄, E θ̄²
    last, average = [a], [c]
    for t, eta in enumerate(rates, start=1):  # θ̄ holds t iterates before this step
        q = 1.0 - eta * lam
        a_next = q * q * a + eta * eta * var
        qb = q * b  # E θ_{t+1}·θ̄ before the update: the noise is independent of θ̄
        b = (t * qb + a_next) / (t + 1)
        c = (t * t * c + 2 * t * qb + a_next) / (t + 1) ** 2
        a = a_next
        last.append(a)
        average.append(c)
    return np.array(last), np.array(average)


def loglog_slope(t, values, start: int, stop: int) -> float:
    """The least-squares slope of log ``values`` against log ``t`` over ``start`` ≤ t ≤ ``stop``."""
    t, values = np.asarray(t, dtype=float), np.asarray(values, dtype=float)
    keep = (t >= start) & (t <= stop)
    return float(np.polyfit(np.log(t[keep]), np.log(values[keep]), 1)[0])


def convergence_curves(horizon: int = 100_000, sqrt_a: float = 0.5) -> dict[str, np.ndarray]:
    """The curves of :func:`convergence_figure`, with λ = σ = θ_0 = 1 and t = 1 … ``horizon``.

    ``"t"``; ``aλ = …`` for each a/t schedule of :data:`A_LAMBDA` (η_t = a/t for the step
    from θ_t, t ≥ 1, from θ_1 = 1); ``"1/√t"`` and ``"1/√t, averaged"`` for η_t = a/√t with
    a = ``sqrt_a``, the last iterate and the running average of θ_1 … θ_t.
    """
    t = np.arange(1, horizon + 1, dtype=float)
    curves = {"t": t}
    for product in A_LAMBDA:
        curves[f"aλ = {product:g}"] = mean_square_error(product / t[:-1])[0]
    last, average = mean_square_error(sqrt_a / np.sqrt(t[:-1]))
    curves["1/√t"], curves["1/√t, averaged"] = last, average
    return curves


def convergence_figure(horizon: int = 100_000, sqrt_a: float = 0.5):
    """E(θ_t − θ*)² on ½θ² with unit noise, log-log: η_t = a/t for several aλ (left), and
    η_t = a/√t, its last iterate and its running average (right).

    Every curve is the exact recursion of :func:`mean_square_error`, no sampling; the legend
    gives each slope, fitted over the last decade of steps.
    """
    curves = convergence_curves(horizon, sqrt_a)
    t = curves["t"]
    lo = max(horizon // 10, 1)
    fig, (left, right) = figure(2, figsize=(7.8, 3.4), sharey=True)
    for product, color in zip(A_LAMBDA, A_COLORS, strict=True):
        key = f"aλ = {product:g}"
        left.loglog(t, curves[key], color=color, lw=1.6,
                    label=f"{key}: slope {loglog_slope(t, curves[key], lo, horizon):.2f}")
    best = 1 / t  # σ²/(λ²t), reached by aλ = 1
    left.loglog(t, best, color="black", ls=":", lw=1.0, label="σ²/(λ²t)")
    left.set(xlabel="step t", ylabel="E(θ_t − θ*)²", title="η_t = a/t: last iterate")
    left.legend(fontsize=7, loc="lower left")
    right.loglog(t, curves["aλ = 1"], color=A_COLORS[2], lw=1.2, alpha=0.6,
                 label="a/t, aλ = 1 (the best a)")
    for key, color, style in (("1/√t", "#31a354", "-"), ("1/√t, averaged", "#006d2c", "--")):
        right.loglog(t, curves[key], color=color, ls=style, lw=1.6,
                     label=f"{key}: slope {loglog_slope(t, curves[key], lo, horizon):.2f}")
    right.loglog(t, sqrt_a / np.sqrt(t) / 2, color="#31a354", ls=":", lw=1.0,
                 label="floor of the current rate, η_tσ²/(2λ)")
    right.loglog(t, best, color="black", ls=":", lw=1.0)
    right.set(xlabel="step t", title=f"η_t = {sqrt_a:g}/√t: last iterate and average")
    right.legend(fontsize=7, loc="lower left")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.set_xlim(1, horizon)
        major_ticks_only(ax)
    return fig


# ------------------------------------------------------------------ figures


def _two_panels(right: float = 0.98, wspace: float = 0.3):
    """A figure with two panels side by side and fixed margins.

    The demos' static twins render dozens of frames; a fixed layout draws them about twice
    as fast as matplotlib's constrained layout.
    """
    return figure(2, figsize=(7.6, 3.3),
                  margins=dict(left=0.1, right=right, bottom=0.14, top=0.91, wspace=wspace))


def gallery_figure(schedules: Mapping[str, Callable], schedule: str, ratio: float):
    """Every timetable (grey) with ``schedule`` highlighted: η_t (left), Ση_i (right)."""
    tables = timetables(schedules, ratio)
    fig, (left, right) = _two_panels()
    t = np.arange(STEPS)
    for label, lrs in tables.items():
        chosen = label == schedule
        style = {"color": COLORS[label], "lw": 2.2, "zorder": 3} if chosen else {
            "color": "0.8", "lw": 1.0}
        left.plot(t, lrs, label=label if chosen else None, **style)
        right.plot(t, np.cumsum(lrs), **style)
    left.set(xlabel="step t", ylabel="learning rate η_t", ylim=(0, 1.08 * LR0),
             title=f"{schedule}, η_T ≈ η₀·{ratio:g}")
    left.legend(fontsize=8, loc="upper right")
    right.set(xlabel="step t", ylabel="Σ η_i", ylim=(0, 1.05 * LR0 * STEPS),
              title="distance budget: Σ η_i over i < t")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def robbins_monro_figure(schedules: Mapping[str, Callable], horizon: int = 10_000):
    """Partial sums Ση_i (left) and Ση_i² (right) up to ``horizon`` steps, log-log.

    Constant, 1/t (k = 0.01), η₀/√(1 + kt) and exponential (d = 0.999), all from η₀ = 0.04.
    """
    t = np.arange(horizon)
    rates = {
        "constant": (np.full(horizon, LR0), COLORS["constant"], "-"),
        "1/t": (np.array([schedules["inverse_time_lr"](s, LR0, 0.01) for s in t]),
                COLORS["1/t"], "-"),
        "1/√t": (LR0 / np.sqrt(1 + 0.01 * t), COLORS["1/t"], "--"),
        "exponential": (np.array([schedules["exponential_lr"](s, LR0, 0.999) for s in t]),
                        COLORS["exponential"], "-"),
    }
    fig, (left, right) = figure(2, figsize=(7.6, 3.2))
    for label, (lrs, color, ls) in rates.items():
        left.loglog(t + 1, np.cumsum(lrs), color=color, ls=ls, label=label)
        right.loglog(t + 1, np.cumsum(lrs**2), color=color, ls=ls, label=label)
    left.set(xlabel="steps t", title="Σ η_i: grows without bound?")
    right.set(xlabel="steps t", title="Σ η_i²: stays bounded?")
    left.legend(fontsize=8, loc="upper left")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        major_ticks_only(ax)
    return fig


def _loss_axis(ax) -> None:
    ax.set_yscale("log")
    ax.set(xlabel="step t", ylim=(1e-4, 1e3), xlim=(0, STEPS))
    power_of_ten_ticks(ax)
    ax.grid(alpha=0.3)


def bounce_figure(runs: Mapping[str, Runs], schedule: str, sigma: float, late: int = 150):
    """Where the late iterates bounce (left) and the mean loss over seeds (right).

    Left: the bowl near its minimum with the iterates of seed 0 after step ``late``, the
    constant rate's in grey and ``schedule``'s coloured by step. Right: the loss averaged
    over the seeds, per step, for both, and the constant rate's predicted noise floor.
    """
    fig, (left, right) = _two_panels(right=0.9, wspace=0.25)
    draw_surface(left, ZOOM, levels=12, resolution=80)
    constant, chosen = runs["constant"], runs[schedule]
    left.plot(*constant.paths[late:, 0].T, ".", color="0.65", ms=3, label="constant")
    left.scatter(*chosen.paths[late:, 0].T, c=np.arange(late, STEPS + 1), s=7,
                 cmap="viridis", zorder=4, label=f"{schedule} (dark: step {late}, light: {STEPS})")
    centre = np.median(chosen.paths[late:, 0], axis=0)
    if not (ZOOM.xlim[0] < centre[0] < ZOOM.xlim[1] and ZOOM.ylim[0] < centre[1] < ZOOM.ylim[1]):
        left.annotate(f"{schedule}: iterates near ({centre[0]:.2g}, {centre[1]:.2g}),\n"
                      "outside the view", (0.03, 0.95), xycoords="axes fraction", fontsize=7,
                      va="top", color=COLORS[schedule])
    left.set_title(f"iterates after step {late}, seed 0")
    left.legend(fontsize=7, loc="lower left", markerscale=2)
    t = np.arange(STEPS + 1)
    right.plot(t, constant.losses.mean(axis=1), color=COLORS["constant"], lw=1.0,
               label="constant")
    if schedule != "constant":
        right.plot(t, chosen.losses.mean(axis=1), color=COLORS[schedule], lw=1.4,
                   label=schedule)
    if sigma:
        right.axhline(bowl_noise_floor(LR0, sigma), color="black", ls=":", lw=1.0,
                      label="predicted floor, constant η₀")
    _loss_axis(right)
    right.set_title(f"mean loss over {chosen.paths.shape[1]} seeds, σ = {sigma:g}")
    right.legend(fontsize=7, loc="upper right")
    rate = right.twinx()
    rate.plot(np.arange(STEPS), chosen.lrs.mean(axis=1), color=COLORS[schedule], ls="--",
              lw=0.9)
    rate.set(ylim=(0, 4 * LR0), ylabel="η_t (dashed)")
    return fig


def final_loss_figure(runs: Mapping[str, Runs], sigma: float):
    """L(θ_T) per schedule: one dot per seed, a bar at the median, log scale."""
    fig, ax = figure(figsize=(7.0, 3.2))
    labels = list(runs)
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    for x, label in enumerate(labels):
        final = runs[label].losses[-1]
        ax.bar(x, np.median(final), color=COLORS[label], alpha=0.45, width=0.7)
        ax.plot(x + rng.uniform(-0.2, 0.2, final.size), final, ".", color=COLORS[label],
                ms=4)
    ax.axhline(bowl_noise_floor(LR0, sigma), color="black", ls=":", lw=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
    ax.set_yscale("log")
    power_of_ten_ticks(ax)
    ax.set(ylabel=f"loss after {STEPS} steps",
           title=f"final loss, {runs[labels[0]].paths.shape[1]} seeds, σ = {sigma:g} "
                 "(dotted: the constant rate's floor)")
    ax.grid(alpha=0.3, axis="y")
    return fig
