"""Chapter 05's figure builders (descent.demos.optimizers), drawn with the model answers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import optimizers as demo

answers = load("05_optimizers")


def test_heavy_ball_rate_without_momentum_is_plain_descent():
    lrs = np.linspace(0.0, 0.3, 31)
    curvatures = (2.0, 20.0)
    expected = np.max([np.abs(1 - lrs * lam) for lam in curvatures], axis=0)
    assert np.allclose(demo.heavy_ball_rate(lrs, 0.0, curvatures), expected)


def test_heavy_ball_rate_is_the_spectral_radius_of_the_iteration_matrix():
    rng = np.random.default_rng(0)
    for lr, mu in rng.uniform([0.0, 0.0], [0.25, 0.99], size=(20, 2)):
        radius = max(np.abs(np.linalg.eigvals(np.array([[1 + mu - lr * lam, -mu],
                                                         [1.0, 0.0]]))).max()
                     for lam in (2.0, 20.0))
        assert demo.heavy_ball_rate(lr, mu, (2.0, 20.0)) == pytest.approx(radius)
    # underdamped: complex roots of modulus √μ, whatever the learning rate
    assert demo.heavy_ball_rate(0.05, 0.81, (2.0,)) == pytest.approx(0.9)


def test_heavy_ball_regimes_along_one_direction():
    """The closed forms the page derives: the √μ band, critical damping, the stability edge."""
    for mu in (0.25, 0.5, 0.9):
        band = np.linspace((1 - np.sqrt(mu)) ** 2, (1 + np.sqrt(mu)) ** 2, 50)
        assert np.allclose(demo.heavy_ball_rate(band, mu, (1.0,)), np.sqrt(mu), atol=1e-6)
        below = (1 - np.sqrt(mu)) ** 2 * 0.5  # overdamped: one real root above √μ
        assert demo.heavy_ball_rate(below, mu, (1.0,)) > np.sqrt(mu) + 1e-3
        edge = 2 * (1 + mu)
        assert demo.heavy_ball_rate(edge * 0.999, mu, (1.0,)) < 1
        assert demo.heavy_ball_rate(edge * 1.001, mu, (1.0,)) > 1


def test_polyak_optimum_reaches_the_accelerated_rate():
    for lam_min, lam_max in ((2.0, 20.0), (1.0, 100.0), (0.01, 10.0)):
        lr, mu = demo.polyak_optimum(lam_min, lam_max)
        root_kappa = np.sqrt(lam_max / lam_min)
        accelerated = (root_kappa - 1) / (root_kappa + 1)
        assert mu == pytest.approx(accelerated**2)
        spectrum = np.linspace(lam_min, lam_max, 101)
        assert demo.heavy_ball_rate(lr, mu, spectrum) == pytest.approx(accelerated, rel=1e-6)
        # and no other pair does better (a coarse grid around the optimum)
        lrs, mus = np.meshgrid(np.linspace(0.5, 1.5, 41) * lr, np.linspace(0.5, 1.2, 41) * mu)
        rates = demo.heavy_ball_rate(lrs, np.minimum(mus, 0.999), (lam_min, lam_max))
        assert rates.min() >= accelerated - 1e-9


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
        demo.momentum_regions_figure(),
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
