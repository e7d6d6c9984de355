"""Chapter 08's figure builders (descent.demos.batch_norm) and the networks behind them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import batch_norm as demo
from descent.gradcheck import check_gradient

answers = load("08_batch_norm")
LAYER = demo.Layer(answers.batchnorm_forward, answers.batchnorm_backward,
                   answers.update_running_stats, answers.batchnorm_eval)


def _small_problem(batch_norm, seed=0):
    X, y = demo.spirals()
    rows = np.random.default_rng(seed).choice(len(y), size=16, replace=False)
    layers = demo.init_network((2, 5, 4, 3), batch_norm, seed)
    return layers, X[rows], y[rows]


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "tanh"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_backpropagation_matches_central_differences(nonlinearity, batch_norm):
    layers, X, y = _small_problem(batch_norm)
    bn = LAYER if batch_norm else None
    _, grads, _ = demo.gradients(layers, X, y, nonlinearity, bn)
    for index, grad in enumerate(grads):
        for key, g in grad.items():
            def loss(value, index=index, key=key):
                changed = [dict(layer) for layer in layers]
                changed[index][key] = value
                return demo.cross_entropy(demo.forward_pass(changed, X, nonlinearity, bn)[0],
                                          y)[0]

            check_gradient(loss, layers[index][key], g, name=f"layer {index}, {key}")


def test_batch_norm_layers_have_no_bias_and_keep_running_statistics():
    layers, X, y = _small_problem(True)
    assert all("b" not in layer for layer in layers[:-1]) and "b" in layers[-1]
    new, _ = demo.sgd_update(layers, X, y, "tanh", LAYER, 0.1)
    a = X @ layers[0]["W"]
    expected = answers.update_running_stats(np.zeros(5), np.ones(5), a)
    assert np.allclose(new[0]["running_mean"], expected[0])
    assert np.allclose(new[0]["running_var"], expected[1])
    assert np.array_equal(layers[0]["running_mean"], np.zeros(5))  # the old layers unchanged


def test_softmax_cross_entropy_gradient():
    logits = np.random.default_rng(1).normal(size=(4, 3))
    y = np.array([0, 2, 1, 2])
    _, grad = demo.cross_entropy(logits, y)
    check_gradient(lambda z: demo.cross_entropy(z, y)[0], logits, grad, name="cross_entropy")


def test_spirals_are_standardized_and_balanced():
    X, y = demo.spirals()
    assert X.shape == (240, 2) and np.allclose(X.mean(axis=0), 0) and np.allclose(X.std(axis=0), 1)
    assert np.array_equal(np.bincount(y), [80, 80, 80])


def test_sigmoid_gradient_vanishes_without_batch_norm_only():
    plain = demo.gradient_norms(None, "sigmoid")
    normalized = demo.gradient_norms(LAYER, "sigmoid")
    assert plain[0] < 1e-3 * plain[-1]
    assert normalized.min() > 0.1 * normalized.max()


def test_the_page_claims_about_training():
    finals = {(nonlinearity, name): [demo.final_loss(demo.train(bn, nonlinearity, lr))
                                     for lr in demo.LEARNING_RATES]
              for nonlinearity in ("sigmoid", "tanh")
              for name, bn in (("plain", None), ("bn", LAYER))}
    chance = np.log(3)
    assert all(abs(loss - chance) < 0.05 for loss in finals["sigmoid", "plain"])  # plateau
    assert all(loss < 0.5 for loss in finals["sigmoid", "bn"])
    assert all(loss < 0.3 for loss in finals["tanh", "bn"])  # every learning rate trains
    tanh = dict(zip(demo.LEARNING_RATES, finals["tanh", "plain"], strict=True))
    assert tanh[0.3] < 0.02 and tanh[1.0] > 1.0 and not np.isfinite(tanh[3.0])
    bands = demo.train(None, "sigmoid", 0.3)["bands"]
    assert bands[-1, -1, 3] - bands[-1, -1, 1] < 0.01  # collapsed: 15-85 % of layer 6


def test_train_and_test_mode_on_small_batches():
    trained, tested = demo.train_eval_outputs(LAYER, 2)
    assert np.mean(np.abs(np.abs(trained) - 1.0) < 1e-2) > 0.98  # two examples: ±1 (up to δ)
    z = demo._feature()
    population = (np.quantile(z, 0.9) - z.mean()) / z.std()
    for n in demo.BATCH_SIZES:
        trained, tested = demo.train_eval_outputs(LAYER, n)
        assert abs(tested - population) < 0.2
    assert abs(np.mean(demo.train_eval_outputs(LAYER, 64)[0]) - population) < 0.1
    assert np.mean(demo.train_eval_outputs(LAYER, 2)[0]) < population - 0.3  # pulled to 0


def test_every_figure_builder_returns_a_figure():
    figures = [
        demo.gradient_figure(LAYER),
        demo.distributions_figure(LAYER, True, 0.3),
        demo.distributions_figure(LAYER, False, 3.0),
        demo.loss_figure(LAYER, "sigmoid", 1.0),
        demo.train_eval_figure(LAYER, 4),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
