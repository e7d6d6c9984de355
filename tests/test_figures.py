"""Students' figures carried out of the sandbox as plain data and rebuilt, strictly."""

from __future__ import annotations

import copy
import io
import json
import random
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon, Rectangle, Wedge  # noqa: E402

from autograder import figures, wire  # noqa: E402
from autograder.figures import (  # noqa: E402
    FigureDataError,
    adopt_into_pyplot,
    axes_data,
    figure_data,
    rebuild_axes,
    rebuild_figure,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def through_json(data):
    return json.loads(json.dumps(data))


def rebuilt(fig) -> Figure:
    return rebuild_figure(through_json(figure_data(fig)))


def values(data):
    """Numbers as a float array (masked values as NaN), anything else (categories) as a list."""
    array = np.ma.asarray(data)
    if array.dtype.kind in "biuf":
        return np.ma.filled(array.astype(float), np.nan)
    return array.tolist()


def artist_summary(artist) -> dict:
    out = {"label": artist.get_label(), "zorder": artist.get_zorder(),
           "visible": artist.get_visible(), "alpha": artist.get_alpha()}
    if isinstance(artist, Rectangle):
        out.update(xy=artist.get_xy(), width=artist.get_width(), height=artist.get_height())
    elif isinstance(artist, Wedge):
        out.update(center=artist.center, r=artist.r, theta=(artist.theta1, artist.theta2))
    elif isinstance(artist, Polygon):
        out.update(xy=values(artist.get_xy()))
    if hasattr(artist, "get_facecolor"):  # patches and collections
        out.update(face=values(artist.get_facecolor()), edge=values(artist.get_edgecolor()),
                   linewidth=values(artist.get_linewidth()))
    if isinstance(artist, PathCollection):
        out.update(offsets=values(artist.get_offsets()), sizes=values(artist.get_sizes()),
                   cmap=artist.get_cmap().name, clim=artist.get_clim())
        out["array"] = None if artist.get_array() is None else values(artist.get_array())
    elif isinstance(artist, PolyCollection):
        out["paths"] = [(p.vertices, p.codes) for p in artist.get_paths()]
    elif isinstance(artist, LineCollection):
        out["segments"] = [values(s) for s in artist.get_segments()]
    return out


def axes_summary(ax) -> dict:
    spec, legend = ax.get_subplotspec(), ax.get_legend()
    return {
        "geometry": None if spec is None else tuple(int(v) for v in spec.get_geometry()),
        "titles": [ax.get_title(loc) for loc in ("left", "center", "right")],
        "labels": (ax.get_xlabel(), ax.get_ylabel()), "limits": (ax.get_xlim(), ax.get_ylim()),
        "scales": (ax.get_xscale(), ax.get_yscale()), "aspect": ax.get_aspect(),
        "axison": ax.axison, "name": ax.name,
        "grid": [any(line.get_visible() for line in axis.get_gridlines())
                 for axis in (ax.xaxis, ax.yaxis)],
        "ticks": (ax.get_xticks(), ax.get_yticks()),
        "ticklabels": [[t.get_text() for t in labels]
                       for labels in (ax.get_xticklabels(), ax.get_yticklabels())],
        "legend": None if legend is None else (
            [t.get_text() for t in legend.get_texts()], legend.get_title().get_text()),
        "lines": [{"x": values(line.get_xdata()), "y": values(line.get_ydata()),
                   "xy": line.get_xydata(), "color": line.get_color(),
                   "linestyle": line.get_linestyle(), "linewidth": line.get_linewidth(),
                   "marker": line.get_marker(), "markersize": line.get_markersize(),
                   "drawstyle": line.get_drawstyle(), **artist_summary(line)}
                  for line in ax.get_lines()],
        "collections": [(isinstance(c, PolyCollection), artist_summary(c))
                        for c in ax.collections],
        "patches": [(type(p).__name__, artist_summary(p)) for p in ax.patches],
        "containers": [(type(c).__name__, len(c), c.get_label()) for c in ax.containers],
        "images": [(values(im.get_array()), im.get_extent(), im.get_cmap().name, im.get_clim(),
                    im.origin, im.get_interpolation()) for im in ax.images],
        "texts": [(type(t).__name__, t.get_text(), t.get_position(), t.get_fontsize(),
                   to_rgba(t.get_color()), getattr(t, "xy", None)) for t in ax.texts],
    }


def summary(fig, ticks=True) -> dict:
    axes = [axes_summary(ax) for ax in fig.axes]
    for ax in axes if not ticks else []:
        del ax["ticks"], ax["ticklabels"]
    return {"size": fig.get_size_inches(), "suptitle": fig.get_suptitle(), "axes": axes,
            "current": fig.axes.index(fig.gca()) if fig.axes else None}


def assert_round_trip(fig) -> Figure:
    """The figure rebuilt from its JSON data reads the same, before and after drawing."""
    new = rebuilt(fig)
    assert isinstance(new, Figure) and new.canvas.get_default_filetype() == "png"
    assert new not in [plt.figure(n) for n in plt.get_fignums()]
    np.testing.assert_equal(summary(new), summary(fig))
    fig.canvas.draw()  # (drawing maps colours; its aspect and layout may move automatic ticks,
    new.canvas.draw()  # which the rebuilt figure has as they were before)
    np.testing.assert_equal(summary(new, ticks=False), summary(fig, ticks=False))
    return new


def lines_figure():
    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.linspace(0, 2, 11)
    ax.plot(x, x**2, "r--o", label="square", markersize=4)
    ax.plot(np.arange(4), [1, 3, 2, np.nan], color="#12345680", linewidth=3, label="ints")
    ax.plot(x, -x, linestyle=":", marker="s", alpha=0.5, drawstyle="steps-post", zorder=5)
    ax.plot(x, x + 1, visible=False, label="_hidden")
    ax.axhline(1.5, color="k", linewidth=0.5)
    ax.axvline(0.5, ymax=0.5)
    ax.set(title="Data", xlabel="x", ylabel="y")
    ax.set_title("left", loc="left")
    ax.legend(title="curves", loc="upper left")
    return fig


def scatter_figure():
    fig, ax = plt.subplots()
    rng = np.random.default_rng(0)
    ax.scatter(rng.random(20), rng.random(20), c=rng.random(20), cmap="plasma",
               s=rng.random(20) * 50, label="points")
    ax.scatter([1, 2, np.nan], [3, 4, 5], color="red", marker="s", edgecolors="black", alpha=0.7)
    ax.legend()
    return fig


def bar_figure():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.bar(["a", "b", "c"], [3, -1, 2], color=["red", "green", "blue"], label="bars")
    ax1.bar(["a", "b", "c"], [1, np.nan, 1], bottom=[3, -1, 2], edgecolor="k", label="more")
    ax1.legend()
    ax2.barh([0, 1, 2], [5, 6, 7], height=0.5, hatch=None, label="horizontal")
    return fig


def hist_figure():
    fig, ax = plt.subplots()
    data = np.random.default_rng(1).normal(size=200)
    ax.hist(data, bins=12, alpha=0.6, label="filled")
    ax.hist(data, bins=5, histtype="step", label="step")
    ax.hist(data, bins=5, histtype="stepfilled", label="stepfilled")
    return fig


def image_figure():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.imshow(np.arange(12.0).reshape(3, 4), cmap="gray", origin="lower", vmin=1, vmax=9,
               extent=(0, 4, 0, 3), interpolation="nearest")
    ax2.imshow(np.random.default_rng(2).integers(0, 255, (3, 3, 3), dtype=np.uint8))
    return fig


def pie_figure():
    fig, ax = plt.subplots()
    ax.pie([1, 2, 3], labels=["a", "b", "c"], autopct="%1.0f%%", wedgeprops={"width": 0.5})
    return fig


def fill_between_figure():
    fig, ax = plt.subplots()
    x = np.linspace(0, 1, 10)
    ax.fill_between(x, x, x**2, alpha=0.3, color="green", label="band")
    ax.fill_between(x, 0, 1, where=x > 0.5, label="half")
    ax.fill([0, 1, 1], [0, 0, 1], "m")
    ax.vlines([0.2, 0.4], 0, 1, colors="k", linestyles="dashed")
    return fig


def errorbar_figure():
    fig, ax = plt.subplots()
    ax.errorbar([1, 2, 3], [2, 4, 3], yerr=[0.1, 0.2, 0.3], xerr=0.1, capsize=3, fmt="o-",
                label="measured")
    ax.errorbar([1, 2], [1, 1], yerr=0.5, fmt="none")
    ax.legend()
    return fig


def text_figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.text(0.5, 0.5, "middle", fontsize=14, color="purple", ha="center", rotation=30)
    ax.text(0.1, 0.9, "corner", transform=ax.transAxes)
    ax.annotate("peak", xy=(1, 1), xytext=(0.5, 0.8), arrowprops={"arrowstyle": "->"})
    ax.annotate("offset", xy=(0, 0), xytext=(10, 10), textcoords="offset points")
    return fig


def grid_figure():
    fig, axes = plt.subplots(2, 2, figsize=(8, 6))
    for i, ax in enumerate(axes.flat):
        ax.plot(np.arange(5), np.arange(5) * i, label=f"line {i}")
        ax.set_title(f"panel {i}")
    axes[0, 1].set_axis_off()
    axes[1, 0].grid(True)
    axes[1, 0].set_aspect("equal")
    axes[1, 1].set_xticks([0, 2, 4], ["zero", "two", "four"])
    axes[1, 1].invert_yaxis()
    fig.suptitle("Four panels")
    fig.supxlabel("shared x")
    plt.sca(axes[0, 1])
    return fig


def twin_figure():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 2, 3], color="C0")
    ax.set_ylabel("left")
    right = ax.twinx()
    right.plot([1, 2, 3], [100, 10, 1], color="C1")
    right.set_ylabel("right")
    right.set_yscale("log")
    top = ax.twiny()
    top.set_xlabel("top")
    return fig


