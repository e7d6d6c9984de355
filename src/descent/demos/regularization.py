"""Figures of chapter 03: overfitting and L2, coupled vs decoupled decay, dropout masks.

Every quantity a student implements (the L2 gradient, ``sgd_step``, ``adamw_step``,
``dropout_forward``) is passed in as a function, so the page draws with the model
answers and a student's notebook can draw with their own. This module only builds
the data and the models, runs the loops, and draws.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from descent.plots import figure

#: Colours of this chapter's curves (train/validation, and the four optimizers).
COLORS = {
    "train": "#1f77b4",
    "validation": "#d62728",
    "norm": "#2ca02c",
    "sgd_l2": "#9ecae1",
    "sgd_wd": "#08519c",
    "adam_l2": "#ff7f0e",
    "adamw": "#6a3d9a",
}
_FRAME = "0.75"


# ---------------------------------------------------------------- an overfitting model


def overfitting_problem(n_train: int = 15, n_features: int = 200, noise: float = 0.3,
                        feature_scale: float = 10.0, seed: int = 0) -> dict:
    """A regression problem that a model with far more parameters than points memorizes.

    y = sin(3x) + noise on ``n_train`` points of [−1, 1]; the model is linear in
    ``n_features`` random tanh features φ_k(x) = tanh(a_k (x − c_k)), so its
    ``n_features`` weights can interpolate the noise. Validation is on a fine grid,
    against the noiseless function.
    """
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(-1.0, 1.0, n_train))
    y_train = np.sin(3 * x_train) + rng.normal(0.0, noise, n_train)
    x_val = np.linspace(-1.0, 1.0, 300)
    slopes = rng.normal(0.0, feature_scale, n_features)
    centres = rng.uniform(-1.0, 1.0, n_features)

    def features(x):
        return np.tanh(np.subtract.outer(np.asarray(x, dtype=float), centres) * slopes)

    return {"x_train": x_train, "y_train": y_train, "x_val": x_val,
            "y_val": np.sin(3 * x_val), "features": features}


def train_with_weight_decay(sgd_step: Callable, problem: dict, lam: float, epochs: int = 3000,
                            lr: float = 0.01, momentum: float = 0.9) -> dict:
    """Full-batch SGD with momentum on ½·mean squared error, weight_decay = ``lam``.

    Returns, per epoch, the training loss (without the penalty), the validation loss
    and ‖w‖, plus the weights at the end and at the lowest validation loss (where
    early stopping would have kept them).
    """
    phi_train = problem["features"](problem["x_train"])
    phi_val = problem["features"](problem["x_val"])
    y_train, y_val = problem["y_train"], problem["y_val"]
    n = len(y_train)
    w, buffer = np.zeros(phi_train.shape[1]), None
    history = np.empty((epochs, len(w)))
    for epoch in range(epochs):
        grad = phi_train.T @ (phi_train @ w - y_train) / n
        w, buffer = sgd_step(w, grad, lr, weight_decay=lam, momentum=momentum,
                             momentum_buffer=buffer)
        w = history[epoch] = np.asarray(w, dtype=float)
        buffer = None if buffer is None else np.asarray(buffer, dtype=float)
    train = 0.5 * np.mean((history @ phi_train.T - y_train) ** 2, axis=1)
    val = 0.5 * np.mean((history @ phi_val.T - y_val) ** 2, axis=1)
    best = int(np.argmin(val))
    return {"train": train, "val": val, "norm": np.linalg.norm(history, axis=1), "w": w,
            "w_best": history[best], "best_epoch": best + 1}


def overfitting_figure(sgd_step: Callable, lam: float, epochs: int = 3000, problem=None):
    """The fit (left), train and validation loss per epoch (middle), ‖w‖ per epoch (right)."""
    problem = problem or overfitting_problem()
    run = train_with_weight_decay(sgd_step, problem, lam, epochs=epochs)
    x_fine = problem["x_val"]
    phi = problem["features"](x_fine)
    epoch = np.arange(1, epochs + 1)

    fig, (fit, losses, norms) = figure(3, figsize=(7.6, 3.0))
    fit.plot(x_fine, problem["y_val"], color=_FRAME, lw=3, label="truth sin(3x)")
    fit.plot(problem["x_train"], problem["y_train"], "o", color="black", ms=4,
             label=f"{len(problem['y_train'])} noisy points")
    fit.plot(x_fine, phi @ run["w"], color=COLORS["train"], lw=1.6,
             label=f"after {epochs} epochs")
    fit.plot(x_fine, phi @ run["w_best"], color=COLORS["validation"], lw=1.2, ls="--",
             label=f"stopped early (epoch {run['best_epoch']})")
    fit.set(title=f"the model, ω = {lam:g}", xlabel="x", ylim=(-2.5, 2.5))
    fit.legend(fontsize="x-small", loc="lower right")

    losses.loglog(epoch, run["train"], color=COLORS["train"], label="train")
    losses.loglog(epoch, run["val"], color=COLORS["validation"], label="validation")
    losses.axvline(run["best_epoch"], color=COLORS["validation"], lw=0.8, ls="--")
    losses.annotate(f"best validation\n{run['val'][run['best_epoch'] - 1]:.3f}",
                    (run["best_epoch"] * 1.2, 0.3), fontsize="x-small",
                    color=COLORS["validation"])
    losses.set(title="loss per epoch", xlabel="epoch", ylim=(5e-4, 1.0))
    losses.text(0.97, 0.03, f"final: train {run['train'][-1]:.4f}\n"
                f"validation {run['val'][-1]:.3f}", transform=losses.transAxes, ha="right",
                va="bottom", fontsize="x-small")
    losses.legend(fontsize="x-small", loc="lower left")

    norms.semilogx(epoch, run["norm"], color=COLORS["norm"])
    norms.set(title="weight norm ‖w‖", xlabel="epoch", ylim=(0, 1.0))
    for ax in (fit, losses, norms):
        ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------- coupled vs decoupled decay

#: A tilted-free, badly scaled bowl: L(θ) = ½ Σ_i h_i (θ_i − c_i)², curvatures (4, 0.25).
BOWL_CURVATURE = np.array([4.0, 0.25])
BOWL_CENTRE = np.array([2.0, 2.0])
BOWL_START = np.array([-1.5, -0.5])


def bowl_loss(theta):
    """L(θ) = ½ Σ_i h_i (θ_i − c_i)² for points θ of shape (..., 2)."""
    theta = np.asarray(theta, dtype=float)
    return 0.5 * np.sum(BOWL_CURVATURE * (theta - BOWL_CENTRE) ** 2, axis=-1)


def bowl_grad(theta):
    """∇L(θ) = h ⊙ (θ − c)."""
    return BOWL_CURVATURE * (np.asarray(theta, dtype=float) - BOWL_CENTRE)


def decay_paths(sgd_step: Callable, adamw_step: Callable, l2_grad: Callable, lam: float,
                steps: int = 200, sgd_lr: float = 0.2, adam_lr: float = 0.05) -> dict:
    """Four runs from the same start on the bowl, each an array of shape (steps + 1, 2).

    sgd_l2:  SGD on L + ω/2‖θ‖² (``sgd_step`` with ``weight_decay=ω``)
    sgd_wd:  SGD on L, then θ shrunk by (1 − lr·ω) (decoupled decay)
    adam_l2: Adam on L + ω/2‖θ‖² (``adamw_step`` with no decay, fed g + ``l2_grad``)
    adamw:   AdamW (``adamw_step`` with ``weight_decay=ω``)
    """
    paths = {key: [BOWL_START.copy()] for key in ("sgd_l2", "sgd_wd", "adam_l2", "adamw")}
    moments = {key: (np.zeros(2), np.zeros(2)) for key in ("adam_l2", "adamw")}
    for t in range(1, steps + 1):
        theta = paths["sgd_l2"][-1]
        paths["sgd_l2"].append(np.asarray(
            sgd_step(theta, bowl_grad(theta), sgd_lr, weight_decay=lam)[0], dtype=float))
        theta = paths["sgd_wd"][-1]
        shrunk = theta * (1.0 - sgd_lr * lam)
        paths["sgd_wd"].append(np.asarray(sgd_step(shrunk, bowl_grad(theta), sgd_lr)[0],
                                          dtype=float))
        for key in ("adam_l2", "adamw"):
            theta = paths[key][-1]
            grad, decay = bowl_grad(theta), lam
            if key == "adam_l2":
                grad, decay = grad + np.asarray(l2_grad([theta], lam)[0], dtype=float), 0.0
            new, m, v = adamw_step(theta, grad, *moments[key], t, lr=adam_lr,
                                   weight_decay=decay)
            moments[key] = (np.asarray(m, dtype=float), np.asarray(v, dtype=float))
            paths[key].append(np.asarray(new, dtype=float))
    return {key: np.array(path) for key, path in paths.items()}


def decay_figure(sgd_step: Callable, adamw_step: Callable, l2_grad: Callable, lam: float,
                 steps: int = 200):
    """The four runs in the plane (left) and the gap within each pair per step (right)."""
    paths = decay_paths(sgd_step, adamw_step, l2_grad, lam, steps=steps)
    ridge = BOWL_CURVATURE * BOWL_CENTRE / (BOWL_CURVATURE + lam)  # argmin L + ω/2‖θ‖²
    fig, (plane, gap) = figure(2, figsize=(7.0, 3.6))
    grid = np.stack(np.meshgrid(np.linspace(-2, 3, 121), np.linspace(-1, 3, 97)), axis=-1)
    plane.contour(grid[..., 0], grid[..., 1], bowl_loss(grid), levels=12, colors=_FRAME,
                  linewidths=0.7)
    styles = {
        "sgd_l2": ("SGD + L2", 4.5, "-"),
        "sgd_wd": ("SGD + weight decay", 1.2, "--"),
        "adam_l2": ("Adam + L2", 1.4, "-"),
        "adamw": ("AdamW", 1.4, "-"),
    }
    for key, (label, width, style) in styles.items():
        path = paths[key]
        plane.plot(path[:, 0], path[:, 1], color=COLORS[key], lw=width, ls=style, label=label)
        plane.plot(*path[-1], "o", color=COLORS[key], ms=5)
    plane.plot(*BOWL_START, "*", color="black", ms=10, label="start")
    plane.plot(*BOWL_CENTRE, "+", color="black", ms=10, mew=2, label="minimum of L")
    plane.plot(*ridge, "x", color="black", ms=8, mew=2, label="minimum of L + ω/2‖θ‖²")
    plane.set(title=f"ω = {lam:g}: loss contours and paths", xlabel="θ₁ (curvature 4)",
              ylabel="θ₂ (curvature 0.25)", xlim=(-2, 3), ylim=(-1, 3))
    plane.legend(fontsize="x-small", loc="upper left")

    step = np.arange(steps + 1)
    floor = 1e-18
    for pair, key, label in ((("sgd_l2", "sgd_wd"), "sgd_wd", "SGD: L2 vs weight decay"),
                             (("adam_l2", "adamw"), "adamw", "Adam: L2 vs AdamW")):
        distance = np.linalg.norm(paths[pair[0]] - paths[pair[1]], axis=1)
        gap.semilogy(step, np.maximum(distance, floor), color=COLORS[key], label=label)
    gap.axhline(1e-15, color=_FRAME, lw=0.8, ls=":")
    gap.text(steps, 2e-15, "rounding", ha="right", fontsize="x-small", color="0.4")
    gap.set(title="distance between the two runs", xlabel="step", ylabel="‖θ − θ′‖ (log)",
            ylim=(floor, 10))
    gap.legend(fontsize="x-small", loc="center right")
    for ax in (plane, gap):
        ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------- dropout


def layer_activations(units: int = 40, seed: int = 3) -> np.ndarray:
    """Non-negative activations of one hidden layer (ReLU outputs), for the dropout demo."""
    rng = np.random.default_rng(seed)
    return np.maximum(rng.normal(0.6, 0.6, units), 0.0)


def dropout_figure(dropout_forward: Callable, p: float, passes: int = 2000, seed: int = 0):
    """One training pass through dropout (left); the mean of many passes vs test time (right)."""
    h = layer_activations()
    units = np.arange(len(h))
    out, mask = (np.asarray(a, dtype=float) for a in dropout_forward(h, p, train=True, seed=seed))
    test_out = np.asarray(dropout_forward(h, p, train=False, seed=seed)[0], dtype=float)
    many, many_masks = (np.asarray(a, dtype=float) for a in dropout_forward(
        np.tile(h, (passes, 1)), p, train=True, seed=seed + 1))

    fig, (one, mean) = figure(2, figsize=(7.0, 3.2))
    one.bar(units, out, color=COLORS["train"], alpha=0.7, label="training output")
    one.bar(units, h, color="none", edgecolor="black", lw=0.8, label="input h (= test output)")
    dropped = mask == 0
    one.plot(units[dropped], np.zeros(dropped.sum()), "x", color=COLORS["validation"], ms=5,
             label=f"dropped: {int(dropped.sum())} of {len(h)}")
    one.set(title=f"one training pass, p = {p:g}", xlabel="unit", ylabel="activation",
            ylim=(0, float(h.max()) / (1 - p) * 1.05 + 0.5))
    one.legend(fontsize="x-small", loc="upper right")

    average, spread = many.mean(axis=0), many.std(axis=0)
    mean.errorbar(test_out, average, yerr=spread, fmt="o", ms=3, color=COLORS["train"],
                  ecolor=COLORS["sgd_l2"], elinewidth=0.8,
                  label=f"mean ± std of {passes} training passes")
    top = float(h.max()) * 1.1
    mean.plot([0, top], [0, top], color="black", lw=0.8, label="mean = test output")
    mean.set(title=f"dropped fraction {float(np.mean(many_masks == 0)):.3f} (p = {p:g})",
             xlabel="test-time output h_i", ylabel="training output", xlim=(0, top),
             ylim=(-0.2, top * 2.5))
    mean.legend(fontsize="x-small", loc="upper left")
    for ax in (one, mean):
        ax.grid(alpha=0.3)
    return fig
