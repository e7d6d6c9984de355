"""Figures of chapter 01: activations, gradients through depth, Wᴺx, cliffs and clipping.

Every quantity a student implements (the activations and their derivatives, the
chain's gradient, both clippings) is passed in as a function, so the page draws
with the model answers and a student's notebook can draw with their own. This
module only does plain NumPy that is not an exercise, and draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from matplotlib.patches import Rectangle

from descent.plots import PALETTE, figure, major_ticks_only
from descent.surfaces import cliff_grad, cliff_loss

#: name -> (activation, derivative), e.g. ``{"relu": (relu, relu_grad), ...}``.
Activations = Mapping[str, tuple[Callable, Callable]]

#: Light grey for what frames the data: loss surfaces, reference lines.
_FRAME = "0.75"


def activations_figure(activations: Activations, z_range: float = 5.0):
    """Each activation f(z) (left) and its derivative f'(z) (right) on [−z_range, z_range]."""
    z = np.linspace(-z_range, z_range, 401)
    fig, (left, right) = figure(2)
    for name, (f, f_grad) in activations.items():
        left.plot(z, f(z), color=PALETTE.get(name), label=name)
        right.plot(z, f_grad(z), color=PALETTE.get(name), label=name)
    right.axhline(0.25, color=_FRAME, lw=0.8, ls=":")
    right.annotate("σ'(0) = 1/4", (z_range * 0.3, 0.28), color=PALETTE["sigmoid"])
    left.set(title="activation f(z)", xlabel="pre-activation z", ylabel="f(z)", ylim=(-1.5, 3))
    right.set(title="derivative f'(z)", xlabel="pre-activation z", ylabel="f'(z)",
              ylim=(-0.05, 1.15))
    left.legend(loc="upper left", fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def _layer_factors(g: np.ndarray) -> np.ndarray:
    """|f'(z_l)·w_l| = |g_{l−1} / g_l| for l = 1..N, read off the chain's gradients.

    NaN where g_l = 0 (a dead ReLU or an underflow): the factor is then unknown.
    """
    below, above = np.abs(g[:-1]), np.abs(g[1:])
    factors = np.full(len(above), np.nan)
    np.divide(below, above, out=factors, where=above > 0)
    return factors


def gradient_per_layer_figure(scalar_chain_grad: Callable, activations: Activations,
                              weight_scale: float, activation: str, depth: int = 30,
                              x: float = 1.0):
    """|∂a_N/∂a_l| per layer of a scalar chain with every w_l = weight_scale and b_l = 0.

    Left: the gradient reaching each layer for the chosen ``activation`` (bold),
    the other activations faint for comparison, and the bound
    (w · max f')^(N−l) that the product of per-layer factors cannot exceed.
    Right: the per-layer factors |f'(z_l) · w_l| themselves, against the line 1.
    """
    weights, biases = np.full(depth, float(weight_scale)), np.zeros(depth)
    layers = np.arange(depth + 1)
    fig, (left, right) = figure(2, figsize=(7.0, 3.8))
    floor = 1e-40  # zeros and underflows are drawn at the bottom of the log axis

    chosen = None
    for name, (f, f_grad) in activations.items():
        g = np.asarray(scalar_chain_grad(x, weights, biases, f, f_grad), dtype=float)
        if name == activation:
            chosen = g
            continue
        left.semilogy(layers, np.maximum(np.abs(g), floor), color=PALETTE.get(name), lw=1,
                      alpha=0.35, label=name)
    if chosen is None:
        raise ValueError(f"unknown activation {activation!r}; have {sorted(activations)}")
    color = PALETTE.get(activation)
    left.semilogy(layers, np.maximum(np.abs(chosen), floor), color=color, lw=2.2, marker=".",
                  label=activation, zorder=3)

    f, f_grad = activations[activation]
    peak = float(np.max(f_grad(np.linspace(-10.0, 10.0, 2001))))  # 1/4 for the sigmoid
    bound = (abs(weight_scale) * peak) ** (depth - layers).astype(float)
    left.semilogy(layers, np.clip(bound, floor, None), color="black", lw=0.9, ls="--",
                  label=f"bound ({weight_scale:g}·{peak:.2g})^(N−l)")
    left.axhline(1.0, color=_FRAME, lw=0.8)
    left.set(title=f"{activation}: {depth}-layer chain, every w = {weight_scale:g}",
             xlabel="layer l  (0 = input, N = output)",
             ylabel="|∂a_N / ∂a_l|  (log scale)",
             ylim=(floor, 1e20), xlim=(0, depth))
    left.set_yticks(10.0 ** np.arange(-40, 21, 10))
    # Below the panels: no curve can run under it, whatever the weight scale.
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", ncol=5,
               fontsize="small", frameon=False)
    left.grid(alpha=0.3)

    factors = _layer_factors(chosen)
    right.semilogy(layers[1:], factors, color=color, lw=0, marker="o", ms=4)
    right.axhline(1.0, color="black", lw=0.9)
    right.text(0.6, 6.5, "above 1: the gradient grows", fontsize="small", color="0.3")
    right.text(0.6, 1.2e-3, "below 1: it shrinks", fontsize="small", color="0.3")
    right.set(title="per-layer factor", xlabel="layer l",
              ylabel="|f′(z_l) · w_l|  (log scale)", ylim=(1e-3, 10), xlim=(0, depth + 1))
    right.grid(alpha=0.3)
    major_ticks_only(left, right)
    return fig