def log_figure():
    fig, ax = plt.subplots()
    x = np.logspace(-2, 3, 30)
    ax.loglog(x, x**2, label="power")
    ax.set_xlim(1e-2, 1e3)
    fig.suptitle("Log")
    return fig


def mixed_layout_figure():
    fig = plt.figure()
    grid = fig.add_gridspec(2, 3)
    fig.add_subplot(grid[0, :2]).plot([1, 2], [2, 1])
    fig.add_subplot(grid[:, 2], projection="polar").plot([0, 1], [1, 2])
    fig.add_axes((0.1, 0.1, 0.3, 0.3)).set_title("inset")
    fig.add_subplot(grid[1, 0]).plot(["x", "y", "z"], [1, 2, 3])
    return fig


FIGURES = [lines_figure, scatter_figure, bar_figure, hist_figure, image_figure, pie_figure,
           fill_between_figure, errorbar_figure, text_figure, grid_figure, twin_figure,
           log_figure, mixed_layout_figure]


@pytest.mark.parametrize("make", FIGURES, ids=[f.__name__ for f in FIGURES])
def test_a_figure_reads_the_same_after_the_trip(make):
    fig = make()
    data = figure_data(fig)
    assert data["skipped"] == [] and all(axes["skipped"] == [] for axes in data["axes"])
    assert_round_trip(fig)


