"""Chapter 04's figure builders (descent.demos.gradient_descent) and the runs behind them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import gradient_descent as demo

gradient_descent, minibatch_sgd, max_stable_lr = load(
    "04_gradient_descent", "gradient_descent", "minibatch_sgd", "max_stable_lr")


def test_every_figure_builder_returns_a_figure():
    figures = [
        demo.lr_figure(gradient_descent, max_stable_lr, 0.02, steps=10),
        demo.lr_figure(gradient_descent, max_stable_lr, 0.2, steps=10),
        demo.taylor_figure(max_stable_lr),
        demo.batch_size_figure(minibatch_sgd, 4, epochs=3),
        demo.saddle_figure(gradient_descent, 1e-3, steps=50),
        demo.saddle_figure(gradient_descent, 0.0, steps=50),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes


@pytest.mark.parametrize("lr, words", [
    (0.002, "converges slowly"), (0.04, "converges"), (0.08, "converges, oscillating"),
    (0.1, "oscillates forever"), (0.101, "diverges"),
])
def test_the_regimes_of_the_ellipse(lr, words):
    """x² + 10y² has Hessian diag(2, 20): y flips sign above lr = 0.05, diverges above 0.1."""
    assert demo.regime(lr) == words
    path = gradient_descent(demo.ELLIPSE.grad, np.array(demo.ELLIPSE.start), lr, 200)
    final = demo.ELLIPSE.loss(path[-1])
    assert (final > demo.ELLIPSE.loss(path[0])) == (words == "diverges")


def test_the_bound_holds_for_lr_up_to_one_over_l():
    for lr in (0.01, 0.03, 0.05):
        path = gradient_descent(demo.ELLIPSE.grad, np.array(demo.ELLIPSE.start), lr, 100)
        t = np.arange(1, 101)
        bound = np.sum(np.square(demo.ELLIPSE.start)) / (2 * lr * t)
        assert np.all(demo.ELLIPSE.loss(path[1:]) <= bound)


def test_smaller_batches_win_per_epoch_and_lose_per_update():
    runs = demo.batch_size_runs(minibatch_sgd)
    # after one epoch, online SGD is far ahead of full-batch gradient descent
    assert runs[1][1] < 1e-2 * runs[256][1]
    # but with a constant lr it stalls at a noise floor that a batch of 16 goes below
    assert runs[16][-1] < 0.1 * runs[1][-5:].mean()
    # per update, the full batch beats online SGD: compare after 30 updates each
    assert runs[256][30] < runs[1][0] and runs[256][30] < 1.0


def test_the_plateau_grows_like_log_one_over_y0():
    lengths = [demo.plateau_steps(gradient_descent(demo.SADDLE.grad, np.array([7.0, y0]), 0.05,
                                                   300)) for y0 in (1e-3, 1e-6, 1e-9)]
    step = np.log(1e3) / np.log(1.1)  # y grows by 1 + 2·lr = 1.1 per step
    assert np.allclose(np.diff(lengths), step, atol=2)
    assert demo.plateau_steps(gradient_descent(demo.SADDLE.grad, np.array([7.0, 0.0]), 0.05,
                                               300)) > 250


def test_the_cached_hessian_spectrum_is_drawn_and_consistent():
    import json

    from descent.paths import repo_root

    data = json.loads((repo_root() / "book" / "_data" / "hessian_spectrum.json").read_text())
    fig = demo.hessian_spectrum_figure(data)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for state in data["states"].values():
        ritz, weights = np.asarray(state["ritz"]), np.asarray(state["weights"])
        assert np.all(np.diff(ritz) >= 0) and weights.sum() == pytest.approx(1.0)
        assert state["lambda_max"] == ritz[-1] and state["top_ten"][0] == ritz[-1]
        assert state["negative_ritz_values"] == int((ritz < 0).sum())
