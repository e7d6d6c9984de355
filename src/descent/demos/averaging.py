"""Figures of chapter 07: averaging the iterates of a noisy optimizer.

The averages are passed in as functions (the chapter's model answers on the page, a
student's own in their notebook): ``tail_average(trajectory, n)``,
``ema_update(ema, theta, step, decay)``, ``ema_debiased(ema, step, decay)`` and
``average_parameters(averaged, params, n_averaged, decay)``. The noisy optimizer is
chapter 05's ``noisy_sgd_step`` with a constant noise level (p = 0 in its annealed noise
σ_t² = c/(1 + t)^p, the code's ``gamma``), driven by
:func:`descent.race.run`. This module only does the plain NumPy that is not an exercise,
and draws.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache

import numpy as np

from descent.plots import PALETTE, draw_surface, figure
from descent.race import power_of_ten_ticks, run
from descent.surfaces import SURFACES

#: x² + 10y², viewed around its minimum: the valley the noisy iterates bounce in.
VALLEY = dataclasses.replace(SURFACES["ellipse"], start=(2.5, 1.2), xlim=(-3.0, 3.0),
                             ylim=(-1.5, 1.5))
#: The learning rate η of the valley's runs: y is multiplied by q = 1 − 20·0.095 = −0.9 at
#: every step (it bounces from wall to wall), x by q = 1 − 2·0.095 = 0.81 (it drifts slowly).
VALLEY_LR = 0.095
#: One colour per kind of estimate, on every figure of the chapter.
COLORS = {"iterate": PALETTE["sgd"], "tail": "#1f77b4", "ema": "#d62728",
          "debiased": "#2ca02c", "swa": "#9467bd"}


def noisy_run(noisy_sgd_step: Callable, noise: float, steps: int = 150, seed: int = 0,
              lr: float = VALLEY_LR) -> np.ndarray:
    """θ_0 … θ_T of gradient descent with constant Gaussian gradient noise on the valley.

    ``noise`` is the variance σ² of the noise added to each gradient: chapter 05's annealed
    noise σ_t² = c/(1 + t)^p with c = σ² (the code's ``eta``) and p = 0 (its ``gamma``), so
    that it never decays. The iterate reaches the valley floor and then bounces around the
    minimum for ever.
    """
    return run(noisy_sgd_step, VALLEY.grad, VALLEY.start, steps, lr=lr, eta=noise, gamma=0.0,
               seed=seed)


def tail_averages(tail_average: Callable, path, n: int) -> np.ndarray:
    """θ̄_t = the average of the last n iterates up to step t, for every t (fewer at first)."""
    path = np.asarray(path, dtype=float)
    return np.array([np.asarray(tail_average(path[: t + 1], n), dtype=float)
                     for t in range(len(path))])


def ema_path(ema_update: Callable, path, decay: float, ema_debiased: Callable | None = None,
             start: str = "copy") -> np.ndarray:
    """The EMA of the iterates after every step, one row per row of ``path``.

    ``start="copy"``: m_0 = θ_0, as AveragedModel. ``start="zero"``: m_0 = 0, then the EMA
    after the k-th iterate is bias-corrected with ``ema_debiased`` when it is given
    (raw otherwise).
    """
    path = np.asarray(path, dtype=float)
    if start == "copy":
        ema, rows = path[0], [path[0]]
        for t in range(1, len(path)):
            ema, _ = ema_update(ema, path[t], t - 1, decay)
            rows.append(np.asarray(ema, dtype=float))
        return np.array(rows)
    ema, rows = np.zeros_like(path[0]), []
    for t in range(len(path)):
        ema, step = ema_update(ema, path[t], t, decay)
        rows.append(np.asarray(ema_debiased(ema, step, decay) if ema_debiased else ema,
                               dtype=float))
    return np.array(rows)


def distance(path, minimum=(0.0, 0.0)) -> np.ndarray:
    """‖θ_t − θ*‖ for every row of a path."""
    return np.linalg.norm(np.asarray(path, dtype=float) - np.asarray(minimum), axis=-1)


@cache
def _runs(noisy_sgd_step: Callable, noise: float, steps: int, runs: int) -> np.ndarray:
    """``runs`` noisy paths (seeds 0, 1, …), shape (runs, steps + 1, 2), computed once."""
    return np.array([noisy_run(noisy_sgd_step, noise, steps, seed) for seed in range(runs)])


@cache
def _tails(tail_average, noisy_sgd_step, noise, steps, runs, n) -> np.ndarray:
    return np.array([tail_averages(tail_average, path, n)
                     for path in _runs(noisy_sgd_step, noise, steps, runs)])


@cache
def _emas(ema_update, ema_debiased, noisy_sgd_step, noise, steps, runs, decay) -> np.ndarray:
    return np.array([ema_path(ema_update, path, decay, ema_debiased, "zero")
                     for path in _runs(noisy_sgd_step, noise, steps, runs)])


def valley_figure(noisy_sgd_step: Callable, tail_average: Callable, ema_update: Callable,
                  ema_debiased: Callable, n: int, decay: float, noise: float, steps: int = 150,
                  runs: int = 20):
    """The last iterate, its tail average and its EMA on the valley (left, the run of seed 0),
    and their root-mean-square distance to the minimum over ``runs`` runs (right, log scale).

    The EMA starts from 0 and is bias-corrected, so the start point keeps only its fair
    weight (a copy of θ_0 would keep the weight ρ^t, which lingers for 1/(1 − ρ) steps).
    """
    estimates = {
        "last iterate": (_runs(noisy_sgd_step, noise, steps, runs), COLORS["iterate"], 0.7),
        f"last-{n} average": (_tails(tail_average, noisy_sgd_step, noise, steps, runs, n),
                              COLORS["tail"], 1.4),
        f"EMA, ρ = {decay:g}": (_emas(ema_update, ema_debiased, noisy_sgd_step, noise, steps,
                                        runs, decay), COLORS["ema"], 1.4),
    }
    fig, (left, right) = figure(2, figsize=(7.6, 3.3),
                                margins=dict(left=0.09, right=0.98, bottom=0.14, top=0.91,
                                             wspace=0.3))
    draw_surface(left, VALLEY, levels=14, resolution=100)
    left.set_title(f"x² + 10y², noise σ² = {noise:g}, one run", fontsize=10)
    t = np.arange(steps + 1)
    second_half = slice(steps // 2, None)
    for label, (paths, color, width) in estimates.items():
        left.plot(paths[0, :, 0], paths[0, :, 1], color=color, lw=width)
        rms = np.sqrt(np.mean(distance(paths) ** 2, axis=0))
        right.semilogy(t, np.maximum(rms, 1e-4), color=color, lw=width,
                       label=f"{label}: {np.sqrt(np.mean(rms[second_half] ** 2)):.3f}")
    left.plot(*VALLEY.start, marker="o", ms=5, color="black", zorder=5)
    right.axvline(steps // 2, color="0.6", ls=":", lw=0.9)
    right.set(xlabel="step t", ylabel="RMS of ‖θ − θ*‖", xlim=(0, steps), ylim=(1e-2, 10))
    right.set_title(f"distance to the minimum, {runs} runs", fontsize=10)
    right.legend(fontsize=7, loc="upper right", title="RMS after the dotted line",
                 title_fontsize=7)
    power_of_ten_ticks(right, numticks=6)
    right.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------- starting an EMA


def sequence(kind: str, steps: int = 100, seed: int = 0) -> np.ndarray:
    """A noisy 1-D iterate sequence θ_1 … θ_T: around 3 ("constant"), or converging there
    from 0 with a time constant of 10 steps ("converging")."""
    noise = np.random.default_rng(seed).normal(0.0, 0.5, size=steps)
    t = np.arange(1, steps + 1)
    level = np.full(steps, 3.0) if kind == "constant" else 3.0 * (1 - np.exp(-t / 10))
    return level + noise


def ema_start_figure(ema_update: Callable, ema_debiased: Callable, decay: float,
                     kind: str = "constant", steps: int = 100):
    """Three ways to start an EMA on the same noisy sequence: from 0 (raw), from 0 with the
    bias correction, and from a copy of the first iterate (AveragedModel)."""
    values = sequence(kind, steps)
    column = values[:, None]
    fig, ax = figure(figsize=(6.6, 3.2))
    t = np.arange(1, steps + 1)
    ax.plot(t, values, ls="none", marker=".", ms=3, color=COLORS["iterate"], label="iterates θ_t")
    ax.plot(t, ema_path(ema_update, column, decay, start="zero")[:, 0], color=COLORS["ema"],
            ls="--", lw=1.3, label="EMA from m₀ = 0")
    ax.plot(t, ema_path(ema_update, column, decay, ema_debiased, start="zero")[:, 0],
            color=COLORS["debiased"], lw=1.3, label="from 0, bias-corrected")
    ax.plot(t, ema_path(ema_update, column, decay, start="copy")[:, 0], color=COLORS["swa"],
            lw=1.3, label="from a copy of θ₁ (AveragedModel)")
    ax.axhline(3.0, color="black", ls=":", lw=0.9)
    ax.set(xlabel="step t", ylim=(-0.5, 5.0), xlim=(0, steps + 1),
           title=f"EMA with decay ρ = {decay:g} (memory ≈ {1 / (1 - decay):.0f} steps)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------- a model's parameters


def regression_problem(seed: int = 0, samples: int = 400, features: int = 8):
    """A linear regression y = Xw + b + noise: the data (X, y) to train on."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features))
    y = x @ rng.normal(size=features) + 0.5 + rng.normal(0.0, 1.0, size=samples)
    return x, y


def least_squares(x, y) -> dict:
    """The parameters {"weight", "bias"} that minimize the mean squared error on (x, y)."""
    solution = np.linalg.lstsq(np.column_stack([x, np.ones(len(y))]), y, rcond=None)[0]
    return {"weight": solution[:-1], "bias": np.array(solution[-1])}


def mse(params: dict, x, y) -> float:
    """The mean squared error of the linear model ``params`` on (x, y)."""
    return float(np.mean((x @ np.asarray(params["weight"]) + np.asarray(params["bias"]) - y)
                         ** 2))


def swa_run(average_parameters: Callable, lr: float = 0.03, batch: int = 8, epochs: int = 40,
            swa_start: int = 10, decays=(0.99, 0.999), seed: int = 0) -> dict[str, np.ndarray]:
    """Minibatch SGD on the regression at a constant rate, with averages of its parameters.

    After every step, one EMA per decay (from a copy of the first parameters, as
    AveragedModel); after every epoch from ``swa_start`` on, the equal (SWA) average of the
    epochs' last parameters. Returns, per epoch, the excess training loss (over the least
    squares optimum's) of the last iterate ("iterate"), of each EMA (its decay) and of SWA.
    """
    x, y = regression_problem(seed)
    best = mse(least_squares(x, y), x, y)
    rng = np.random.default_rng(seed + 1)
    params = {"weight": np.zeros(x.shape[1]), "bias": np.array(0.0)}
    emas = {decay: (dict(params), 0) for decay in decays}
    swa, n_swa = dict(params), 0
    curves = {name: [] for name in ("iterate", *decays, "swa")}
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            rows = order[start:start + batch]
            error = x[rows] @ params["weight"] + params["bias"] - y[rows]
            params = {"weight": params["weight"] - lr * 2 * x[rows].T @ error / len(rows),
                      "bias": params["bias"] - lr * 2 * error.mean()}
            emas = {decay: average_parameters(ema, params, n, decay=decay)
                    for decay, (ema, n) in emas.items()}
        if epoch >= swa_start:
            swa, n_swa = average_parameters(swa, params, n_swa)
        curves["iterate"].append(mse(params, x, y) - best)
        for decay in decays:
            curves[decay].append(mse(emas[decay][0], x, y) - best)
        curves["swa"].append(mse(swa, x, y) - best if n_swa else np.nan)
    return {name: np.array(curve) for name, curve in curves.items()}


def swa_figure(average_parameters: Callable, lr: float = 0.03, epochs: int = 40,
               swa_start: int = 10, decays=(0.99, 0.999)):
    """Excess training loss per epoch of the last iterate, its EMAs and its SWA average."""
    curves = swa_run(average_parameters, lr=lr, epochs=epochs, swa_start=swa_start,
                     decays=decays)
    fig, ax = figure(figsize=(7.2, 3.2))
    epoch = np.arange(1, epochs + 1)
    ax.semilogy(epoch, curves["iterate"], color=COLORS["iterate"], lw=1.0,
                label="last iterate")
    for decay, style in zip(decays, ("-", "--"), strict=False):
        ax.semilogy(epoch, curves[decay], color=COLORS["ema"], lw=1.3, ls=style,
                    label=f"EMA, ρ = {decay:g}")
    ax.semilogy(epoch, curves["swa"], color=COLORS["swa"], lw=1.3,
                label=f"SWA from epoch {swa_start}")
    ax.axvline(swa_start, color="0.6", ls=":", lw=0.9)
    ax.set(xlabel="epoch", ylabel="loss − least-squares loss",
           title=f"linear regression, minibatch SGD at a constant rate η = {lr:g}")
    power_of_ten_ticks(ax)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    return fig