def dead_units_figure(scalar_chain_grad: Callable, activations: Activations,
                      names=("relu", "elu"), x: float = -1.0, weight_scale: float = 1.0,
                      depth: int = 30):
    """|∂a_N/∂a_l| per layer for a chain whose first pre-activation is negative.

    With x < 0 and w > 0, ReLU outputs 0 from the first layer on and every
    factor f'(z_l)·w_l is 0: no gradient reaches any layer below the output.
    ELU's negative branch still has a slope, so a gradient survives. Exact zeros
    are drawn as crosses on the bottom edge of the log axis.
    """
    weights, biases = np.full(depth, float(weight_scale)), np.zeros(depth)
    layers = np.arange(depth + 1)
    floor = 1e-6
    fig, ax = figure(figsize=(7.0, 3.2))
    for name in names:
        f, f_grad = activations[name]
        g = np.abs(np.asarray(scalar_chain_grad(x, weights, biases, f, f_grad), dtype=float))
        alive = g > 0
        ax.semilogy(layers[alive], g[alive], color=PALETTE.get(name), marker=".", lw=1.8,
                    label=f"{name}: {int(alive[:-1].sum())} of the {depth} layers below the output "
                    "get a gradient")
        if not alive.all():
            ax.plot(layers[~alive], np.full((~alive).sum(), floor * 1.6), color=PALETTE.get(name),
                    marker="x", ls="none", clip_on=False, label=f"{name}: exactly 0")
    ax.set(title=f"input x = {x:g}, every w = {weight_scale:g}: the first z is negative",
           xlabel="layer l  (0 = input, N = output)",
           ylabel="|∂a_N / ∂a_l|  (log scale)", ylim=(floor, 10),
           xlim=(-0.5, depth + 0.5))
    ax.legend(fontsize="small", loc="center right")
    ax.grid(alpha=0.3)
    major_ticks_only(ax)
    return fig


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def repeated_matrix(spectral_radius: float, ratio: float = 0.6, angle: float = np.pi / 6):
    """A symmetric 2×2 W = VΣVᵀ with eigenvalues (r, ratio·r) and its eigenvectors V.

    Plain linear algebra, not an exercise: V is the rotation by ``angle``.
    """
    eigvecs = _rotation(angle)
    eigvals = np.array([spectral_radius, ratio * spectral_radius])
    return eigvecs @ np.diag(eigvals) @ eigvecs.T, eigvals, eigvecs


def repeated_matrix_figure(spectral_radius: float, steps: int = 30, ratio: float = 0.6,
                           x0=(0.2, 1.0)):
    """Wᴺx for N = 0..steps: its norm against r(W)ᴺ (left) and the path of the iterates (right)."""
    w, eigvals, eigvecs = repeated_matrix(spectral_radius, ratio)
    points = [np.asarray(x0, dtype=float)]
    for _ in range(steps):
        points.append(w @ points[-1])
    points = np.array(points)
    norms = np.linalg.norm(points, axis=1)
    n = np.arange(steps + 1)

    fig, (left, right) = figure(2, figsize=(7.0, 3.5))
    left.semilogy(n, norms, marker=".", color=PALETTE["raw"], label="‖Wᴺx‖")
    left.semilogy(n, norms[0] * float(spectral_radius) ** n, ls="--", color="black", lw=0.9,
                  label="‖x‖·r(W)ᴺ")
    left.set(title=f"spectral radius r(W) = {spectral_radius:g}", xlabel="N (times W is applied)",
             ylabel="‖Wᴺx‖  (log scale)", ylim=(1e-4, 1e4))
    left.grid(alpha=0.3)
    left.legend(fontsize="small", loc="upper left")
    major_ticks_only(left)

    span = 3.0
    for k, (color, style) in enumerate((("black", "-"), (_FRAME, "-"))):
        v = eigvecs[:, k] * 2 * span
        right.plot([-v[0], v[0]], [-v[1], v[1]], color=color, ls=style, lw=0.8,
                   label=f"eigenvector, λ = {eigvals[k]:.2g}")
    inside = np.all(np.abs(points) <= span, axis=1)
    shown = points[: np.argmin(inside)] if not inside.all() else points
    right.plot(shown[:, 0], shown[:, 1], marker="o", ms=3, lw=0.8, color=PALETTE["raw"],
               label="x, Wx, W²x, …")
    right.plot(*points[0], marker="*", ms=11, color="black", ls="none", label="start x")
    right.set(title="the iterates in the plane", xlim=(-span, span), ylim=(-span, span),
              aspect="equal", xlabel="first coordinate", ylabel="second coordinate")
    right.legend(fontsize="x-small", loc="lower right")
    return fig


