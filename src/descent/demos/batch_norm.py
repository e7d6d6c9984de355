"""Figures of chapter 08: deep sigmoid/tanh networks trained with and without batch
normalization (the distributions their units see, their loss at several learning rates),
and batch normalization's training mode against its test mode on small batches.

What a student implements (``batchnorm_forward``, ``batchnorm_backward``,
``update_running_stats``, ``batchnorm_eval``) is passed in as a :class:`Layer`, so the page
draws with the model answers and a student's notebook can draw with their own. This module
only builds the data and the networks, runs the loops, and draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from matplotlib.ticker import FormatStrFormatter
from scipy.special import expit

from descent.plots import figure, major_ticks_only

#: Colours of the two networks, and of the test-time output.
COLORS = {"plain": "#7f7f7f", "batch norm": "#1f77b4", "eval": "#d62728"}
#: Learning rates of the demos (plain SGD, mini-batches of BATCH examples).
LEARNING_RATES = (0.1, 0.3, 1.0, 3.0)
HIDDEN = (32, 32, 32, 32, 32, 32)
BATCH = 64
STEPS = 200
#: Every how many steps the loss and the distributions are recorded.
EVERY = 10
#: A loss above this counts as diverged (chance is ln 3 ≈ 1.1).
DIVERGED = 10.0
#: Percentiles of a unit's input drawn as bands (Ioffe & Szegedy's Figure 1 shows 15/50/85).
PERCENTILES = (5, 15, 50, 85, 95)

# The nonlinearities, each with its derivative written in terms of its output h = f(z).
NONLINEARITIES = {
    "sigmoid": (expit, lambda h: h * (1.0 - h)),
    "tanh": (np.tanh, lambda h: 1.0 - h * h),
}


@dataclass(frozen=True)
class Layer:
    """The four functions of the chapter's exercises, the pieces of a batch-norm layer."""

    forward: Callable
    backward: Callable
    update_running_stats: Callable
    eval: Callable


# ---------------------------------------------------------------- data and network


