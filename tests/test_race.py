"""descent.race: running any step function through the chapter-05 interface, tuning, drawing.

The step functions here are stand-ins written for the test: PyTorch's optimizers wrapped into
the interface (state = the optimizer object itself is not plain data, so it is kept in a
closure), and hand-written rules. None of them is a model answer.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from descent.race import (
    LR_GRID,
    SURFACES,
    RaceView,
    accepted,
    learning_rate,
    power_of_ten,
    race,
    race_figure,
    run,
    score,
    tune_lr,
)


def torch_stepper(cls, **fixed):
    """A step function with the interface, backed by a fresh torch.optim optimizer per run."""
    def step(theta, grad, state, lr=0.01, **hyper):
        if "opt" not in state:
            param = torch.tensor(np.asarray(theta, dtype=float), requires_grad=True)
            state = {"opt": cls([param], lr=lr, **{**fixed, **hyper}), "param": param}
        param = state["param"]
        param.grad = torch.tensor(np.asarray(grad, dtype=float))
        state["opt"].step()
        return param.detach().numpy().copy(), state
    return step


def gd_step(theta, grad, state, lr=0.01):
    return theta - lr * np.asarray(grad), state


def test_run_matches_closed_form_gradient_descent():
    surface = SURFACES["ellipse"]
    path = run(gd_step, surface.grad, surface.start, 30, lr=0.02)
    t = np.arange(31)
    assert path.shape == (31, 2)
    assert np.allclose(path[:, 0], 7.0 * (1 - 2 * 0.02) ** t)
    assert np.allclose(path[:, 1], 5.0 * (1 - 20 * 0.02) ** t)


def test_run_drives_a_torch_optimizer_like_torch_does():
    surface = SURFACES["rosenbrock"]
    sgd = torch_stepper(torch.optim.SGD, momentum=0.9)
    path = run(sgd, surface.grad, surface.start, 20, lr=1e-3)
    param = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([param], lr=1e-3, momentum=0.9)
    for _ in range(20):
        opt.zero_grad()
        surface.loss(param).backward()
        opt.step()
    assert np.allclose(path[-1], param.detach().numpy(), rtol=1e-10)


def test_divergence_ends_quietly_with_nan():
    surface = SURFACES["ellipse"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may be printed into the page
        path = run(gd_step, surface.grad, surface.start, 400, lr=0.2)
    finite = np.all(np.isfinite(path), axis=1)
    first_bad = int(np.argmin(finite))
    assert 0 < first_bad < 400 and not finite[first_bad:].any() and finite[:first_bad].all()
    assert np.abs(path[first_bad - 1]).max() <= 1e6
    assert score(path, surface.loss) > 1e6  # the last point reached is far up the wall


def test_non_finite_step_output_is_divergence():
    def broken(theta, grad, state):
        return theta * np.inf, state
    path = run(broken, SURFACES["saddle"].grad, (1.0, 1.0), 5)
    assert np.all(path[0] == 1.0) and np.isnan(path[1:]).all()


def test_hyper_parameters_go_only_to_rules_that_accept_them():
    def adam_like(theta, grad, state, lr=1e-3, betas=(0.9, 0.999)):
        return theta, state
    def anything(theta, grad, state, **kwargs):
        return theta, state
    hyper = {"lr": 0.1, "momentum": 0.9, "betas": (0.5, 0.9)}
    assert accepted(adam_like, hyper) == {"lr": 0.1, "betas": (0.5, 0.9)}
    assert accepted(gd_step, hyper) == {"lr": 0.1}
    assert accepted(anything, hyper) == hyper
    # so one race can mix rules with different hyper-parameters without a TypeError
    results = race({"gd": gd_step, "adam_like": adam_like}, "ellipse", 5, **hyper)
    assert set(results) == {"gd", "adam_like"}


def test_a_students_own_function_races():
    calls = []

    def my_step(theta, grad, state, lr=0.01):
        calls.append(dict(state))
        return theta - lr * grad, {"step": state.get("step", 0) + 1}

    results = race({"mine": my_step}, "beale", 7, lr=0.01)
    path, lr = results["mine"]
    assert path.shape == (8, 2) and lr == 0.01
    assert calls[0] == {} and calls[-1] == {"step": 6}  # the state it returned comes back


def test_tune_lr_picks_the_best_final_loss():
    surface = SURFACES["ellipse"]
    best, scores = tune_lr(gd_step, surface, 50)
    assert scores.shape == (len(LR_GRID),)
    # closed form: x shrinks by |1 − 2η|, y by |1 − 20η| per step; η ≥ 0.1 cannot converge
    expected = [49 * (1 - 2 * lr) ** 100 + 250 * (1 - 20 * lr) ** 100 for lr in LR_GRID]
    finite = [lr for lr in LR_GRID if lr < 0.1]
    assert best == finite[int(np.argmin(expected[: len(finite)]))] == 0.03
    assert np.allclose(scores[: len(finite)], expected[: len(finite)])
    assert np.all(scores[len(finite):] > 100)


def test_fair_mode_tunes_each_optimizer_separately():
    adam = torch_stepper(torch.optim.Adam)
    sgd = torch_stepper(torch.optim.SGD)
    results = race({"adam": adam, "sgd": sgd}, "ellipse", 40, mode="fair")
    assert results["sgd"][1] == tune_lr(sgd, SURFACES["ellipse"], 40)[0]
    assert results["adam"][1] == tune_lr(adam, SURFACES["ellipse"], 40)[0]
    assert results["adam"][1] != results["sgd"][1]
    with pytest.raises(ValueError, match="mode"):
        race({"sgd": sgd}, "ellipse", 5, mode="unfair")


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_race_figure_and_fast_view_draw_every_surface(name):
    optimizers = {"sgd": gd_step, "adam": torch_stepper(torch.optim.Adam)}
    fig = race_figure(optimizers, name, 30, lr=0.05)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels[0].startswith("sgd (η = 0.05)")
    view = RaceView(list(optimizers))
    png = view.update(SURFACES[name], 30, race(optimizers, name, 30, lr=0.05))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    moved = view.update(SURFACES[name], 30, race(optimizers, name, 30, lr=0.01))
    assert moved != png  # the lines moved on the cached background
    ydata = view.curves["sgd"].get_ydata()
    assert len(ydata) == 31


def test_power_of_ten_labels():
    assert power_of_ten(1e-6) == "10⁻⁶" and power_of_ten(-100.0) == "−10²"
    assert power_of_ten(0.0) == "0"


def test_learning_rate_falls_back_to_the_rules_default():
    def zeiler(theta, grad, state, lr=1.0, rho=0.9):
        return theta, state
    assert learning_rate(zeiler, {}) == 1.0 and learning_rate(zeiler, {"lr": 0.5}) == 0.5
    assert np.isnan(learning_rate(lambda theta, grad, state: (theta, state), {}))
    assert race({"zeiler": zeiler}, "ellipse", 3)["zeiler"][1] == 1.0