def _descend(clip: Callable | None, theta0: float, lr: float, steps: int) -> np.ndarray:
    """Gradient descent on the cliff loss, the gradient optionally passed through ``clip``."""
    path = [float(theta0)]
    for _ in range(steps):
        g = np.atleast_1d(cliff_grad(path[-1]))
        if clip is not None:
            g = np.asarray(clip(g), dtype=float).ravel()
        path.append(path[-1] - lr * float(g[0]))
    return np.array(path)


def cliff_clipping_figure(clip_by_global_norm: Callable, max_norm: float, theta0: float = 3.5,
                          lr: float = 0.1, steps: int = 40):
    """Gradient descent on :func:`~descent.surfaces.cliff_loss`, raw vs clipped by global norm.

    Left: the loss and both trajectories. Right: the loss after each step.
    """
    raw = _descend(None, theta0, lr, steps)
    clipped = _descend(lambda g: clip_by_global_norm([g], max_norm)[0][0], theta0, lr, steps)
    theta = np.linspace(-16, 4, 2001)

    fig, axes = figure(2, 2, figsize=(7.0, 5.6))
    (left, zoom), bottom = axes[0], axes[1]
    for ax in bottom:
        ax.remove()
    right = fig.add_subplot(axes[1, 0].get_gridspec()[1, :])  # the loss per step, full width
    for ax in (left, zoom):
        ax.plot(theta, cliff_loss(theta), color=_FRAME, lw=3, label="loss L(θ)", zorder=1)
    # The raw run is drawn wider underneath, so it shows where the two runs coincide.
    runs = ((raw, "raw", "no clipping", 5, 2.0),
            (clipped, "clipped", f"clipped at norm {max_norm:g}", 3, 0.8))
    for path, key, label, size, width in runs:
        for ax in (left, zoom):
            ax.plot(path, cliff_loss(path), marker="o", ms=size, lw=width, color=PALETTE[key],
                    label=label, zorder=2)
        right.plot(cliff_loss(path), marker="o", ms=size - 1, lw=width, color=PALETTE[key],
                   label=label)
    for ax in (left, zoom):
        ax.plot(theta0, cliff_loss(theta0), marker="*", ms=12, color="black", ls="none",
                label="start", zorder=3)
    jump = int(np.argmax(np.abs(np.diff(raw))))
    left.annotate("thrown here by\none raw step", xy=(raw[jump + 1], cliff_loss(raw[jump + 1])),
                  xytext=(-9, 95), fontsize="small",
                  arrowprops={"arrowstyle": "->", "color": "0.3"})
    left.set(title="loss with a cliff at θ = 1.5", xlabel="parameter θ", ylabel="loss L(θ)",
             ylim=(-2, 120), xlim=(-16, 4))
    zoom.set(title="zoom on the wall", xlabel="parameter θ", xlim=(-0.5, 4.0), ylim=(-1, 20))
    right.set(title=f"loss after each step (learning rate {lr:g})", xlabel="step",
              ylabel="L(θ)  (log scale)", yscale="log", ylim=(1e-4, 300))
    left.legend(fontsize="x-small", loc="lower left")
    for ax in (left, zoom, right):
        ax.grid(alpha=0.3)
    major_ticks_only(right)
    return fig


def clipping_directions_figure(clip_by_value: Callable, clip_by_global_norm: Callable,
                               threshold: float, gradient=(3.0, 0.6)):
    """One 2-D gradient, clipped by value (the direction turns) and by norm (it does not)."""
    g = np.asarray(gradient, dtype=float)
    by_value = np.asarray(clip_by_value([g], threshold)[0], dtype=float)
    by_norm = np.asarray(clip_by_global_norm([g], threshold)[0][0], dtype=float)

    fig, ax = figure(figsize=(6.0, 3.6))
    ax.add_patch(Rectangle((-threshold, -threshold), 2 * threshold, 2 * threshold, fill=False,
                           ls="--", lw=0.9, color=PALETTE["clipped_by_value"]))
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(threshold * np.cos(circle), threshold * np.sin(circle), color=PALETTE["clipped"],
            lw=0.9, ls="--")
    arrows = ((g, PALETTE["raw"], "gradient g"),
              (by_value, PALETTE["clipped_by_value"], "clipped by value"),
              (by_norm, PALETTE["clipped"], "clipped by norm"))
    for vector, color, label in arrows:
        ax.annotate("", xy=vector, xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2})
        angle = np.degrees(np.arctan2(vector[1], vector[0]))
        length = np.linalg.norm(vector)
        ax.plot([], [], color=color, lw=2,
                label=f"{label}: angle {angle:.0f}°, length {length:.2f}")
    ax.set(title=f"threshold c = {threshold:g}:  square |g_j| ≤ c (by value),  circle ‖g‖ ≤ c",
           xlim=(-0.5, 3.5), ylim=(-0.5, 1.9), aspect="equal",
           xlabel="first coordinate g₁", ylabel="second coordinate g₂")
    ax.title.set_fontsize("medium")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    return fig
