"""Time one re-render of the optimizer race: full redraw against the live widget's fast path.

    .venv/bin/python benchmarks/race_render.py

The issue asks for a re-render within ~100 ms of a slider change for up to 4 optimizers ×
200 steps. A slider change costs (a) running the race and (b) drawing it as a PNG for the
widget. (b) is measured two ways, at the live widget's resolution (descent.race.RACE_DPI):

- full redraw: a new figure every time (``race_figure``, what ``explore`` does), contours
  included, then ``savefig``;
- persistent view: ``RaceView``, whose contours and axes are drawn once and cached, so that
  a change only moves the lines (blitting) and encodes the PNG.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from descent.answers import load
from descent.plots import to_png
from descent.race import RACE_DPI, SURFACES, RaceView, race, race_figure

STEPS = 200
REPEATS = 7


def sgd_step(theta, grad, state, lr=0.01):
    return theta - lr * np.asarray(grad), state


def timed(fn) -> float:
    """Median wall time of fn() in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> None:
    momentum_step, rmsprop_step, adam_step = load(
        "05_optimizers", "momentum_step", "rmsprop_step", "adam_step")
    optimizers = {"sgd": sgd_step, "momentum": momentum_step, "rmsprop": rmsprop_step,
                  "adam": adam_step}
    print(f"4 optimizers x {STEPS} steps, dpi {RACE_DPI}, median of {REPEATS} (ms)")
    print(f"{'surface':<11} {'race':>6} {'full redraw':>12} {'view':>6} {'full/view':>10}")
    for name, surface in SURFACES.items():
        lrs = iter(np.geomspace(1e-3, 0.3, 1000))  # a new lr each call, as a slider gives

        def compute(surface=surface, lrs=lrs):
            return race(optimizers, surface, STEPS, lr=next(lrs))

        results = compute()
        view = RaceView(list(optimizers))
        view.update(surface, STEPS, results)  # background drawn once
        t_race = timed(compute)
        t_full = timed(lambda surface=surface: to_png(
            race_figure(optimizers, surface, STEPS, lr=0.01), dpi=RACE_DPI))
        t_view = timed(lambda surface=surface, view=view, results=results:
                       view.update(surface, STEPS, results))
        print(f"{name:<11} {t_race:6.1f} {t_full:12.1f} {t_view:6.1f} {t_full / t_view:10.1f}")
    print("one live re-render = race + view; the static twin uses the full redraw.")


if __name__ == "__main__":
    main()
