"""Plotting conventions shared by every chapter.

Figures are built with :class:`matplotlib.figure.Figure` directly, never with
``pyplot``'s global state, so a demo can draw hundreds of frames for a static
twin without leaking figures or depending on the notebook backend.
"""

from __future__ import annotations

import base64
import io

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
}
FIGSIZE = (7.0, 3.4)
DPI = 100


def figure(ncols: int = 1, nrows: int = 1, *, figsize=FIGSIZE, **subplot_kw):
    """Return ``(fig, axes)``: a white-background figure that reads in light and dark themes."""
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained", facecolor="white")
    axes = fig.subplots(nrows, ncols, squeeze=True, subplot_kw=subplot_kw or None)
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
