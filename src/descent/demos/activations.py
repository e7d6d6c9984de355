"""Figures of chapter 01: activations, gradients through depth, Wᴺx, cliffs and clipping.

Every function that computes something a student implements (activations, the
chain's gradient, clipping) is passed in; this module only draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from descent.plots import PALETTE, figure
from descent.surfaces import cliff_grad, cliff_loss

#: name -> (activation, derivative); built by the page from the loaded answers.
Activations = Mapping[str, tuple[Callable, Callable]]


def activation_gallery(activations: Activations, z_range: float = 5.0):
    """Each activation (left) and its derivative (right) on [−z_range, z_range]."""
    z = np.linspace(-z_range, z_range, 401)
    fig, (left, right) = figure(2)
    for name, (f, f_grad) in activations.items():
        left.plot(z, f(z), color=PALETTE[name], label=name)
        right.plot(z, f_grad(z), color=PALETTE[name], label=name)
    right.axhline(0.25, color="0.6", lw=0.8, ls=":")
    right.annotate("σ'(0) = 1/4", (z_range * 0.35, 0.27), color=PALETTE["sigmoid"])
    left.set(title="activation f(z)", xlabel="z", ylim=(-1.5, 3))
    right.set(title="derivative f'(z)", xlabel="z", ylim=(-0.05, 1.15))
    left.legend(loc="upper left", fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def chain_gradients(scalar_chain_grad: Callable, activations: Activations, weight: float,
                    depth: int = 30, x: float = 1.0):
    """|∂a_N/∂a_l| per layer of a scalar chain with every w_l = weight and b_l = 0."""
    weights, biases = np.full(depth, float(weight)), np.zeros(depth)
    layers = np.arange(depth + 1)
    fig, ax = figure()
    for name, (f, f_grad) in activations.items():
        g = np.abs(np.asarray(scalar_chain_grad(x, weights, biases, f, f_grad), dtype=float))
        # ReLU and ELU coincide when every z > 0: draw ReLU dashed so both stay visible.
        style = "--" if name == "relu" else "-"
        ax.semilogy(layers, np.maximum(g, 1e-300), marker=".", ls=style, color=PALETTE[name],
                    label=name, zorder=3 if name == "relu" else 2)
    ax.axhline(1.0, color="0.6", lw=0.8)
    ax.set(
        title=f"{depth}-layer scalar chain, every weight w = {weight:g}",
        xlabel="layer l (0 = input, N = output)", ylabel="|∂a_N / ∂a_l|",
        ylim=(1e-30, 1e20),
    )
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="lower right", fontsize="small", ncol=2)
    return fig


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def repeated_matrix(spectral_radius: float, steps: int = 30, ratio: float = 0.6):
    """Wᴺx for a symmetric W = VΣVᵀ with eigenvalues (ρ, ratio·ρ): norm (left), path (right)."""
    eigvecs = _rotation(np.pi / 6)
    eigvals = np.array([spectral_radius, ratio * spectral_radius])
    w = eigvecs @ np.diag(eigvals) @ eigvecs.T
    points = [np.array([0.2, 1.0])]
    for _ in range(steps):
        points.append(w @ points[-1])
    points = np.array(points)
    norms = np.linalg.norm(points, axis=1)

    fig, (left, right) = figure(2)
    n = np.arange(steps + 1)
    left.semilogy(n, norms, marker=".", color=PALETTE["raw"], label="‖Wᴺx‖")
    left.semilogy(n, norms[0] * spectral_radius**n, ls="--", color=PALETTE["clipped"],
                  label="‖x‖·ρᴺ")
    left.set(title=f"spectral radius ρ = {spectral_radius:g}", xlabel="N",
             ylim=(1e-6, 1e6))
    left.grid(alpha=0.3)
    left.legend(fontsize="small")

    span = 3.0
    for k, color in enumerate((PALETTE["clipped"], "0.6")):
        v = eigvecs[:, k] * span
        right.plot([-v[0], v[0]], [-v[1], v[1]], color=color, lw=0.8,
                   label=f"eigenvector, λ = {eigvals[k]:.2g}")
    shown = points[np.all(np.abs(points) < span, axis=1)]
    right.plot(shown[:, 0], shown[:, 1], marker="o", ms=3, color=PALETTE["raw"])
    right.plot(*points[0], marker="*", ms=10, color="black", label="x")
    right.set(title="x, Wx, W²x, …", xlim=(-span, span), ylim=(-span, span), aspect="equal")
    right.legend(fontsize="small", loc="lower right")
    return fig


def _descend(grad_fn: Callable, clip: Callable | None, theta0: float, lr: float,
             steps: int) -> np.ndarray:
    path = [theta0]
    for _ in range(steps):
        g = np.array([grad_fn(path[-1])])
        if clip is not None:
            g = np.asarray(clip(g)[0], dtype=float)
        path.append(float(path[-1] - lr * g[0]))
    return np.array(path)


def cliff_clipping(clip_by_global_norm: Callable, max_norm: float, theta0: float = 3.5,
                   lr: float = 0.1, steps: int = 40):
    """Gradient descent on :func:`~descent.surfaces.cliff_loss`, raw vs clipped by global norm."""
    raw = _descend(cliff_grad, None, theta0, lr, steps)
    clipped = _descend(cliff_grad, lambda g: clip_by_global_norm([g], max_norm)[0],
                       theta0, lr, steps)
    theta = np.linspace(-16, 4, 2000)
    fig, (left, right) = figure(2)
    left.plot(theta, cliff_loss(theta), color="0.3", lw=1)
    for path, key, label in ((raw, "raw", "no clipping"),
                             (clipped, "clipped", f"clipped, max_norm = {max_norm:g}")):
        left.plot(path, cliff_loss(path), marker="o", ms=3, lw=0.8, color=PALETTE[key],
                  label=label)
        right.plot(cliff_loss(path), marker=".", color=PALETTE[key], label=label)
    left.set(title="loss J(θ) with a cliff at θ = 1.5", xlabel="θ", ylabel="J(θ)",
             ylim=(-2, 110))
    right.set(title=f"loss per step (learning rate {lr:g})", xlabel="step", ylabel="J",
              yscale="log", ylim=(1e-3, 300))
    left.legend(fontsize="small", loc="upper right")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def clipping_directions(clip_by_value: Callable, clip_by_global_norm: Callable,
                        threshold: float, gradient=(3.0, 0.6)):
    """One 2-D gradient, clipped by value (direction changes) and by norm (direction kept)."""
    g = np.asarray(gradient, dtype=float)
    by_value = np.asarray(clip_by_value([g], threshold)[0], dtype=float)
    by_norm = np.asarray(clip_by_global_norm([g], threshold)[0][0], dtype=float)
    fig, ax = figure(figsize=(5.0, 3.6))
    ax.add_patch(_square(threshold))
    arrows = ((g, PALETTE["raw"], "gradient g"),
              (by_value, PALETTE["relu"], "clipped by value"),
              (by_norm, PALETTE["clipped"], "clipped by norm"))
    for vector, color, label in arrows:
        ax.annotate("", xy=vector, xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2})
        angle = np.degrees(np.arctan2(vector[1], vector[0]))
        ax.plot([], [], color=color, lw=2, label=f"{label}: angle {angle:.0f}°")
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(threshold * np.cos(circle), threshold * np.sin(circle), color=PALETTE["clipped"],
            lw=0.8, ls="--")
    ax.set(title=f"threshold {threshold:g}: square = by value, circle = by norm",
           xlim=(-0.5, 3.5), ylim=(-0.5, 1.8), aspect="equal", xlabel="g₁", ylabel="g₂")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def _square(half_width: float):
    from matplotlib.patches import Rectangle

    return Rectangle((-half_width, -half_width), 2 * half_width, 2 * half_width, fill=False,
                     ls="--", lw=0.8, color=PALETTE["relu"])