def test_what_tests_of_student_plots_usually_check():
    x = np.linspace(0, 1, 50)
    y = np.sin(x)
    fig, ax = plt.subplots()
    ax.plot(x, y, label="sin", color="red")
    ax.set_title("Data")
    ax.legend()
    ax = rebuild_axes(through_json(axes_data(ax)))
    assert len(ax.get_lines()) == 1 and ax.get_title() == "Data"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), y)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), x)
    assert ax.get_lines()[0].get_color() == "red"  # as the student's figure has it
    assert ax.get_legend() is not None and ax.get_legend().get_texts()[0].get_text() == "sin"


def test_containers_point_at_the_rebuilt_artists():
    fig, ax = plt.subplots()
    bars = ax.bar([1, 2, 3], [4, 5, 6], label="bars")
    ax.errorbar([1, 2], [1, 2], yerr=0.1, capsize=2)
    new = rebuilt(fig).axes[0]
    bar, errorbar = new.containers
    assert isinstance(bar, BarContainer) and isinstance(errorbar, ErrorbarContainer)
    assert list(bar) == list(new.patches) and bar.get_label() == "bars"
    assert list(bar.datavalues) == list(bars.datavalues) == [4, 5, 6]
    assert [p.get_height() for p in new.patches] == [4, 5, 6]
    assert errorbar.lines[0] is new.lines[0] and errorbar.lines[2][0] is new.collections[0]
    assert new.bar_label(bar)[0].get_text() == "4"


