"""Chapter 01's figure builders and the cliff surface they draw."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import activations as demo
from descent.gradcheck import numerical_derivative, rel_error
from descent.surfaces import cliff_grad, cliff_loss

answers = load("01_activations")
ACTIVATIONS = {
    "sigmoid": (answers.sigmoid, answers.sigmoid_grad),
    "tanh": (np.tanh, answers.tanh_grad),
    "relu": (answers.relu, answers.relu_grad),
    "elu": (answers.elu, answers.elu_grad),
}


def test_cliff_gradient_matches_finite_differences():
    theta = np.linspace(-4, 4, 81)
    assert rel_error(cliff_grad(theta), numerical_derivative(cliff_loss, theta)) < 1e-6


def test_cliff_is_a_cliff():
    # the wall's slope H·k/4 dwarfs the bowl's slope next to it
    assert cliff_grad(1.5) > 100 * cliff_grad(1.0)
    assert cliff_loss(2.5) - cliff_loss(0.5) > 9


def test_figure_builders_return_figures():
    figures = [
        demo.activation_gallery(ACTIVATIONS),
        demo.chain_gradients(answers.scalar_chain_grad, ACTIVATIONS, 2.0, depth=5),
        demo.repeated_matrix(1.2, steps=5),
        demo.cliff_clipping(answers.clip_by_global_norm, 1.0, steps=5),
        demo.clipping_directions(answers.clip_by_value, answers.clip_by_global_norm, 1.0),
    ]
    assert all(isinstance(fig, Figure) and fig.axes for fig in figures)


def test_chain_figure_plots_the_product_formula():
    fig = demo.chain_gradients(answers.scalar_chain_grad, {"relu": ACTIVATIONS["relu"]}, 2.0,
                               depth=4)
    (line,) = fig.axes[0].get_lines()[:1]
    # all-positive ReLU chain with w = 2: |∂a_N/∂a_l| = 2^(N−l)
    assert np.allclose(line.get_ydata(), [16, 8, 4, 2, 1])
