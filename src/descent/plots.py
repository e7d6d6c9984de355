"""Plotting conventions shared by every chapter.

Figures are built with :class:`matplotlib.figure.Figure` directly, never with
``pyplot``'s global state, so a demo can draw hundreds of frames for a static
twin without leaking figures or depending on the notebook backend.
"""

from __future__ import annotations

import base64
import io
from functools import cache

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

#: One colour per named thing, so a method keeps its colour across chapters.
PALETTE = {
    "sigmoid": "#1f77b4",
    "tanh": "#ff7f0e",
    "relu": "#2ca02c",
    "elu": "#d62728",
    "clipped": "#9467bd",
    "raw": "#7f7f7f",
    "clipped_by_value": "#8c564b",
    # optimizers (chapters 04-09)
    "sgd": "#7f7f7f",
    "momentum": "#1f77b4",
    "nesterov": "#17becf",
    "adagrad": "#bcbd22",
    "adadelta": "#8c564b",
    "rmsprop": "#ff7f0e",
    "adam": "#d62728",
    "adamax": "#e377c2",
    "nadam": "#9467bd",
    "amsgrad": "#2ca02c",
    "adamw": "#393b79",
    "delta_bar_delta": "#637939",
    "noisy_sgd": "#843c39",
}
FIGSIZE = (7.0, 3.4)
DPI = 100


def figure(ncols: int = 1, nrows: int = 1, *, figsize=FIGSIZE, margins: dict | None = None,
           **subplot_kw):
    """Return ``(fig, axes)``: a white-background figure that reads in light and dark themes.

    The layout is constrained unless ``margins`` (``subplots_adjust`` arguments) fixes it: a
    static twin renders dozens of frames, and the constrained layout, which measures every
    tick label of every frame, makes each about twice as slow.
    """
    fig = Figure(figsize=figsize, dpi=DPI, layout=None if margins else "constrained",
                 facecolor="white")
    axes = fig.subplots(nrows, ncols, squeeze=True, subplot_kw=subplot_kw or None)
    if margins:
        fig.subplots_adjust(**margins)
    return fig, axes


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes (white background kept for dark-mode readers)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def to_data_uri(fig: Figure, dpi: int = DPI) -> str:
    """Render a figure as a ``data:image/png;base64,...`` URI for inline HTML."""
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


def show(fig: Figure):
    """Display a figure as a PNG output (works with any notebook backend, or none)."""
    from IPython.display import Image

    return Image(data=to_png(fig))


def major_ticks_only(*axes) -> None:
    """Drop the minor ticks of log axes: less clutter, and a third less time per frame."""
    for ax in axes:
        ax.yaxis.set_minor_locator(NullLocator())


@cache
def _surface_grid(surface, resolution: int):
    """(x, y, loss) on a resolution² grid over the surface's view, computed once per surface."""
    xs = np.linspace(*surface.xlim, resolution)
    ys = np.linspace(*surface.ylim, resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    return grid[..., 0], grid[..., 1], surface.loss(grid)


def draw_surface(ax, surface, *, levels: int = 25, resolution: int = 160) -> None:
    """Draw the contours of a :class:`descent.surfaces.Surface` over its view, minimum marked.

    Steep surfaces (``surface.log_levels``) get logarithmically spaced levels, so the
    flat valley floor is drawn as finely as the walls.
    """
    x, y, z = _surface_grid(surface, resolution)
    if surface.log_levels:
        low = max(float(z.min()), 1e-3)
        spaced = np.geomspace(low, float(z.max()), levels)
    else:
        spaced = np.linspace(float(z.min()), float(z.max()), levels)
    ax.contour(x, y, z, levels=spaced, colors="#b0b0b0", linewidths=0.6,
               negative_linestyles="solid")
    if surface.minimum is not None:
        ax.plot(*surface.minimum, marker="*", ms=11, color="black", ls="none", zorder=5)
    ax.set(xlim=surface.xlim, ylim=surface.ylim, title=surface.title, xlabel="x", ylabel="y")


def draw_path(ax, path, *, color: str, label: str | None = None, markevery: int = 1,
              **line_kw) -> None:
    """Draw an optimizer's trajectory, an array of shape (T, 2), from its start point.

    Matplotlib clips the line at the axes, so a diverging method visibly leaves the
    frame; non-finite points are simply not drawn. ``line_kw`` overrides the trajectory
    line's properties (e.g. ``ls="--"``).
    """
    path = np.asarray(path, dtype=float)
    style = {"lw": 1.2, "marker": "o", "ms": 2.5, **line_kw}
    ax.plot(path[:, 0], path[:, 1], color=color, markevery=markevery, label=label,
            clip_on=True, **style)
    ax.plot(*path[0], marker="o", ms=5, color="black", zorder=5)
