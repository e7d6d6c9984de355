"""Figures of chapter 02: symmetry under constant init, and signals through deep MLPs.

The initializers and ``activation_variances`` a student implements, and the
activations of chapter 01, are passed in as functions, so the page draws with the
model answers and a student's notebook can draw with their own. This module only
does plain NumPy that is not an exercise (a forward and backward pass, a few
steps of gradient descent on a tiny network), and draws.

An *initializer* here is ``init(fan_in, fan_out, seed) -> array (fan_out, fan_in)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm

from descent.demos.activations import Activations
from descent.plots import PALETTE, figure, major_ticks_only

Initializer = Callable[[int, int, int], np.ndarray]

#: One colour per initialization scheme, used by every figure of the chapter.
SCHEME_COLORS = ("#7f7f7f", "#8c564b", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd")


def naive_normal(std: float) -> Initializer:
    """The scale-blind initialization N(0, std²), whatever the layer's fans."""

    def init(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).normal(0.0, std, size=(fan_out, fan_in))

    return init


# --- symmetry: a 1 → hidden → 1 tanh network trained by gradient descent -------------

def _fit_target(x: np.ndarray) -> np.ndarray:
    return np.sin(2.0 * x)


def train_tiny_network(first: np.ndarray, second: np.ndarray, steps: int, lr: float = 0.2,
                       points: int = 64):
    """Full-batch gradient descent on ½·mean (ŷ − y)², ŷ = tanh(x w₁ᵀ + b₁) w₂ᵀ + b₂.

    ``first`` (hidden, 1) and ``second`` (1, hidden) are the initial weights; the
    biases start at 0. Everything per unit is computed element-wise and summed over
    the batch in the same order for every unit, so units that start equal stay
    bitwise equal. Returns (x, hidden outputs (points, hidden), prediction, params).
    """
    x = np.linspace(-2.0, 2.0, points)[:, None]
    y = _fit_target(x)
    w1, w2 = np.array(first, dtype=float).ravel(), np.array(second, dtype=float).ravel()
    b1, b2 = np.zeros_like(w1), 0.0

    def forward():
        h = np.tanh(x * w1 + b1)  # (points, hidden), one product per entry
        return h, (h * w2).sum(axis=1, keepdims=True) + b2

    for _ in range(steps):
        h, prediction = forward()
        delta = (prediction - y) / len(x)  # ∂loss/∂ŷ
        back = delta * w2 * (1.0 - h * h)  # ∂loss/∂(pre-activation) of each hidden unit
        w2 = w2 - lr * (delta * h).sum(axis=0)
        b2 = b2 - lr * float(delta.sum())
        w1 = w1 - lr * (back * x).sum(axis=0)
        b1 = b1 - lr * back.sum(axis=0)
    h, prediction = forward()
    return x.ravel(), h, prediction.ravel(), np.stack([w1, b1, w2], axis=1)


def symmetry_figure(first: np.ndarray, second: np.ndarray, steps: int, label: str = ""):
    """The hidden units' outputs (left) and the network's fit (right) after ``steps`` steps."""
    x, h, prediction, params = train_tiny_network(first, second, steps)
    distinct = len(np.unique(params, axis=0))
    loss = 0.5 * float(np.mean((prediction - _fit_target(x)) ** 2))
    fig, (left, right) = figure(2, figsize=(7.0, 3.2))
    fig.set_layout_engine(None)  # fixed, as in deep_network_figure: faster static twins
    fig.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.15, wspace=0.22)
    colors = colormaps["tab10"].colors
    for j in range(h.shape[1]):
        left.plot(x, h[:, j], color=colors[j % len(colors)], lw=1.6)
    left.set(title=f"{h.shape[1]} hidden units, {distinct} distinct", xlabel="input x",
             ylabel="unit output tanh(w₁x + b₁)", ylim=(-1.05, 1.05))
    right.plot(x, _fit_target(x), color="0.7", lw=4, label="target sin 2x")
    right.plot(x, prediction, color="black", lw=1.6, label="network")
    right.set(title=f"{label}, step {steps}: loss {loss:.3f}", xlabel="input x",
              ylim=(-1.3, 1.3))
    right.legend(fontsize="small", loc="lower right")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


