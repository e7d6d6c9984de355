"""Chapter 01's figure builders (descent.demos.activations) and the cliff surface they draw."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import activations as demo
from descent.gradcheck import check_derivative
from descent.surfaces import cliff_grad, cliff_loss
from descent.widgets import static_twin

answers = load("01_activations")
ACTIVATIONS = {
    "sigmoid": (answers.sigmoid, answers.sigmoid_grad),
    "tanh": (np.tanh, answers.tanh_grad),
    "relu": (answers.relu, answers.relu_grad),
    "elu": (answers.elu, answers.elu_grad),
}


def test_cliff_gradient_matches_central_differences():
    theta = np.linspace(-4, 4, 161)  # steps of 0.05 cross the wall at 1.5
    check_derivative(cliff_loss, theta, cliff_grad(theta), name="cliff_grad")
    other = {"height": 3.0, "steepness": 10.0, "edge": -0.5}
    check_derivative(lambda t: cliff_loss(t, **other), theta, cliff_grad(theta, **other),
                     name="cliff_grad (height 3, steepness 10, edge −0.5)")


def test_cliff_is_a_wall_on_a_bowl():
    # the wall's slope H·k/4 dwarfs the bowl's slope θ next to it
    assert cliff_grad(1.5) == pytest.approx(1.5 + 10 * 60 / 4)
    assert cliff_grad(1.5) > 100 * cliff_grad(1.0)
    assert cliff_loss(2.5) - cliff_loss(0.5) == pytest.approx(10 + (2.5**2 - 0.5**2) / 2, abs=1e-6)
    assert cliff_loss(np.zeros((2, 3))).shape == (2, 3)


def test_every_figure_builder_returns_a_figure():
    figures = [
        demo.activations_figure(ACTIVATIONS),
        demo.gradient_per_layer_figure(answers.scalar_chain_grad, ACTIVATIONS, 2.0, "tanh",
                                       depth=5),
        demo.dead_units_figure(answers.scalar_chain_grad, ACTIVATIONS, depth=5),
        demo.repeated_matrix_figure(1.2, steps=5),
        demo.cliff_clipping_figure(answers.clip_by_global_norm, 1.0, steps=5),
        demo.clipping_directions_figure(answers.clip_by_value, answers.clip_by_global_norm, 1.0),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes


def test_gradient_per_layer_plots_the_product_formula():
    fig = demo.gradient_per_layer_figure(answers.scalar_chain_grad, ACTIVATIONS, 2.0, "relu",
                                         depth=4)
    left, right = fig.axes
    bold = next(line for line in left.get_lines() if line.get_label() == "relu")
    # an all-positive ReLU chain with w = 2: |∂a_N/∂a_l| = 2^(N−l), each factor exactly 2
    assert np.allclose(bold.get_ydata(), [16, 8, 4, 2, 1])
    assert np.allclose(right.get_lines()[0].get_ydata(), 2.0)
    with pytest.raises(ValueError, match="unknown activation"):
        demo.gradient_per_layer_figure(answers.scalar_chain_grad, ACTIVATIONS, 1.0, "gelu")


def test_dead_relu_passes_no_gradient_but_elu_does():
    fig = demo.dead_units_figure(answers.scalar_chain_grad, ACTIVATIONS, depth=6)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "relu: 0 of the 6 layers below the output get a gradient" in labels
    assert "elu: 6 of the 6 layers below the output get a gradient" in labels


def test_repeated_matrix_has_the_requested_spectrum():
    w, eigvals, eigvecs = demo.repeated_matrix(1.1, ratio=0.5)
    assert np.allclose(np.sort(np.linalg.eigvalsh(w)), [0.55, 1.1])
    assert np.allclose(w @ eigvecs, eigvecs * eigvals)


def test_static_twin_of_a_demo_has_one_image_per_frame():
    def plot(weight_scale, activation):
        return demo.gradient_per_layer_figure(answers.scalar_chain_grad, ACTIVATIONS,
                                              weight_scale, activation, depth=3)

    html = static_twin(plot, ("weight_scale", [0.5, 2.0]),
                       {"activation": ["sigmoid", "relu"]}, alt="{activation}, w {weight_scale}")
    keys = re.findall(r'<img data-key="([^"]+)" src="data:image/png;base64,', html)
    assert sorted(keys) == ["0|0", "0|1", "1|0", "1|1"]
    assert html.count("<img ") == 4
    assert 'alt="relu, w 2.0"' in html
