"""Race optimizers on the 2-D surfaces of :mod:`descent.surfaces`.

Every update rule of the optimizer chapters is one pure function with the interface ::

    new_theta, new_state = step(theta, grad, state, **hyper)   # state = {} at first

This module drives any such function, the course's model answers or a student's own,
without knowing what it computes:

- :func:`run` iterates a step function from a start point and returns the whole path,
  stopping cleanly (the rest NaN) when the iterate diverges;
- :func:`tune_lr` picks a learning rate on a grid (the race's *fair* mode);
- :func:`race_figure` draws a race from scratch (paths on the contours, loss per step);
- :class:`RaceView` keeps one figure alive and only moves the lines, fast enough to
  redraw on every slider change, and :func:`race_widget` puts it behind ipywidgets.

Hyper-parameters are passed by name to the step functions that accept them (a
momentum slider moves ``momentum=`` of heavy ball and Nesterov and nothing else), so a
race can mix rules with different hyper-parameters.
"""

from __future__ import annotations

import inspect
import io
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cache

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator

from descent.plots import PALETTE, draw_path, draw_surface, major_ticks_only
from descent.surfaces import SURFACES, Surface

#: An iterate farther than this from the origin (in any coordinate) has diverged.
BOUND = 1e6
#: Learning rates the fair mode tries for each optimizer, a factor ~3 apart.
LR_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
#: The smallest loss gap drawn on the log axis (an exact minimum would be −∞).
LOSS_FLOOR = 1e-12
#: Size and resolution of the race figure (the live widget's and the static twin's).
RACE_FIGSIZE = (7.6, 3.3)
RACE_DPI = 80


def accepted(step: Callable, hyper: Mapping) -> dict:
    """The keyword arguments of ``hyper`` that ``step`` accepts (all of them with ``**kw``)."""
    try:
        parameters = inspect.signature(step).parameters.values()
    except (TypeError, ValueError):  # a builtin or a C function: pass everything
        return dict(hyper)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(hyper)
    names = {p.name for p in parameters}
    return {key: value for key, value in hyper.items() if key in names}


def learning_rate(step: Callable, hyper: Mapping) -> float:
    """The learning rate a run uses: ``hyper["lr"]``, else the default of ``step``'s ``lr``."""
    if "lr" in hyper:
        return float(hyper["lr"])
    try:
        default = inspect.signature(step).parameters["lr"].default
    except (KeyError, TypeError, ValueError):
        return float("nan")
    return float("nan") if default is inspect.Parameter.empty else float(default)


def run(step: Callable, grad_fn: Callable, theta0, steps: int, *, bound: float = BOUND,
        **hyper) -> np.ndarray:
    """Iterate ``step`` from ``theta0`` for ``steps`` updates and return the path.

    Args:
        step: ``step(theta, grad, state, **hyper) -> (theta, state)``, any rule with the
            chapter's interface; it receives the keyword arguments of ``hyper`` it accepts.
        grad_fn: ``grad_fn(theta) -> gradient``, e.g. ``SURFACES["ellipse"].grad``.
        theta0: the start point, an array of shape (d,).
        steps: the number of updates T.
        bound: an iterate with a coordinate beyond ±bound counts as diverged.
        **hyper: hyper-parameters (``lr=0.1, momentum=0.9, betas=(0.9, 0.999)``, ...).

    Returns:
        An array of shape (T + 1, d): the start, then the iterate after each update.
        Once the iterate diverges (non-finite or beyond the bound), that row and all the
        later ones are NaN: a divergence ends the run quietly, without a warning.
    """
    theta = np.array(theta0, dtype=float)
    path = np.full((steps + 1, theta.size), np.nan)
    path[0] = theta.ravel()
    kwargs = accepted(step, hyper)
    state: dict = {}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(1, steps + 1):
            theta, state = step(theta, grad_fn(theta), state, **kwargs)
            theta = np.asarray(theta, dtype=float)
            if not np.all(np.isfinite(theta)) or np.max(np.abs(theta)) > bound:
                break
            path[t] = theta.ravel()
    return path


