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
    assert late == pytest.approx(demo.noise_floor(demo.LR0, 2.0), rel=0.15)


def test_noise_floor_is_proportional_to_the_rate_for_small_rates():
    assert demo.noise_floor(1e-4, 2.0) / demo.noise_floor(1e-5, 2.0) == pytest.approx(10,
                                                                                      rel=1e-3)


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


def test_every_figure_builder_returns_a_figure():
    runs = demo.all_runs(SCHEDULES, 1.0, seeds=range(3))
    figures = [
        demo.gallery_figure(SCHEDULES, "step", 0.01),
        demo.robbins_monro_figure(SCHEDULES, horizon=100),
        demo.bounce_figure(runs, "constant", 0.0),
        demo.bounce_figure(runs, "reduce on plateau", 1.0),
        demo.final_loss_figure(runs, 1.0),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