@cache
def spirals(per_class: int = 80, classes: int = 3, noise: float = 0.25, seed: int = 0):
    """``classes`` interleaved spiral arms in the plane: X (n, 2) standardized, labels y (n,)."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.05, 1.0, per_class), classes)
    label = np.repeat(np.arange(classes), per_class)
    angle = 4.0 * radius + label * 2 * np.pi / classes + rng.normal(0.0, noise, radius.size)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return (X - X.mean(axis=0)) / X.std(axis=0), label


def init_network(sizes, batch_norm: bool, seed: int = 0) -> list[dict]:
    """Layers of an MLP with weights ~ N(0, 1/fan_in) (LeCun); the last one is the output.

    A hidden layer with batch norm has γ = 1, shift δ = 0 (the ``beta`` array) and running
    statistics 0 and 1 (as PyTorch) and no bias: the normalization subtracts it again (δ takes
    its place).
    """
    rng = np.random.default_rng(seed)
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer = {"W": rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_in, fan_out))}
        if batch_norm and index < len(sizes) - 2:
            layer.update(gamma=np.ones(fan_out), beta=np.zeros(fan_out),
                         running_mean=np.zeros(fan_out), running_var=np.ones(fan_out))
        else:
            layer["b"] = np.zeros(fan_out)
        layers.append(layer)
    return layers


def forward_pass(layers, X, nonlinearity: str, bn: Layer | None):
    """Logits, the inputs z of every hidden nonlinearity, and the tape for the backward pass.

    With batch norm, z = BN(H W) in training mode (the batch's statistics). The tape holds,
    per hidden layer, its input h, its a = H W and the batch norm's cache.
    """
    f = NONLINEARITIES[nonlinearity][0]
    h, inputs, tape = X, [], []
    for layer in layers[:-1]:
        a = h @ layer["W"]
        cache_ = None
        if "gamma" in layer:
            z, cache_ = bn.forward(a, layer["gamma"], layer["beta"])
            z = np.asarray(z, dtype=float)
        else:
            z = a + layer["b"]
        tape.append((h, a, cache_))
        h = f(z)
        inputs.append(z)
    tape.append((h, None, None))
    return h @ layers[-1]["W"] + layers[-1]["b"], inputs, tape


def cross_entropy(logits, y) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    grad = np.exp(log_p)
    grad[np.arange(len(y)), y] -= 1.0
    return float(-log_p[np.arange(len(y)), y].mean()), grad / len(y)


def gradients(layers, X, y, nonlinearity: str, bn: Layer | None):
    """(loss, one dict of gradients per layer, the tape) on a mini-batch, by backpropagation.

    Through a hidden layer: dz = dh ⊙ f'(z) (written with the output h = f(z)), then
    batch norm's backward gives da, dγ, dδ (without it, da = dz and db = Σ dz), and
    dW = hᵀ da, dh_in = da Wᵀ.
    """
    f_grad = NONLINEARITIES[nonlinearity][1]
    logits, _, tape = forward_pass(layers, X, nonlinearity, bn)
    value, dlogits = cross_entropy(logits, y)
    grads = [{"W": tape[-1][0].T @ dlogits, "b": dlogits.sum(axis=0)}]
    dh = dlogits @ layers[-1]["W"].T
    for index in range(len(layers) - 2, -1, -1):
        h_in, _, cache_ = tape[index]
        dz = dh * f_grad(tape[index + 1][0])
        if cache_ is None:
            da, grad = dz, {"b": dz.sum(axis=0)}
        else:
            da, dgamma, dbeta = (np.asarray(g, dtype=float) for g in bn.backward(dz, cache_))
            grad = {"gamma": dgamma, "beta": dbeta}
        grads.append({"W": h_in.T @ da, **grad})
        dh = da @ layers[index]["W"].T
    return value, grads[::-1], tape


def sgd_update(layers, X, y, nonlinearity: str, bn: Layer | None, lr: float):
    """One step of plain SGD on a mini-batch: (new layers, the mini-batch's loss before it).

    Batch-norm layers also update their running statistics with the batch's a = H W.
    """
    value, grads, tape = gradients(layers, X, y, nonlinearity, bn)
    new = []
    for layer, grad, (_, a, _) in zip(layers, grads, tape, strict=True):
        updated = {**layer, **{key: layer[key] - lr * g for key, g in grad.items()}}
        if "running_mean" in layer:
            mean, var = bn.update_running_stats(layer["running_mean"], layer["running_var"], a)
            updated.update(running_mean=np.asarray(mean, dtype=float),
                           running_var=np.asarray(var, dtype=float))
        new.append(updated)
    return new, value


def gradient_norms(layer: Layer | None, nonlinearity: str, seed: int = 0) -> np.ndarray:
    """‖∂L/∂W_l‖ of every layer (hidden ones, then the output) at initialization, one batch."""
    X, y = spirals()
    rows = np.random.default_rng(seed + 1).choice(len(y), size=BATCH, replace=False)
    layers = init_network((X.shape[1], *HIDDEN, int(y.max()) + 1), layer is not None, seed)
    return np.array([np.linalg.norm(g["W"]) for g in gradients(
        layers, X[rows], y[rows], nonlinearity, layer)[1]])


@cache
def train(bn: Layer | None, nonlinearity: str, lr: float, steps: int = STEPS,
          batch: int = BATCH, seed: int = 0) -> dict:
    """Train a deep MLP on the spirals with plain SGD; record its loss and its units' inputs.

    Every EVERY steps: ``loss``, the mean loss of the mini-batches since the last record
    (the loss SGD sees), and ``bands``, the PERCENTILES of the input z of unit 0 of every
    hidden layer over the whole training set, in training mode (the set's statistics). A
    run whose loss overflows stops, and its records stay NaN.
    """
    X, y = spirals()
    layers = init_network((X.shape[1], *HIDDEN, int(y.max()) + 1), bn is not None, seed)
    order = np.random.default_rng(seed + 1)
    checkpoints = np.arange(0, steps + 1, EVERY)
    loss = np.full(len(checkpoints), np.nan)
    bands = np.full((len(checkpoints), len(HIDDEN), len(PERCENTILES)), np.nan)
    seen = []
    with np.errstate(all="ignore"):
        for step in range(steps + 1):
            if step % EVERY == 0:
                k = step // EVERY
                logits, inputs, _ = forward_pass(layers, X, nonlinearity, bn)
                loss[k] = np.mean(seen) if seen else cross_entropy(logits, y)[0]
                bands[k] = [np.percentile(z[:, 0], PERCENTILES) for z in inputs]
                seen = []
                if not np.isfinite(loss[k]) or loss[k] > DIVERGED:
                    break
            if step < steps:
                rows = order.choice(len(y), size=batch, replace=False)
                layers, value = sgd_update(layers, X[rows], y[rows], nonlinearity, bn, lr)
                seen.append(value)
    return {"step": checkpoints, "loss": loss, "bands": bands}


def final_loss(run: dict, last: int = 5) -> float:
    """The mean of the last ``last`` records of a run's loss (inf when it diverged)."""
    tail = run["loss"][-last:]
    return float(np.mean(tail)) if np.all(np.isfinite(tail)) else np.inf


# ---------------------------------------------------------------- figures


def distributions_figure(layer: Layer, batch_norm: bool, lr: float):
    """The input z of unit 0 of every hidden layer over training, as percentile bands.

    One row per nonlinearity (sigmoid, tanh); in each, the layers side by side: layer l's
    run of training is drawn over [l − ½, l + ½) (one axes per row renders faster than one
    per layer, for the static twin's frames).
    """
    color = COLORS["batch norm" if batch_norm else "plain"]
    fig, rows = figure(1, len(NONLINEARITIES), figsize=(7.6, 4.6),
                       margins=dict(left=0.08, right=0.99, top=0.91, bottom=0.1, hspace=0.3))
    for ax, nonlinearity in zip(rows, NONLINEARITIES, strict=True):
        run = train(layer if batch_norm else None, nonlinearity, lr)
        x = run["step"] / run["step"][-1] * 0.85 - 0.425
        for index in range(len(HIDDEN)):
            band, at = run["bands"][:, index], x + index + 1
            ax.fill_between(at, band[:, 0], band[:, 4], color=color, alpha=0.2, lw=0)
            ax.fill_between(at, band[:, 1], band[:, 3], color=color, alpha=0.45, lw=0)
            ax.plot(at, band[:, 2], color=color, lw=1.2)
            spread = band[:, 3] - band[:, 1]
            finite = spread[np.isfinite(spread)]
            ax.text(index + 1, -5.8, f"15–85 %: {finite[-1]:.2g}" if finite.size
                    else "diverged", ha="center", fontsize="x-small")
        ax.set_xticks(np.arange(1, len(HIDDEN) + 1),
                      [f"layer {n}" for n in range(1, len(HIDDEN) + 1)])
        ax.set(xlim=(0.5, len(HIDDEN) + 0.5), ylim=(-6, 6), ylabel=f"{nonlinearity} network")
        ax.grid(alpha=0.3, axis="y")
    rows[-1].set_xlabel(f"in each layer: steps 0 → {STEPS}")
    fig.suptitle(f"{'with' if batch_norm else 'without'} batch norm, η = {lr:g}: input z of "
                 "unit 0 over the training set (5–95 %, 15–85 %, median)", fontsize="small")
    return fig


def gradient_figure(layer: Layer):
    """‖∂L/∂W_l‖ per layer at initialization, sigmoid and tanh, without and with batch norm."""
    fig, ax = figure(figsize=(7.0, 3.0),
                     margins=dict(left=0.1, right=0.98, top=0.9, bottom=0.16))
    depth = np.arange(1, len(HIDDEN) + 2)
    for nonlinearity, style in (("sigmoid", "o-"), ("tanh", "s--")):
        for name, bn in (("plain", None), ("batch norm", layer)):
            ax.semilogy(depth, gradient_norms(bn, nonlinearity), style, color=COLORS[name],
                        label=f"{nonlinearity}, {name}")
    major_ticks_only(ax)
    ax.set_xticks(depth, [*map(str, depth[:-1]), "output"])
    ax.set(xlabel="layer", ylabel="‖∂L/∂W‖", title="gradient of each weight matrix at "
           f"initialization ({len(HIDDEN)} hidden layers, one batch of {BATCH})")
    ax.title.set_fontsize("small")
    ax.legend(fontsize="x-small", ncols=2)
    ax.grid(alpha=0.3)
    return fig


def loss_figure(layer: Layer, nonlinearity: str, lr: float):
    """Loss per step with and without batch norm at ``lr`` (left); final loss per lr (right)."""
    runs = {name: {rate: train(bn, nonlinearity, rate) for rate in LEARNING_RATES}
            for name, bn in (("plain", None), ("batch norm", layer))}
    fig, (curves, rates) = figure(2, figsize=(7.6, 3.2), margins=dict(
        left=0.08, right=0.98, top=0.9, bottom=0.15, wspace=0.25))
    chance = np.log(int(spirals()[1].max()) + 1)
    positions = np.arange(len(LEARNING_RATES))
    for name, by_rate in runs.items():
        run = by_rate[lr]
        curves.semilogy(run["step"], run["loss"], color=COLORS[name], label=name)
        finals = np.array([final_loss(by_rate[rate]) for rate in LEARNING_RATES])
        shown = np.where(np.isfinite(finals), finals, DIVERGED)
        rates.semilogy(positions, shown, "o-", color=COLORS[name], label=name)
        diverged = ~np.isfinite(finals)
        rates.plot(positions[diverged], shown[diverged], "x", color="black", ms=8, mew=2)
    major_ticks_only(curves, rates)
    for ax in (curves, rates):
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # no mathtext: faster frames
        ax.axhline(chance, color="black", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.set_ylim(1e-3, DIVERGED * 1.5)
    curves.text(0.02, chance * 1.15, "chance: ln 3", transform=curves.get_yaxis_transform(),
                fontsize="x-small")
    curves.set(title=f"{nonlinearity}, η = {lr:g}: loss of the mini-batches", xlabel="step")
    curves.legend(fontsize="x-small", loc="lower left")
    rates.axvspan(LEARNING_RATES.index(lr) - 0.3, LEARNING_RATES.index(lr) + 0.3, color="0.9")
    rates.set_xticks(positions, [f"{rate:g}" for rate in LEARNING_RATES])
    rates.set(title="loss at the end, per learning rate", xlabel="learning rate η")
    return fig


# ---------------------------------------------------------------- training vs test mode

#: Batch sizes of the training-vs-test demo.
BATCH_SIZES = (2, 3, 4, 8, 16, 64)
#: The running statistics of that demo: a long average (about 1/momentum batches).
RUNNING_MOMENTUM = 0.01
RUNNING_BATCHES = 600


@cache
def _feature(size: int = 240, seed: int = 5) -> np.ndarray:
    """One feature over a training set: mean 3, standard deviation 2."""
    return np.random.default_rng(seed).normal(3.0, 2.0, size=size)


@cache
def train_eval_outputs(layer: Layer, batch_size: int, batches: int = 400, seed: int = 0):
    """Training-mode outputs of one example in random batches, and its test-time output.

    The example is the feature's 90th percentile. In each of ``batches`` batches of
    ``batch_size`` it sits with ``batch_size − 1`` others drawn at random: every batch is a
    column of one (batch_size, batches) array, so one call normalizes them all (γ = 1,
    δ = 0). The running statistics follow RUNNING_BATCHES batches of that size from
    PyTorch's start (mean 0, variance 1), with a small momentum so that they settle.
    """
    a = _feature()
    rng = np.random.default_rng(seed)
    x0 = float(np.quantile(a, 0.9))
    columns = np.vstack([np.full((1, batches), x0), rng.choice(a, size=(batch_size - 1,
                                                                         batches))])
    ones, zeros = np.ones(batches), np.zeros(batches)
    trained = np.asarray(layer.forward(columns, ones, zeros)[0], dtype=float)[0]
    mean, var = np.zeros(1), np.ones(1)
    for batch in rng.choice(a, size=(RUNNING_BATCHES, batch_size, 1)):
        mean, var = (np.asarray(s, dtype=float) for s in
                     layer.update_running_stats(mean, var, batch, momentum=RUNNING_MOMENTUM))
    tested = float(np.asarray(layer.eval(np.array([[x0]]), np.ones(1), np.zeros(1), mean,
                                         var), dtype=float).reshape(()))
    return trained, tested


def train_eval_figure(layer: Layer, batch_size: int):
    """One example's output in training mode over random batches vs at test time."""
    trained, tested = train_eval_outputs(layer, batch_size)
    fig, (hist, sizes) = figure(2, figsize=(7.6, 3.2), margins=dict(
        left=0.08, right=0.98, top=0.9, bottom=0.15, wspace=0.25))
    hist.hist(trained, bins=np.linspace(-3, 3, 61), color=COLORS["batch norm"], alpha=0.8,
              label=f"training mode, {len(trained)} batches")
    hist.axvline(tested, color=COLORS["eval"], lw=2, label="test mode (running statistics)")
    hist.set(title=f"one example's output, batches of {batch_size}", xlabel="output Â",
             ylabel="batches", xlim=(-3, 3))
    hist.legend(fontsize="x-small", loc="upper left")

    positions = np.arange(len(BATCH_SIZES))
    outputs = [train_eval_outputs(layer, n) for n in BATCH_SIZES]
    sizes.vlines(positions, [np.percentile(t, 10) for t, _ in outputs],
                 [np.percentile(t, 90) for t, _ in outputs], color=COLORS["batch norm"], lw=2,
                 label="training mode: 10–90 %")
    sizes.plot(positions, [np.mean(t) for t, _ in outputs], "o", color=COLORS["batch norm"],
               label="training mode: mean")
    sizes.plot(positions, [e for _, e in outputs], "_", ms=16, mew=2, color=COLORS["eval"],
               label="test mode")
    sizes.axvspan(BATCH_SIZES.index(batch_size) - 0.4, BATCH_SIZES.index(batch_size) + 0.4,
                  color="0.9")
    sizes.set(title="the same example, every batch size", xlabel="batch size Nₛ",
              ylabel="output", ylim=(-1.5, 3))
    sizes.set_xticks(positions, [str(n) for n in BATCH_SIZES])
    sizes.legend(fontsize="x-small", loc="upper right")
    for ax in (hist, sizes):
        ax.grid(alpha=0.3)
    return fig