def losses(path: np.ndarray, loss: Callable) -> np.ndarray:
    """The loss at every row of a path (NaN where the run had diverged)."""
    with np.errstate(all="ignore"):
        return np.asarray(loss(path), dtype=float)


def score(path: np.ndarray, loss: Callable) -> float:
    """How well a run did: the loss at the last point it reached inside the bound.

    A run that blew up along a direction where the loss grows scores that huge loss; one
    that left the frame downhill (the saddle's escape along y) scores its very low loss.
    """
    reached = path[np.all(np.isfinite(path), axis=1)]
    value = float(losses(reached[-1:], loss)[0])
    return value if np.isfinite(value) else np.inf


def tune_lr(step: Callable, surface: Surface, steps: int, grid: Sequence[float] = LR_GRID,
            **hyper) -> tuple[float, np.ndarray]:
    """Fair mode: the learning rate of ``grid`` with the best :func:`score` after ``steps``.

    Returns:
        ``(best_lr, scores)``, the scores in the order of ``grid`` (ties: the smaller lr).
    """
    scores = np.array([score(run(step, surface.grad, surface.start, steps, **{**hyper, "lr": lr}),
                             surface.loss) for lr in grid])
    return float(grid[int(np.argmin(scores))]), scores


@cache
def _tuned(step: Callable, surface: Surface, steps: int, grid: tuple, hyper: tuple) -> float:
    return tune_lr(step, surface, steps, grid, **dict(hyper))[0]


def run_all(runs: Mapping[str, tuple[Callable, dict]], surface: Surface,
            steps: int) -> dict[str, tuple[np.ndarray, float]]:
    """Each run's path from the surface's start: ``name -> (path, lr used)``.

    ``runs`` maps a name to ``(step, hyper)``, each rule with its own hyper-parameters,
    e.g. ``{"adam": (adam_step, {"lr": 0.5})}``.
    """
    return {name: (run(step, surface.grad, surface.start, steps, **hyper),
                   learning_rate(step, hyper))
            for name, (step, hyper) in runs.items()}


def race(optimizers: Mapping[str, Callable], surface: Surface | str, steps: int, *,
         mode: str = "plain", grid: Sequence[float] = LR_GRID,
         **hyper) -> dict[str, tuple[np.ndarray, float]]:
    """Run every optimizer on the surface: ``name -> (path, lr used)``.

    In ``"plain"`` mode every optimizer gets the same ``hyper`` (the same learning rate);
    in ``"fair"`` mode each first gets its own best learning rate on ``grid``
    (:func:`tune_lr`, cached), the other hyper-parameters shared.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    if mode not in ("plain", "fair"):
        raise ValueError(f"mode is 'plain' or 'fair', not {mode!r}")
    runs = {}
    for name, step in optimizers.items():
        settings = dict(hyper)
        if mode == "fair":
            rest = tuple(sorted((k, v) for k, v in hyper.items() if k != "lr"))
            settings["lr"] = _tuned(step, surface, steps, tuple(grid), rest)
        runs[name] = (step, settings)
    return run_all(runs, surface, steps)


def _loss_curve(surface: Surface, path: np.ndarray) -> np.ndarray:
    """What the right panel plots: the gap to the minimum, or the loss itself (saddle)."""
    values = losses(path, surface.loss)
    if surface.minimum is None:
        return values
    return np.maximum(values, LOSS_FLOOR)


def _loss_limits(surface: Surface) -> tuple[float, float]:
    start = float(surface.loss(np.array(surface.start)))
    if surface.minimum is None:
        return -1e4, max(start, 1.0) * 10
    return LOSS_FLOOR, start * 1e3


def _label(name: str, lr: float, path: np.ndarray, surface: Surface) -> str:
    final = score(path, surface.loss)
    diverged = not np.all(np.isfinite(path))
    return f"{name} (η = {lr:g}): {'left the frame' if diverged else f'{final:.2g}'}"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(value, _position=None) -> str:
    """Tick label 10⁻⁶ in plain Unicode: mathtext labels cost a third of a frame's time."""
    if value == 0:
        return "0"
    exponent = int(round(np.log10(abs(value))))
    return ("−" if value < 0 else "") + "10" + str(exponent).translate(_SUPERSCRIPT)


