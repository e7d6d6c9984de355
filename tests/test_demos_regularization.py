"""Chapter 03's figure builders (descent.demos.regularization) and the runs behind them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import regularization as demo
from descent.gradcheck import check_gradient

answers = load("03_regularization")


def test_every_figure_builder_returns_a_figure():
    figures = [
        demo.overfitting_figure(answers.sgd_step, 0.1, epochs=20),
        demo.decay_figure(answers.sgd_step, answers.adamw_step, answers.l2_grad, 0.3, steps=10),
        demo.dropout_figure(answers.dropout_forward, 0.5, passes=50),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes


def test_bowl_gradient_matches_central_differences():
    theta = np.array([0.3, -1.2])
    check_gradient(demo.bowl_loss, theta, demo.bowl_grad(theta), name="bowl_grad")
    assert demo.bowl_loss(demo.BOWL_CENTRE) == 0.0


def test_without_penalty_the_model_overfits_and_l2_helps():
    problem = demo.overfitting_problem()
    free = demo.train_with_weight_decay(answers.sgd_step, problem, 0.0, epochs=1500)
    ridge = demo.train_with_weight_decay(answers.sgd_step, problem, 0.1, epochs=1500)
    # memorizes: training loss far below the noise level ½σ² = 0.045, validation rising
    assert free["train"][-1] < 0.01 < free["val"][-1]
    assert free["val"][-1] > 3 * free["val"].min()
    assert ridge["val"][-1] < free["val"][-1] and ridge["norm"][-1] < free["norm"][-1]
    assert free["val"][free["best_epoch"] - 1] == free["val"].min()


def test_sgd_pair_coincides_and_adam_pair_does_not():
    paths = demo.decay_paths(answers.sgd_step, answers.adamw_step, answers.l2_grad, 0.3)
    assert np.max(np.abs(paths["sgd_l2"] - paths["sgd_wd"])) < 1e-12
    assert np.max(np.abs(paths["adam_l2"] - paths["adamw"])) > 0.1
    ridge = demo.BOWL_CURVATURE * demo.BOWL_CENTRE / (demo.BOWL_CURVATURE + 0.3)
    assert np.allclose(paths["sgd_l2"][-1], ridge, atol=1e-6)
    assert np.allclose(paths["adam_l2"][-1], ridge, atol=0.05)
    same = demo.decay_paths(answers.sgd_step, answers.adamw_step, answers.l2_grad, 0.0, steps=20)
    assert np.array_equal(same["adam_l2"], same["adamw"])


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_dropout_figure_reports_the_dropped_fraction(p):
    fig = demo.dropout_figure(answers.dropout_forward, p, passes=500)
    title = fig.axes[1].get_title()
    dropped = float(title.split()[2])
    assert abs(dropped - p) < 0.02
