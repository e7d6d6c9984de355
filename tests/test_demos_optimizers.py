"""Chapter 05's figure builders (descent.demos.optimizers), drawn with the model answers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import optimizers as demo

answers = load("05_optimizers")


def test_heavy_ball_rate_without_momentum_is_plain_descent():
    alphas = np.linspace(0.0, 0.3, 31)
    curvatures = (2.0, 20.0)
    expected = np.max([np.abs(1 - alphas * lam) for lam in curvatures], axis=0)
    assert np.allclose(demo.heavy_ball_rate(alphas, 0.0, curvatures), expected)


def test_heavy_ball_rate_is_the_spectral_radius_of_the_iteration_matrix():
    rng = np.random.default_rng(0)
    for alpha, beta in rng.uniform([0.0, 0.0], [0.25, 0.99], size=(20, 2)):
        radius = max(np.abs(np.linalg.eigvals(np.array([[1 + beta - alpha * lam, -beta],
                                                         [1.0, 0.0]]))).max()
                     for lam in (2.0, 20.0))
        assert demo.heavy_ball_rate(alpha, beta, (2.0, 20.0)) == pytest.approx(radius)
    # underdamped: complex roots of modulus √β, whatever the learning rate
    assert demo.heavy_ball_rate(0.05, 0.81, (2.0,)) == pytest.approx(0.9)


def test_heavy_ball_run_follows_the_predicted_rate():
    lr, momentum = 0.1, 0.3
    fig = demo.momentum_phase_figure(answers.momentum_step, lr, momentum, steps=40)
    loss = fig.axes[1].get_lines()[0].get_ydata()
    rate = demo.heavy_ball_rate(lr, momentum, (2.0, 20.0))
    assert loss[40] < loss[0] * rate**80 * 1e3  # the envelope, up to a constant
    assert loss[40] > loss[0] * (0.9 * rate) ** 80


def test_step_sizes_with_a_constant_gradient():
    sizes = demo.step_sizes({"adagrad": (answers.adagrad_step, {"lr": 0.01}),
                             "adam": (answers.adam_step, {"lr": 0.01})}, steps=100)
    t = np.arange(1, 101)
    assert np.allclose(sizes["adagrad"], 0.01 / np.sqrt(t), rtol=1e-6)
    assert np.allclose(sizes["adam"], 0.01, rtol=1e-6)


def test_amsgrad_fixes_reddi_counterexample():
    adam = demo.online_counterexample(answers.adam_step, steps=1500)
    amsgrad = demo.online_counterexample(answers.amsgrad_step, steps=1500)
    assert adam[-300:].mean() > 0.9 and amsgrad[-300:].mean() < -0.9


def test_first_step():
    assert demo.first_step([False, True, True]) == 1
    assert demo.first_step(np.zeros(3, bool)) is None


def test_every_figure_builder_returns_a_figure():
    figures = [
        demo.momentum_phase_figure(answers.momentum_step, 0.05, 0.5, steps=10),
        demo.step_sizes_figure({"rmsprop": (answers.rmsprop_step, {"lr": 0.01})}, steps=10),
        demo.counterexample_figure(answers.adam_step, answers.amsgrad_step, steps=30),
        demo.delta_bar_delta_figure(answers.delta_bar_delta_step, steps=10),
        demo.noise_figure(answers.noisy_sgd_step, steps=10),
        demo.compare_figure({"adam": (answers.adam_step, {"lr": 0.5}),
                             "adam (blog)": (answers.adam_step, {"lr": 0.1})}, "ellipse", 10,
                            styles={"adam (blog)": {"color": "black", "ls": "--"}}),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes


def test_noise_lets_descent_leave_the_ridge():
    fig = demo.noise_figure(answers.noisy_sgd_step, steps=40)
    lines = [line for line in fig.axes[1].get_lines() if len(line.get_xdata()) > 1]
    plain, noisy = lines[0], lines[1:]
    assert np.all(plain.get_ydata() == 0.0)  # no noise: stuck on y = 0
    assert all(np.nanmax(np.abs(line.get_ydata())) > 1.0 for line in noisy)