def test_unknown_artists_are_skipped_and_named():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    ax.pcolormesh(np.arange(9.0).reshape(3, 3))
    ax.add_patch(matplotlib.patches.Circle((0, 0), 1))
    fig.text(0.5, 0.5, "figure text")
    data = figure_data(fig)
    assert data["skipped"] == ["Text"]
    assert sorted(data["axes"][0]["skipped"]) == ["Circle", "QuadMesh"]
    new = rebuild_figure(through_json(data)).axes[0]
    assert len(new.lines) == 1 and not new.collections and not new.patches


def test_adopted_figures_are_what_pyplot_sees():
    stray = plt.figure()
    one, two = rebuilt(lines_figure()), rebuilt(grid_figure())
    adopt_into_pyplot([one, two])
    assert plt.get_fignums() == [1, 2]
    assert plt.gcf() is two and plt.gca() is two.axes[1]  # the student's current axes
    assert stray not in (plt.figure(2), plt.figure(1))
    assert plt.figure(1) is one and plt.gca() is one.axes[0] and plt.gca().get_title() == "Data"
    plt.close(one)
    assert plt.get_fignums() == [2]
    plt.savefig(io.BytesIO(), format="png")
    plt.close("all")
    assert plt.get_fignums() == []
    with pytest.raises(FigureDataError):
        adopt_into_pyplot([one, one])
    with pytest.raises(FigureDataError):
        adopt_into_pyplot(["not a figure"])


def _base() -> dict:
    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.plot([1, 2, 3], [1, 4, 9], "o-", label="a")
    ax1.scatter([1, 2], [3, 4], c=[1, 2], cmap="viridis")
    ax1.fill_between([0, 1], [0, 1])
    ax1.errorbar([1, 2], [2, 3], yerr=0.2)
    ax1.legend()
    ax2.bar([1, 2], [3, 4])
    ax2.pie([1, 2])
    ax2.imshow(np.eye(3))
    ax2.annotate("x", xy=(1, 1), xytext=(2, 2))
    ax2.text(0, 0, "t")
    ax2.twinx()
    data = through_json(figure_data(fig))
    plt.close(fig)
    return data


BASE = _base()


def find(data, kind):
    return next(item for axes in data["axes"] for key in ("lines", "collections", "patches",
                                                          "images", "texts", "containers")
                for item in axes[key] if item["kind"] == kind)


def nested(depth):
    value = "deep"
    for _ in range(depth):
        value = [value]
    return value


def set_in(path, value):
    """A change to BASE: the field at ``path`` (keys, indices, "@kind": the first such record)
    set to ``value`` (or to what it makes of the field, or deleted)."""
    def change(data):
        target = data
        for step in path[:-1]:
            target = find(data, step[1:]) if isinstance(step, str) and step[0] == "@" else \
                target[step]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value(target[path[-1]]) if callable(value) else value
    return change