def power_of_ten_ticks(ax, numticks: int | None = None) -> None:
    """Label a log y axis 10⁻⁶, 10⁻³, … with :func:`power_of_ten`, major ticks only.

    Call it after ``set_yscale``/``semilogy`` (which reset the ticks). ``numticks`` sets a
    base-10 LogLocator with at most that many ticks; without it the axis keeps its locator.
    """
    if numticks is not None:
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=numticks))
    ax.yaxis.set_major_formatter(FuncFormatter(power_of_ten))
    major_ticks_only(ax)


def _loss_axis(ax, surface: Surface, steps: int) -> None:
    """The right panel's axes: log loss gap, or symlog loss on a surface without minimum."""
    if surface.minimum is None:
        ax.set_yscale("symlog")
        ax.yaxis.set_major_locator(FixedLocator([1e2, 0.0, -1e2, -1e4]))
    else:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
    power_of_ten_ticks(ax)
    ax.set(xlim=(0, steps), ylim=_loss_limits(surface), xlabel="step",
           title="loss" if surface.minimum is None else "loss − minimum")
    ax.grid(alpha=0.3)


def _race_axes(fig: Figure):
    # Fixed margins: a constrained layout would measure every tick label on every frame,
    # which doubles the time of a redraw.
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1]})
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.22)
    return left, right


