"""Chapter 02's figure builders (descent.demos.initialization) and the computations behind them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import initialization as demo
from descent.gradcheck import check_gradient

answers = load("02_initialization")
relu, relu_grad, tanh_grad = load("01_activations", "relu", "relu_grad", "tanh_grad")
ACTIVATIONS = {"tanh": (np.tanh, tanh_grad), "relu": (relu, relu_grad)}
SCHEMES = {
    "N(0, 0.01²)": demo.naive_normal(0.01),
    "Xavier": lambda fan_in, fan_out, seed: answers.xavier_uniform(fan_in, fan_out, seed=seed),
    "Kaiming": lambda fan_in, fan_out, seed: answers.kaiming_normal(fan_in, fan_out, seed=seed),
}


def test_every_figure_builder_returns_a_figure():
    hidden = 4
    figures = [
        demo.symmetry_figure(answers.constant_init((hidden, 1), 0.5),
                             answers.constant_init((1, hidden), 0.5), 5, "constant"),
        demo.deep_network_figure(SCHEMES["Kaiming"], answers.activation_variances, ACTIVATIONS,
                                 "relu", depth=4, scheme="Kaiming", width=16, batch=8),
        demo.deep_network_figure(demo.naive_normal(1.0), answers.activation_variances,
                                 ACTIVATIONS, "relu", depth=60, width=64, batch=8),
        demo.variance_summary_figure(SCHEMES, answers.activation_variances, depth=3, width=8,
                                     batch=4),
        demo.weight_distributions_figure(SCHEMES, fan_in=8, fan_out=4),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes


def test_constant_init_keeps_units_identical_and_random_init_does_not():
    hidden = 6
    same = answers.constant_init((hidden, 1), 0.5), answers.constant_init((1, hidden), 0.5)
    *_, params = demo.train_tiny_network(*same, steps=300)
    assert len(np.unique(params, axis=0)) == 1
    assert not np.allclose(params[0], [0.5, 0.0, 0.5])  # they moved, together
    zeros = answers.constant_init((hidden, 1)), answers.constant_init((1, hidden))
    *_, params = demo.train_tiny_network(*zeros, steps=300)
    assert np.array_equal(params, np.zeros((hidden, 3)))  # a saddle: nothing moves
    hidden = 8  # as on the page
    random = answers.xavier_uniform(1, hidden, seed=0), answers.xavier_uniform(hidden, 1, seed=1)
    x, _, prediction, params = demo.train_tiny_network(*random, steps=3000)
    assert len(np.unique(params, axis=0)) == hidden
    assert np.mean((prediction - np.sin(2 * x)) ** 2) < 0.02


def test_tiny_network_steps_follow_its_gradient():
    """One step of train_tiny_network is w − lr·∇loss, checked by central differences."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(3, 1)), rng.normal(size=(1, 3))
    x, *_ = demo.train_tiny_network(w1, w2, 0)

    def loss(params):
        a, b = params[:3], params[3:]
        h = np.tanh(x[:, None] * a)
        return 0.5 * np.mean((h @ b - np.sin(2 * x)) ** 2)

    *_, params = demo.train_tiny_network(w1, w2, 1, lr=1e-3)
    moved = np.concatenate([params[:, 0] - w1.ravel(), params[:, 2] - w2.ravel()])
    check_gradient(loss, np.concatenate([w1.ravel(), w2.ravel()]), moved / -1e-3,
                   name="train_tiny_network's first step / (−lr)")


def test_forward_backward_matches_central_differences():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4))
    weights = [rng.normal(size=(5, 4)), rng.normal(size=(4, 5)), rng.normal(size=(2, 4))]
    biases = [rng.normal(size=5), rng.normal(size=4), rng.normal(size=2)]
    forward, backward = demo.forward_backward(x, weights, biases, *ACTIVATIONS["tanh"], seed=3)
    upstream = backward[-1]
    assert np.allclose([np.var(a) for a in forward],
                       answers.activation_variances(x, weights, biases, "tanh"))

    def loss_from(layer):  # L = Σ upstream ⊙ a_N as a function of a_layer
        def loss(a):
            for w, b in zip(weights[layer:], biases[layer:], strict=True):
                a = np.tanh(a @ w.T + b)
            return float(np.sum(upstream * a))
        return loss

    for layer in range(len(weights)):
        # Σ upstream ⊙ a_N cancels; |a_N| ≤ 1 (tanh) bounds the size of its terms.
        check_gradient(loss_from(layer + 1), forward[layer], backward[layer],
                       f_scale=np.sum(np.abs(upstream)), name=f"backward[{layer}]")


def test_deep_networks_collapse_or_keep_their_variance():
    def last_over_first(init, activation):
        x, weights, biases = demo.deep_network(init, depth=20, width=64, batch=32)
        v = answers.activation_variances(x, weights, biases, activation)
        return v[-1] / v[0]

    assert last_over_first(SCHEMES["N(0, 0.01²)"], "tanh") < 1e-20
    assert last_over_first(SCHEMES["Xavier"], "relu") < 1e-3
    assert 0.25 < last_over_first(SCHEMES["Kaiming"], "relu") < 4


def test_histograms_count_every_entry_and_clip_escapees_into_the_edges():
    values = [np.array([0.0, 1.0, -1.0, 0.5]), np.array([100.0, -100.0, 0.0, 0.0])]
    masked, (low, high) = demo._histogram_image(values, values[0], bins=5)
    image = masked.filled(0.0)
    assert image.sum(axis=0) == pytest.approx([1.0, 1.0])
    assert low < -1.0 and high > 1.0
    assert image[0, 1] == image[-1, 1] == pytest.approx(0.25)


def test_tanh_variance_map_against_monte_carlo_and_its_fixed_points():
    z = np.random.default_rng(0).standard_normal(400_000)
    for q, s2 in [(0.3, 1.0), (1.0, 2.0), (2.5, 4.0)]:
        sampled = s2 * np.mean(np.tanh(np.sqrt(q) * z) ** 2)
        assert float(demo.tanh_variance_map(q, s2)) == pytest.approx(sampled, rel=5e-3)
    # small q: E[tanh²(√q z)] ≈ q − 2q², so the map's slope at 0 is σ_w²
    assert float(demo.tanh_variance_map(1e-4, 1.0)) == pytest.approx(1e-4 - 2e-8, rel=1e-6)
    assert demo.tanh_fixed_point(0.5) == 0.0 and demo.tanh_fixed_point(1.0) == 0.0
    for s2 in (1.5, 2.0, 4.0):
        star = demo.tanh_fixed_point(s2)
        assert star > 0 and float(demo.tanh_variance_map(star, s2)) == pytest.approx(star)
    assert demo.gradient_gain(1.0) == pytest.approx(1.0)
    assert demo.gradient_gain(2.0) > 1.0
    assert isinstance(demo.variance_map_figure(scales=(1.0, 2.0), layers=5), Figure)
