"""A matplotlib backend for grading: Agg's drawing, the inline backend's habits.

In a notebook, ``plt.show()`` shows a figure and then closes it, and every figure still
open when a cell ends is shown and closed too (matplotlib-inline's defaults). Tests
that inspect ``plt.gca()`` rely on that. Here nothing is drawn (nobody looks), but
figures close at the same moments; the worker and the judge close the rest at the end
of each cell. Agg itself would warn on ``show()`` ("non-interactive"), and a warning in
a test cell is output on stderr, which nbgrader scores 0.
"""

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args, **kwargs) -> None:
    import matplotlib.pyplot as plt

    plt.close("all")