DELETE = object()
ARRAY = wire._array(np.array([1.0]))
HOSTILE = {
    "not a dict": lambda data: data.clear(),
    "no size": set_in(["size"], DELETE),
    "extra field": set_in(["extra"], 1),
    "wrong kind": set_in(["kind"], "axes"),
    "NaN size": set_in(["size"], [float("nan"), 3.0]),
    "negative size": set_in(["size"], [-4.0, 3.0]),
    "huge size": set_in(["size"], [1e9, 3.0]),
    "size of three": set_in(["size"], [4.0, 3.0, 2.0]),
    "infinite dpi": set_in(["dpi"], float("inf")),
    "boolean dpi": set_in(["dpi"], True),
    "string dpi": set_in(["dpi"], "100"),
    "huge int zorder": set_in(["@line", "zorder"], 10**400),
    "axes not a list": set_in(["axes"], {"0": 1}),
    "too many axes": set_in(["axes"], lambda axes: axes * 101),
    "too many lines": set_in(["axes", 0, "lines"], lambda lines: lines * 10_001),
    "too many artists": set_in(["axes", 0, "texts"], lambda texts: [{"kind": "text"}] * 10_001),
    "color out of range": set_in(["@line", "color"], [1.5, 0, 0, 1]),
    "negative color": set_in(["@rect", "facecolor"], [-0.1, 0, 0, 1]),
    "NaN color": set_in(["@text", "color"], [float("nan"), 0, 0, 1]),
    "three-part color": set_in(["@line", "color"], [1, 0, 0]),
    "color name": set_in(["@wedge", "edgecolor"], "red"),
    "color array out of range": set_in(["@scatter", "facecolors"],
                                       wire._array(np.array([[2.0, 0, 0, 1]]))),
    "color array of 3 columns": set_in(["@scatter", "edgecolors"], wire._array(np.ones((1, 3)))),
    "unknown cmap": set_in(["@scatter", "cmap"], "not_a_colormap"),
    "cmap as a number": set_in(["@image", "cmap"], 3),
    "unknown marker": set_in(["@line", "marker"], "xyz"),
    "boolean marker": set_in(["@line", "marker"], True),
    "unknown linestyle": set_in(["@line", "linestyle"], "~~"),
    "unknown drawstyle": set_in(["@line", "drawstyle"], "zigzag"),
    "unknown scale": set_in(["axes", 0, "xscale"], "function"),
    "unknown projection": set_in(["axes", 0, "projection"], "3d"),
    "unknown interpolation": set_in(["@image", "interpolation"], "magic"),
    "unknown origin": set_in(["@image", "origin"], "middle"),
    "unknown text coordinates": set_in(["@annotation", "xycoords"], "pixels of mine"),
    "title too long": set_in(["axes", 0, "title"], "x" * 10_001),
    "tick label too long": set_in(["axes", 0, "xticklabels", 0], "x" * 10_001),
    "nested title": set_in(["axes", 0, "title"], nested(10_000)),
    "nested lines": set_in(["axes", 0, "lines"], nested(10_000)),
    "nested limits": set_in(["axes", 0, "xlim"], [nested(50), 1.0]),
    "NaN limit": set_in(["axes", 0, "xlim"], [float("nan"), 1.0]),
    "string width": set_in(["@rect", "width"], "1"),
    "NaN angle": set_in(["@rect", "angle"], float("nan")),
    "negative radius": set_in(["@wedge", "r"], -1.0),
    "NaN sizes": set_in(["@scatter", "sizes"], wire._array(np.array([np.nan]))),
    "negative sizes": set_in(["@scatter", "sizes"], wire._array(np.array([-1.0]))),
    "bad base64": set_in(["@line", "x"], {"$nd": "!!!!", "dtype": "<f8", "shape": [0]}),
    "non-ascii base64": set_in(["@line", "x"], {"$nd": "é", "dtype": "<f8", "shape": [0]}),
    "complex array": set_in(["@line", "x"], wire._array(np.array([1j]))),
    "object array": set_in(["@line", "x"], {**ARRAY, "dtype": "|O"}),
    "string array": set_in(["@line", "x"], {**ARRAY, "dtype": "<U1"}),
    "bytes not the shape": set_in(["@line", "x"], {**ARRAY, "shape": [2]}),
    "negative shape": set_in(["@line", "x"], {**ARRAY, "shape": [-1]}),
    "huge shape": set_in(["@line", "x"], {**ARRAY, "shape": [10**18]}),
    "more points than allowed": set_in(["@line", "x"], {**ARRAY, "shape": [20_000_001]}),
    "2-d line data": set_in(["@line", "x"], {**ARRAY, "shape": [1, 1]}),
    "array with extra field": set_in(["@line", "x"], {**ARRAY, "tensor": True}),
    "x and y of different lengths": set_in(["@line", "x"], ARRAY),
    "categories not strings": set_in(["@line", "x"], [1, 2, 3]),
    "image of 5 channels": set_in(["@image", "array"], wire._array(np.zeros((1, 1, 5)))),
    "unknown path code": set_in(["@poly", "paths", 0, "codes"],
                                wire._array(np.array([1, 5], np.uint8))),
    "ticks and labels differ": set_in(["axes", 0, "xticks"], [1.0]),
    "impossible geometry": set_in(["axes", 0, "geometry"], [1, 2, 5, 5]),
    "empty geometry": set_in(["axes", 0, "geometry"], [0, 0, 0, 0]),
    "twin of itself": set_in(["axes", 2, "twin"], [2, "x"]),
    "twin in z": set_in(["axes", 2, "twin"], [1, "z"]),
    "bar of a missing patch": set_in(["@bar", "patches"], [99]),
    "errorbar of a missing line": set_in(["@errorbar", "data_line"], 99),
    "negative index": set_in(["@errorbar", "data_line"], -1),
    "current axes missing": set_in(["current"], 7),
    "legend loc 11": set_in(["axes", 0, "legend", "loc"], 11),
    "legend of another kind": set_in(["axes", 0, "legend", "kind"], "line"),
    "line of another kind": set_in(["@line", "kind"], "rect"),
    "skipped not strings": set_in(["skipped"], [1]),
    "aspect zero": set_in(["axes", 0, "aspect"], 0.0),
    "zero dpi": set_in(["dpi"], 0),
}


