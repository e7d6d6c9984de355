"""Chapter 07's figure builders (descent.demos.averaging), drawn with the model answers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import averaging as demo

answers = load("07_polyak_averaging")
noisy_sgd_step = load("05_optimizers", "noisy_sgd_step")


def test_without_noise_the_run_is_gradient_descent():
    path = demo.noisy_run(noisy_sgd_step, 0.0, steps=30)
    t = np.arange(31)
    x0, y0 = demo.VALLEY.start
    lr = demo.VALLEY_LR
    assert np.allclose(path[:, 0], x0 * (1 - 2 * lr) ** t)
    assert np.allclose(path[:, 1], y0 * (1 - 20 * lr) ** t)  # y bounces: factor −0.9


def test_tail_averages_are_sliding_window_means():
    path = np.random.default_rng(0).normal(size=(40, 2))
    for n in (1, 4, 60):
        got = demo.tail_averages(answers.tail_average, path, n)
        cumulative = np.vstack([np.zeros(2), np.cumsum(path, axis=0)])
        end = np.arange(1, 41)
        first = np.maximum(end - n, 0)
        expected = (cumulative[end] - cumulative[first]) / (end - first)[:, None]
        assert np.allclose(got, expected)


def test_ema_paths_and_their_starts():
    path = np.random.default_rng(1).normal(size=(25, 3))
    assert np.allclose(demo.ema_path(answers.ema_update, path, 0.0), path)
    assert np.allclose(demo.ema_path(answers.ema_update, path, 1.0), path[0])
    constant = np.full((25, 3), 2.5)
    corrected = demo.ema_path(answers.ema_update, constant, 0.9, answers.ema_debiased, "zero")
    raw = demo.ema_path(answers.ema_update, constant, 0.9, start="zero")
    assert np.allclose(corrected, 2.5)
    assert np.allclose(raw[:, 0], 2.5 * (1 - 0.9 ** np.arange(1, 26)))


def test_averaging_lowers_the_noise_floor_in_the_valley():
    fig = demo.valley_figure(noisy_sgd_step, answers.tail_average, answers.ema_update,
                             answers.ema_debiased, 20, 0.9, 1.0)
    rms = [float(text.get_text().rsplit(": ", 1)[1])
           for text in fig.axes[1].get_legend().get_texts()]
    last, tail, ema = rms
    # the stationary RMS of the last iterate: √(Σ over x and y of η²σ²/(1 − q²)), q = 1 − ηλ, σ² = 1
    lr = demo.VALLEY_LR
    predicted = np.sqrt(sum(lr**2 / (1 - (1 - lr * lam) ** 2) for lam in (2.0, 20.0)))
    assert last == pytest.approx(predicted, rel=0.15)
    assert tail < last / 2 and ema < last / 2


def test_a_long_window_lags_behind_the_transient():
    """With N = 100 the average still holds the start after 50 steps: farther than N = 20."""
    long = demo._tails(answers.tail_average, noisy_sgd_step, 1.0, 150, 20, 100)
    short = demo._tails(answers.tail_average, noisy_sgd_step, 1.0, 150, 20, 20)
    assert np.mean(demo.distance(long[:, 50])) > 2 * np.mean(demo.distance(short[:, 50]))


def test_swa_and_ema_beat_the_last_iterate_and_the_copied_start_lingers():
    curves = demo.swa_run(answers.average_parameters, epochs=40, decays=(0.99, 0.999))
    assert curves["swa"][-1] < curves["iterate"][-5:].mean() / 10
    assert curves[0.99][-1] < curves["iterate"][-5:].mean() / 10
    # AveragedModel's copy of the zero start keeps the weight 0.999^2000 ≈ 0.135
    assert curves[0.999][-1] > curves["iterate"][-5:].max()
    assert np.isnan(curves["swa"][:9]).all() and np.isfinite(curves["swa"][9:]).all()


def test_least_squares_is_the_minimum():
    x, y = demo.regression_problem()
    best = demo.least_squares(x, y)
    error = x @ best["weight"] + best["bias"] - y
    assert np.allclose(x.T @ error, 0.0, atol=1e-8) and abs(error.sum()) < 1e-8


def test_every_figure_builder_returns_a_figure():
    figures = [
        demo.valley_figure(noisy_sgd_step, answers.tail_average, answers.ema_update,
                           answers.ema_debiased, 5, 0.5, 5.0, steps=20, runs=2),
        demo.ema_start_figure(answers.ema_update, answers.ema_debiased, 0.9, "converging"),
        demo.ema_start_figure(answers.ema_update, answers.ema_debiased, 0.5, "constant", 10),
        demo.swa_figure(answers.average_parameters, epochs=12, swa_start=3),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
