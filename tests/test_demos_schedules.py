"""Chapter 06's figure builders (descent.demos.schedules), drawn with the model answers."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from descent.answers import load
from descent.demos import schedules as demo

NAMES = ["piecewise_linear_lr", "step_lr", "exponential_lr", "inverse_time_lr",
         "cosine_warmup_lr", "reduce_on_plateau"]
SCHEDULES = dict(zip(NAMES, load("06_schedules", *NAMES), strict=True))


@pytest.mark.parametrize("ratio", [1.0, 0.1, 0.01, 0.001])
def test_timetables_start_at_lr0_and_end_near_the_ratio(ratio):
    tables = demo.timetables(SCHEDULES, ratio)
    assert list(tables) == list(demo.COLORS)[:-1]
    for label, lrs in tables.items():
        assert lrs.shape == (demo.STEPS,)
        if label == "constant":
            assert np.all(lrs == demo.LR0)
            continue
        assert lrs[-1] == pytest.approx(ratio * demo.LR0, rel=0.1), label
        assert lrs.max() == pytest.approx(demo.LR0), label
        start = 0.0 if label == "cosine + warm-up" else demo.LR0
        assert lrs[0] == pytest.approx(start), label


def test_constant_rate_settles_on_the_predicted_noise_floor():
    runs = demo.noisy_sgd(np.full(demo.STEPS, demo.LR0), 2.0, seeds=range(40))
    late = runs.losses[100:].mean()
    assert late == pytest.approx(demo.bowl_noise_floor(demo.LR0, 2.0), rel=0.15)


def test_noise_floor_is_proportional_to_the_rate_for_small_rates():
    ratio = demo.bowl_noise_floor(1e-4, 2.0) / demo.bowl_noise_floor(1e-5, 2.0)
    assert ratio == pytest.approx(10, rel=1e-3)


def test_decaying_the_rate_shrinks_the_bounce():
    runs = demo.all_runs(SCHEDULES, 2.0)
    constant = np.median(runs["constant"].losses[-1])
    for label in ("piecewise linear", "step", "exponential", "cosine + warm-up",
                  "reduce on plateau"):
        assert np.median(runs[label].losses[-1]) < constant / 5, label
    # without noise a constant rate is best: decaying it only slows the descent
    quiet = demo.all_runs(SCHEDULES, 0.0, seeds=range(2))
    assert all(np.median(quiet["constant"].losses[-1]) <= np.median(r.losses[-1])
               for r in quiet.values())


def test_reduce_on_plateau_cuts_each_seed_at_epoch_boundaries():
    runs = demo.all_runs(SCHEDULES, 2.0, seeds=range(3))["reduce on plateau"]
    changes = np.flatnonzero(np.any(np.diff(runs.lrs, axis=0) != 0, axis=1)) + 1
    assert changes.size and np.all(changes % demo.EPOCH == 0)
    ratios = runs.lrs[1:] / runs.lrs[:-1]
    assert set(np.round(np.unique(ratios), 12)) <= {0.5, 1.0}


def test_the_same_seed_gives_the_same_run():
    a = demo.noisy_sgd(np.full(20, 0.04), 1.0, seeds=[3, 4])
    b = demo.noisy_sgd(np.full(20, 0.04), 1.0, seeds=[4])
    assert np.array_equal(a.paths[:, 1], b.paths[:, 0])


def test_mean_square_error_is_the_exact_recursion():
    """Against a Monte Carlo estimate, and the constant rate's floor ησ²/(λ(2 − ηλ))."""
    rates = np.array([0.3, 0.5, 0.1, 0.05, 0.4, 0.2, 0.25, 0.15])
    last, average = demo.mean_square_error(rates, curvature=2.0, sigma=0.7, theta0=1.5)
    rng = np.random.default_rng(0)
    theta = np.full(200_000, 1.5)
    total = theta.copy()
    for t, eta in enumerate(rates, start=1):
        theta = theta - eta * (2.0 * theta + 0.7 * rng.standard_normal(theta.size))
        total += theta
        assert np.mean(theta**2) == pytest.approx(last[t], rel=0.02)
        assert np.mean((total / (t + 1)) ** 2) == pytest.approx(average[t], rel=0.02)
    floor = demo.mean_square_error(np.full(400, 0.1), curvature=2.0, sigma=0.7)[0][-1]
    assert floor == pytest.approx(0.1 * 0.49 / (2.0 * (2 - 0.2)), rel=1e-9)


def test_a_over_t_is_fast_only_when_a_lambda_exceeds_one_half():
    curves = demo.convergence_curves(horizon=20_000)
    t = curves["t"]
    slope = {key: demo.loglog_slope(t, curves[key], 2_000, 20_000) for key in curves if key != "t"}
    assert slope["aλ = 0.25"] == pytest.approx(-0.5, abs=0.01)  # t^(−2aλ)
    assert -1.0 < slope["aλ = 0.5"] < -0.85  # log t / t
    for key, constant in (("aλ = 1", 1.0), ("aλ = 2", 4 / 3)):  # a²σ²/((2aλ − 1)t)
        assert slope[key] == pytest.approx(-1.0, abs=0.01)
        assert t[-1] * curves[key][-1] == pytest.approx(constant, rel=0.01)
    # 1/√t breaks Σηₜ² < ∞ and still converges, on the current rate's floor ηₜσ²/(2λ) ...
    assert curves["1/√t"][-1] == pytest.approx(0.5 / np.sqrt(t[-1]) / 2, rel=0.02)
    # ... and its running average reaches the best a/t rate σ²/(λ²t) without knowing λ
    assert t[-1] * curves["1/√t, averaged"][-1] == pytest.approx(1.0, rel=0.03)


def test_every_figure_builder_returns_a_figure():
    runs = demo.all_runs(SCHEDULES, 1.0, seeds=range(3))
    figures = [
        demo.gallery_figure(SCHEDULES, "step", 0.01),
        demo.robbins_monro_figure(SCHEDULES, horizon=100),
        demo.convergence_figure(horizon=200),
        demo.bounce_figure(runs, "constant", 0.0),
        demo.bounce_figure(runs, "reduce on plateau", 1.0),
        demo.final_loss_figure(runs, 1.0),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