# --- deep networks: forward and backward signal, layer by layer ------------------------

def deep_network(init: Initializer, depth: int, width: int = 256, batch: int = 128,
                 seed: int = 0):
    """Input batch, weights and zero biases of a ``depth``-layer MLP of constant width."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, width))
    weights = [np.asarray(init(width, width, seed + 1 + layer), dtype=float)
               for layer in range(depth)]
    return x, weights, [np.zeros(width) for _ in range(depth)]


def forward_backward(x, weights, biases, f: Callable, f_grad: Callable, seed: int = 0):
    """Activations a_1..a_N and gradients ∂L/∂a_1..∂L/∂a_N of L = Σ r ⊙ a_N.

    The upstream gradient r is standard normal, the same scale as the input, so
    the backward pass starts where the forward pass did. Backpropagation:
    ∂L/∂a_(l−1) = (∂L/∂a_l ⊙ f'(z_l)) W_l.
    """
    activations, pre = [], []
    a = x
    with np.errstate(over="ignore", invalid="ignore"):
        for w, b in zip(weights, biases, strict=True):
            pre.append(a @ w.T + b)
            a = f(pre[-1])
            activations.append(a)
        g = np.random.default_rng(seed + 10_000).standard_normal(a.shape)
        gradients = [g]
        for layer in range(len(weights) - 1, 0, -1):
            g = (g * f_grad(pre[layer])) @ weights[layer]
            gradients.append(g)
    return activations, gradients[::-1]


def _histogram_image(values: list[np.ndarray], reference: np.ndarray, bins: int = 61):
    """One normalized histogram per layer (columns), on a range set by ``reference``.

    The range is the reference layer's mean ± 3.5 standard deviations, cut to the
    values it actually takes (ReLU's are never negative); values beyond it are
    counted in the edge bins, so mass that escapes stays visible.
    """
    finite = reference[np.isfinite(reference)]
    centre, spread = float(finite.mean()), float(finite.std()) or 1.0
    smallest, largest = float(finite.min()), float(finite.max())
    margin = 0.03 * (largest - smallest) or spread
    low = max(centre - 3.5 * spread, smallest - margin)
    high = min(centre + 3.5 * spread, largest + margin)
    image = np.empty((bins, len(values)))
    for column, v in enumerate(values):
        v = np.nan_to_num(v.ravel(), nan=0.0, posinf=high, neginf=low)
        counts, _ = np.histogram(np.clip(v, low, high), bins=bins, range=(low, high))
        image[:, column] = counts / max(v.size, 1)
    return np.ma.masked_equal(image, 0.0), (low, high)


def _draw_histograms(ax, values, reference, title, ylabel):
    """The histogram image of :func:`_histogram_image`, one column per layer."""
    image, (low, high) = _histogram_image(values, reference)
    depth = len(values)
    ax.imshow(image, origin="lower", aspect="auto", cmap="viridis",
              norm=LogNorm(vmin=1e-4, vmax=1.0), interpolation="nearest",
              extent=(0.5, depth + 0.5, low, high))
    ax.set(title=title, xlabel="layer l", ylabel=ylabel)


def _variances(values: list[np.ndarray]) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array([float(np.var(v)) for v in values])


def deep_network_figure(init: Initializer, activation_variances: Callable,
                        activations: Activations, activation: str, depth: int,
                        scheme: str = "", width: int = 256, batch: int = 64):
    """Per-layer histograms of activations and gradients, and their variance per layer.

    Top: each column is the histogram of one layer's activations (left) or of the
    gradient reaching that layer (right); colour is the fraction of entries per bin,
    on a log scale. Bottom: Var(a_l) from ``activation_variances`` and Var(∂L/∂a_l),
    with a band of a factor 2 around layer 1's activation variance.
    """
    f, f_grad = activations[activation]
    x, weights, biases = deep_network(init, depth, width, batch)
    forward, backward = forward_backward(x, weights, biases, f, f_grad)
    with np.errstate(over="ignore", invalid="ignore"):
        variances = np.asarray(activation_variances(x, weights, biases, activation), dtype=float)
    gradient_variances = _variances(backward)

    fig, axes = figure(2, 2, figsize=(7.0, 5.4))
    # A fixed layout: constrained layout would cost 40% of the rendering of every frame,
    # and a static twin renders the demos of this chapter three dozen times.
    fig.set_layout_engine(None)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.085, hspace=0.42, wspace=0.3)
    (top_left, top_right), below = axes
    for ax in below:
        ax.remove()
    bottom = fig.add_subplot(below[0].get_gridspec()[1, :])  # the variances, full width
    _draw_histograms(top_left, forward, forward[0], "activations a_l",
                     "value (range of layer 1)")
    _draw_histograms(top_right, backward, backward[-1], "gradients ∂L/∂a_l",
                     f"value (range of layer {depth})")

    layers = np.arange(1, depth + 1)
    floor, ceiling = 1e-30, 1e30
    curves = [np.clip(np.nan_to_num(v, nan=ceiling, posinf=ceiling), floor, ceiling)
              for v in (variances, gradient_variances)]
    low = max(floor, min(1e-3, min(float(c.min()) for c in curves) / 10))
    high = min(ceiling, max(1e3, max(float(c.max()) for c in curves) * 10))
    bottom.axhspan(variances[0] / 2, variances[0] * 2, color="0.88", lw=0,
                   label="factor 2 around Var(a_1)")
    bottom.semilogy(layers, curves[0], marker=".", color="black",
                    label="Var(a_l)  (activation_variances)")
    bottom.semilogy(layers, curves[1], marker=".", color=PALETTE["clipped"],
                    label="Var(∂L/∂a_l)")
    bottom.set(title=f"{scheme}, {activation}, {depth} layers of width {width}: "
                     "variance per layer",
               xlabel="layer l", ylabel="variance (log scale)", ylim=(low, high),
               xlim=(0.5, depth + 0.5))
    bottom.legend(fontsize="x-small", loc="lower left", ncol=3)
    bottom.grid(alpha=0.3)
    major_ticks_only(bottom)
    return fig


def variance_summary_figure(initializers: Mapping[str, Initializer],
                            activation_variances: Callable,
                            names=("tanh", "relu"), depth: int = 50, width: int = 256,
                            batch: int = 128):
    """Var(a_l) per layer for every scheme and activation, relative to Var(a_1).

    One panel per activation; each line is one scheme, computed by the student's
    ``activation_variances`` on a ``depth``-layer MLP with zero biases.
    """
    fig, axes = figure(len(names), figsize=(7.0, 3.4), sharey=True)
    layers = np.arange(1, depth + 1)
    for ax, activation in zip(np.atleast_1d(axes), names, strict=True):
        ax.axhspan(0.5, 2.0, color="0.9", lw=0)
        for (scheme, init), color in zip(initializers.items(), SCHEME_COLORS, strict=False):
            x, weights, biases = deep_network(init, depth, width, batch)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                v = np.asarray(activation_variances(x, weights, biases, activation), dtype=float)
                relative = np.nan_to_num(v / v[0], nan=1e30, posinf=1e30)
            ax.semilogy(layers, np.clip(relative, 1e-30, 1e30), color=color, lw=1.6,
                        label=scheme)
        ax.set(title=activation, xlabel="layer l", ylim=(1e-12, 1e12), xlim=(1, depth))
        ax.grid(alpha=0.3)
        major_ticks_only(ax)
    np.atleast_1d(axes)[0].set_ylabel("Var(a_l) / Var(a_1)  (log scale)")
    fig.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="outside lower center",
               ncol=3, fontsize="small", frameon=False)
    return fig


def weight_distributions_figure(initializers: Mapping[str, Initializer], fan_in: int = 256,
                                fan_out: int = 64, seed: int = 0):
    """Histograms of the weights each initializer draws for one (fan_out, fan_in) layer."""
    fig, ax = figure(figsize=(7.0, 3.2))
    samples = {name: np.asarray(init(fan_in, fan_out, seed), dtype=float).ravel()
               for name, init in initializers.items()}
    edge = 1.15 * max(float(np.max(np.abs(s))) for s in samples.values())
    bins = np.linspace(-edge, edge, 81)
    for (name, s), color in zip(samples.items(), SCHEME_COLORS[2:], strict=False):
        ax.hist(s, bins=bins, density=True, histtype="step", lw=1.6, color=color,
                label=f"{name}: std {s.std():.3f}")
    ax.set(title=f"one layer, fan_in = {fan_in}, fan_out = {fan_out} ({fan_in * fan_out} weights)",
           xlabel="weight value", ylabel="density")
    ax.legend(fontsize="small", loc="upper right")
    ax.grid(alpha=0.3)
    return fig


# --- the tanh variance map: q_{l+1} = σ_w² E[tanh²(√q_l z)] ------------------------------

#: The weight variances (times n_in) the variance-map figure draws.
VARIANCE_MAP_SCALES = (0.5, 1.0, 1.5, 2.0, 4.0)


def tanh_variance_map(q, sigma_w2: float, nodes: int = 80) -> np.ndarray:
    """σ_w² · E_{z∼N(0,1)}[tanh²(√q · z)] for each pre-activation variance in ``q``.

    The next layer's pre-activation variance of a wide tanh network with weights
    N(0, σ_w²/n_in) and no bias. The expectation is Gauss–Hermite quadrature with the
    probabilists' weight e^(−z²/2) (``hermegauss``), exact to far below plotting accuracy
    for q up to about 10 with 80 nodes.
    """
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    q = np.asarray(q, dtype=float)
    return sigma_w2 * (np.tanh(np.sqrt(q)[..., None] * z) ** 2 @ w)


def tanh_fixed_point(sigma_w2: float, nodes: int = 80) -> float:
    """The stable fixed point q* of :func:`tanh_variance_map`: 0 when σ_w² ≤ 1.

    For σ_w² > 1 the map's slope at 0 is σ_w² > 1, so q = 0 repels and a second, stable
    fixed point appears; it is found by bisection on q ↦ map(q) − q.
    """
    if sigma_w2 <= 1.0:
        return 0.0
    low, high = 1e-9, 1.0
    while tanh_variance_map(high, sigma_w2, nodes) > high:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if tanh_variance_map(mid, sigma_w2, nodes) > mid else (low, mid)
    return 0.5 * (low + high)


def gradient_gain(sigma_w2: float, nodes: int = 80) -> float:
    """χ = σ_w² · E[tanh′(√q* z)²]: the factor by which a layer multiplies the gradient's
    variance on the way down, once the forward variance sits at its fixed point q*."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    slope = 1.0 - np.tanh(np.sqrt(tanh_fixed_point(sigma_w2, nodes)) * z) ** 2
    return float(sigma_w2 * (slope**2 @ w))


def variance_map_figure(scales=VARIANCE_MAP_SCALES, q_max: float = 3.0, layers: int = 30):
    """Left: the map q ↦ σ_w² E[tanh²(√q z)] against the diagonal, fixed points marked.
    Right: q_l through ``layers`` layers from q_0 = 1, one curve per σ_w²."""
    q = np.linspace(0.0, q_max, 301)
    fig, (left, right) = figure(2, figsize=(7.4, 3.4))
    left.plot(q, q, color="black", lw=0.9, ls="--", label="diagonal: $q_{l+1} = q_l$")
    for k, s2 in enumerate(scales):
        color = SCHEME_COLORS[k % len(SCHEME_COLORS)]
        left.plot(q, tanh_variance_map(q, s2), color=color, lw=1.8, label=f"σ_w² = {s2:g}")
        star = tanh_fixed_point(s2)
        left.plot(star, star, "o", color=color, ms=6, mec="black", mew=0.6,
                  zorder=3)
        path = [1.0]
        for _ in range(layers):
            path.append(float(tanh_variance_map(path[-1], s2)))
        right.semilogy(range(layers + 1), path, color=color, lw=1.8, marker=".",
                       label=f"σ_w² = {s2:g}: q* = {star:.2f}")
    left.set(title="one layer: $q_l \\mapsto q_{l+1}$", xlabel="pre-activation variance $q_l$",
             ylabel="$q_{l+1}$", xlim=(0, q_max), ylim=(0, q_max))
    left.legend(fontsize="x-small", loc="upper left")
    right.set(title="through the layers, from $q_0 = 1$", xlabel="layer $l$",
              ylabel="$q_l$  (log scale)", ylim=(1e-3, 10))
    right.legend(fontsize="x-small", loc="lower left")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    major_ticks_only(right)
    return fig