class RaceView:
    """One race figure kept alive: contours drawn once, then only the lines move.

    ``update(results)`` sets the paths' and loss curves' data, restores the cached
    background and draws just the lines (matplotlib's blitting), then encodes the PNG.
    The background (contours, axes, ticks) is redrawn only when the surface or the
    number of steps changes. This is what makes the live race fast: see
    ``benchmarks/race_render.py``.
    """

    def __init__(self, names: Sequence[str], *, figsize=RACE_FIGSIZE, dpi: int = RACE_DPI):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.fig = Figure(figsize=figsize, dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.names = list(names)
        self._key = None
        self._background = None

    def _setup(self, surface: Surface, steps: int) -> None:
        fig = self.fig
        fig.clear()
        left, right = _race_axes(fig)
        draw_surface(left, surface, levels=20, resolution=120)
        _loss_axis(right, surface, steps)
        self.paths, self.curves = {}, {}
        for name in self.names:
            color = PALETTE.get(name)
            (self.paths[name],) = left.plot([], [], color=color, lw=1.2, marker="o", ms=2,
                                            animated=True)
            (self.curves[name],) = right.plot([], [], color=color, lw=1.2, animated=True,
                                              label=name)
        right.legend(fontsize=7, loc="lower left")
        self.left, self.right = left, right
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(fig.bbox)
        self._key = (surface, steps)

    def update(self, surface: Surface, steps: int, results: Mapping) -> bytes:
        """Draw ``results`` (:func:`race`'s output) and return the frame as PNG bytes."""
        if self._key != (surface, steps):
            self._setup(surface, steps)
        self.canvas.restore_region(self._background)
        for name in self.names:
            path, curve = self.paths[name], self.curves[name]
            if name in results:
                trajectory = results[name][0]
                path.set_data(trajectory[:, 0], trajectory[:, 1])
                curve.set_data(np.arange(len(trajectory)), _loss_curve(surface, trajectory))
                self.left.draw_artist(path)
                self.right.draw_artist(curve)
        self.canvas.blit(self.fig.bbox)
        return self.png()

    def png(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.frombuffer("RGBA", self.canvas.get_width_height(),
                         self.canvas.buffer_rgba()).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


def draw_race(left, right, surface: Surface, results: Mapping, steps: int,
              styles: Mapping[str, dict] | None = None) -> None:
    """Draw runs on two axes: paths on the contours (left), loss per step (right).

    ``results`` maps a name to ``(path, lr)`` (:func:`race`'s output); the line's colour is
    ``PALETTE[name]`` unless ``styles[name]`` gives other line properties (e.g. ``ls="--"``).
    """
    styles = styles or {}
    draw_surface(left, surface, levels=20, resolution=120)
    for name, (path, lr) in results.items():
        style = {"color": PALETTE.get(name), **styles.get(name, {})}
        color = style.pop("color")
        draw_path(left, path, color=color, markevery=max(1, steps // 50), **style)
        right.plot(_loss_curve(surface, path), color=color, lw=1.2,
                   label=_label(name, lr, path, surface), **style)
    _loss_axis(right, surface, steps)
    right.legend(fontsize=7, loc="best")


def race_figure(optimizers: Mapping[str, Callable], surface: Surface | str, steps: int = 100,
                *, mode: str = "plain", grid: Sequence[float] = LR_GRID, figsize=RACE_FIGSIZE,
                **hyper) -> Figure:
    """A race drawn from scratch: paths on the contours (left), loss per step (right).

    The legend gives each optimizer's learning rate (its tuned one in ``"fair"`` mode) and
    its final loss (or gap to the minimum); a run that diverged says it left the frame.
    """
    surface = SURFACES[surface] if isinstance(surface, str) else surface
    results = race(optimizers, surface, steps, mode=mode, grid=grid, **hyper)
    fig = Figure(figsize=figsize, dpi=RACE_DPI, facecolor="white")
    left, right = _race_axes(fig)
    draw_race(left, right, surface, results, steps)
    return fig


def race_widget(optimizers: Mapping[str, Callable], *, surfaces: Mapping = SURFACES,
                chosen: Sequence[str] | None = None, lr: float = 0.1, steps: int = 100):
    """The live race for JupyterLab: pick optimizers, surface, lr, momentum, β's, steps, mode.

    Any function with the interface can race: ``race_widget({**optimizers, "mine":
    my_adam_step})``. Each change re-runs the race and redraws through a :class:`RaceView`.
    """
    import ipywidgets as widgets

    names = list(optimizers)
    view = RaceView(names)
    style = {"description_width": "initial"}
    inputs = {
        "chosen": widgets.SelectMultiple(options=names, value=tuple(chosen or names[:4]),
                                         description="optimizers", rows=min(len(names), 8)),
        "surface": widgets.Dropdown(options=list(surfaces), description="surface"),
        "mode": widgets.ToggleButtons(options=["plain", "fair"], description="mode"),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.1,
                                     description="η (lr)", style=style),
        "momentum": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                        description="momentum μ", style=style),
        "beta1": widgets.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                     description="β₁", style=style),
        "beta2": widgets.FloatSlider(value=0.999, min=0.9, max=0.9999, step=0.0001,
                                     readout_format=".4f", description="β₂", style=style),
        "steps": widgets.IntSlider(value=steps, min=10, max=400, step=10, description="steps"),
    }
    image = widgets.Image(format="png")

    def redraw(chosen, surface, mode, lr, momentum, beta1, beta2, steps):
        picked = {name: optimizers[name] for name in chosen}
        results = race(picked, surfaces[surface], steps, mode=mode, lr=lr, momentum=momentum,
                       betas=(beta1, beta2))
        image.value = view.update(surfaces[surface], steps, results)

    widgets.interactive_output(redraw, inputs)
    controls = widgets.VBox([widgets.HBox([inputs["chosen"], widgets.VBox(
        [inputs["surface"], inputs["mode"], inputs["steps"]])]),
        widgets.HBox([inputs["lr"], inputs["momentum"]]),
        widgets.HBox([inputs["beta1"], inputs["beta2"]])])
    return widgets.VBox([controls, image])