@pytest.mark.parametrize("change", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_data_raises_figure_data_error_only(change):
    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(FigureDataError):
        rebuild_figure(data)


@pytest.mark.parametrize("data", [None, [], "figure", 3, {"figure": BASE},
                                  {"figure": BASE, "index": 5}, {"figure": BASE, "index": True},
                                  {"figure": {}, "index": 0}])
def test_hostile_axes_data_raises_figure_data_error_only(data):
    with pytest.raises(FigureDataError):
        rebuild_axes(data)


def test_random_damage_raises_figure_data_error_or_draws():
    """Any leaf of the data replaced by junk: a FigureDataError, or a figure that draws."""
    leaves = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, [*path, key])
        elif isinstance(value, list) and value:
            walk(value[0], [*path, 0])
        leaves.append(path)

    walk(BASE, [])
    junk = [None, True, -1, 0, 2**70, 1e308, float("nan"), "", "x" * 20, [], {}, [0.5] * 4,
            {"$nd": "", "dtype": "<f8", "shape": [0]}]
    rng = random.Random(0)
    drawn = 0
    for _ in range(300):
        data = copy.deepcopy(BASE)
        path = rng.choice(leaves[:-1])
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = rng.choice(junk)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fig = rebuild_figure(data)
            except FigureDataError:
                continue
            fig.canvas.draw()
            drawn += 1
    assert drawn > 0


def test_the_limits_are_module_constants():
    assert (figures.MAX_FIGURES, figures.MAX_AXES, figures.MAX_ARTISTS, figures.MAX_POINTS,
            figures.MAX_STRING) == (100, 200, 10_000, 20_000_000, 10_000)
