"""Matplotlib figures carried from the sandboxed worker to the grader as plain data.

A student's plotting function runs in the untrusted worker, so the figure it draws lives
there, while the instructor's test (``ax = plot_data(x, y); assert ax.get_title() == ...``)
runs in the trusted grader and needs a real Figure to call matplotlib's getters on.
:func:`figure_data` describes a figure as JSON-ready data (numeric arrays in
:mod:`autograder.wire`'s ``{"$nd": ...}`` form) and :func:`rebuild_figure` draws a new
figure from it with matplotlib's own Axes methods, so that the usual getters
(``get_lines()``, ``get_ydata()``, ``get_title()``, ``patches``, ``containers``, ...) return
the original values.

Carried: the figure's size, dpi, suptitle and super labels, its axes in ``fig.axes`` order
with their subplot geometry (else their position), twins, projection (rectilinear or polar)
and which one is current; per axes the three titles, axis labels, limits, scales, aspect,
axis on/off, grid, major tick locations and label texts, the legend (texts, title, loc);
lines; scatter PathCollections (offsets, sizes, colours, colour-mapped values with their
cmap and limits); PolyCollections (fill_between) and LineCollections (errorbar bars, vlines)
as paths; Rectangles (bar, hist), Wedges (pie) and Polygons; images; texts and annotations;
bar and errorbar containers. Anything else (QuadMesh, contour sets, tables, figure-level
texts and legends, ...) is skipped and named in the axes' or the figure's ``"skipped"``
list, for a test author to see.

Why the rebuild is strict: the data comes from the student's process, so on the grader's
side it is hostile input. Every record must have exactly its schema's fields (``_SPEC``),
each of its type; colours are 4 floats in [0, 1]; names (linestyles, markers, colormaps,
scales, ...) come from allowlists; sizes are finite; counts and lengths are bounded
(``MAX_*``). Anything else raises :class:`FigureDataError`, never another exception.
"""

from __future__ import annotations

import math

import numpy as np

from autograder import wire

MAX_FIGURES = 100
MAX_AXES = 200  # per figure
MAX_ARTISTS = 10_000  # per axes; also ticks per axis and items per list
MAX_POINTS = 20_000_000  # numbers in all of a figure's arrays and lists
MAX_STRING = 10_000  # characters

LINESTYLES = frozenset({"-", "--", "-.", ":", "None", "none", " ", ""})
DRAWSTYLES = frozenset({"default", "steps", "steps-pre", "steps-mid", "steps-post"})
SCALES = frozenset({"linear", "log", "symlog", "logit", "asinh"})
PROJECTIONS = frozenset({"rectilinear", "polar"})
COORDS = frozenset({"data", "axes", "xaxis", "yaxis"})  # (of lines and texts; xaxis: axhline)
ANNOTATION_COORDS = frozenset({
    "data", "polar", "axes fraction", "axes points", "axes pixels", "figure fraction",
    "figure points", "figure pixels", "offset points", "offset pixels", "offset fontsize"})
HALIGN = frozenset({"left", "center", "right"})
VALIGN = frozenset({"top", "center", "bottom", "baseline", "center_baseline"})
ORIGINS = frozenset({"upper", "lower"})
ORIENTATIONS = frozenset({"vertical", "horizontal"})
TWINS = frozenset({"x", "y"})
_PATH_CODES = (0, 1, 2, 3, 4, 79)  # STOP, MOVETO, LINETO, CURVE3, CURVE4, CLOSEPOLY

# The forms of _SPEC's fields ("opt..." also allows None): numbers in a range (index and loc
# whole), lists of items of a form and length, arrays (their ndims, last dimension and range);
# the others are checked in _Reader.check.
_NUMBERS = {"num": (-1e300, 1e300), "size": (0, 1e300), "unit": (0, 1), "inch": (1e-3, 1e3),
            "dpi": (1, 1e4), "ratio": (1e-9, 1e9), "index": (0, 2**31 - 1), "loc": (0, 10)}
_LISTS = {"pair": ("num", 2), "point": ("datum", 2), "rect": ("num", 4), "rgba": ("unit", 4),
          "inches": ("inch", 2), "twin": (None, 2), "geometry": ("index", 4),
          "floats": ("num", None), "units": ("unit", None), "strs": ("string", None),
          "ints": ("index", None), "paths": ("path", None), "segments": ("xy", None),
          "items": (None, None)}
_ARRAYS = {"array": ((1,), None, None), "sizes": ((1,), None, (0, np.inf)),
           "rgbas": ((2,), (4,), (0, 1)), "xy": ((2,), (2,), None),
           "image": ((2, 3), None, None), "codes": ((1,), None, (0, 79))}
_STYLE = {"label": "optstring", "alpha": "optunit", "zorder": "num", "visible": "flag"}
_PATCH = {**_STYLE, "facecolor": "rgba", "edgecolor": "rgba", "linewidth": "size", "fill": "flag"}
_COLLECTION = {**_STYLE, "facecolors": "rgbas", "edgecolors": "rgbas", "linewidths": "sizes"}
_TEXT = {"text": "string", "xy": "point", "fontsize": "size", "color": "rgba", "ha": HALIGN,
         "va": VALIGN, "rotation": "num", "zorder": "num", "visible": "flag"}
_SPEC = {
    "figure": {"size": "inches", "dpi": "dpi", "suptitle": "string", "supxlabel": "string",
               "supylabel": "string", "axes": "items", "current": "optindex", "skipped": "strs"},
    "axes": {"geometry": "optgeometry", "position": "rect", "twin": "opttwin",
             "projection": PROJECTIONS, "title": "string", "title_left": "string",
             "title_right": "string", "xlabel": "string", "ylabel": "string", "xlim": "pair",
             "ylim": "pair", "xscale": SCALES, "yscale": SCALES, "aspect": "aspect",
             "axis_on": "flag", "xgrid": "flag", "ygrid": "flag", "xticks": "floats",
             "xticklabels": "strs", "yticks": "floats", "yticklabels": "strs",
             "legend": "optlegend", "lines": "items", "collections": "items", "patches": "items",
             "images": "items", "texts": "items", "containers": "items", "skipped": "strs"},
    "legend": {"texts": "strs", "title": "string", "loc": "loc"},
    "line": {**_STYLE, "x": "values", "y": "values", "color": "rgba", "color_spec": "optspec",
             "linestyle": LINESTYLES, "linewidth": "size", "marker": "marker",
             "markersize": "size", "drawstyle": DRAWSTYLES, "coords": COORDS},
    "scatter": {**_COLLECTION, "offsets": "xy", "sizes": "sizes", "array": "optarray",
                "cmap": "optcmap", "clim": "optpair", "edge_is_face": "flag"},
    "poly": {**_COLLECTION, "paths": "paths"},
    "segments": {**_COLLECTION, "segments": "segments"},
    "path": {"vertices": "xy", "codes": "codes"},
    "rect": {**_PATCH, "xy": "point", "width": "datum", "height": "datum", "angle": "num"},
    "wedge": {**_PATCH, "center": "pair", "r": "size", "theta1": "num", "theta2": "num",
              "width": "optsize"},
    "polygon": {**_PATCH, "xy": "xy", "closed": "flag"},
    "image": {**_STYLE, "array": "image", "extent": "rect", "cmap": "optcmap",
              "clim": "optpair", "origin": ORIGINS, "interpolation": "interpolation"},
    "text": {**_TEXT, "coords": COORDS},
    "annotation": {**_TEXT, "xytext": "point", "xycoords": ANNOTATION_COORDS,
                   "textcoords": ANNOTATION_COORDS, "arrow": "flag"},
    "bar": {"label": "string", "patches": "ints", "orientation": ORIENTATIONS,
            "datavalues": "optarray"},
    "errorbar": {"label": "string", "data_line": "optindex", "caplines": "ints",
                 "barcols": "ints", "has_xerr": "flag", "has_yerr": "flag"},
}


class FigureDataError(ValueError):
    """Figure data that is malformed or over the limits."""


# ---- worker side: describe a figure ------------------------------------------------------

def _nd(values) -> dict:
    """A numeric array in wire's form (masked values as NaN, other dtypes as floats)."""
    if np.ma.isMaskedArray(values):
        values = (np.ma.filled(values.astype(float), np.nan) if np.ma.is_masked(values)
                  else np.ma.getdata(values))
    array = np.asarray(values)
    return wire._array(array if array.dtype.kind in "biuf" else array.astype(float))


def _values(original, converted):
    """Line data as given: numbers as numbers, categories as strings, else as plotted."""
    array = original if np.ma.isMaskedArray(original) else np.asarray(original)
    if array.dtype.kind in "biuf":
        return _nd(array)
    items = array.tolist() if array.ndim == 1 else None
    if items and all(type(item) is str for item in items):
        return items
    return _nd(np.asarray(converted, dtype=float))


def _floats(values) -> list:
    return [float(v) for v in values]


def _rgba(color) -> list:
    from matplotlib.colors import to_rgba
    return _floats(to_rgba(color))


def _rgbas(colors) -> dict:
    from matplotlib.colors import to_rgba_array
    return _nd(to_rgba_array(colors).astype(float).reshape(-1, 4))


def _style(artist) -> dict:
    alpha = artist.get_alpha()
    label = artist.get_label()
    return {"label": None if label is None else str(label), "zorder": float(artist.get_zorder()),
            "alpha": float(alpha) if isinstance(alpha, (int, float)) else None,
            "visible": bool(artist.get_visible())}


def _colormap(mappable) -> dict:
    import matplotlib
    name, clim = mappable.get_cmap().name, mappable.get_clim()
    finite = None not in clim and np.all(np.isfinite(clim))
    return {"cmap": name if name in matplotlib.colormaps else None,
            "clim": _floats(clim) if finite else None}


def _coords(artist) -> str | None:
    """The name of the coordinates of a line's or text's data, None for others."""
    ax, transform = artist.axes, artist.get_transform()
    coords = {"data": ax.transData, "axes": ax.transAxes, "xaxis": ax.get_xaxis_transform(),
              "yaxis": ax.get_yaxis_transform()}
    return next((name for name, t in coords.items() if t is transform), None)


def _line(line) -> dict | None:
    from matplotlib.markers import MarkerStyle
    color, marker, xy = line.get_color(), line.get_marker(), line.get_xydata()
    known = type(marker) in (str, int) and marker in MarkerStyle.markers
    if _coords(line) is None:
        return None
    return {"kind": "line", "coords": _coords(line), **_style(line),
            "x": _values(line.get_xdata(), xy[:, 0]), "y": _values(line.get_ydata(), xy[:, 1]),
            "color": _rgba(color),
            "color_spec": color if isinstance(color, str) else (  # as get_color() gives it
                _floats(color) if np.shape(color) in ((3,), (4,)) else None),
            "linestyle": str(line.get_linestyle()), "linewidth": float(line.get_linewidth()),
            "marker": marker if known else "None", "markersize": float(line.get_markersize()),
            "drawstyle": line.get_drawstyle()}


def _collection(coll) -> dict | None:
    from matplotlib import collections as mc
    record = {**_style(coll), "facecolors": _rgbas(coll.get_facecolors()),
              "edgecolors": _rgbas(coll.get_edgecolors()),
              "linewidths": _nd(np.ravel(coll.get_linewidths()).astype(float))}
    if isinstance(coll, mc.PathCollection):  # scatter
        array = coll.get_array()
        return {"kind": "scatter", **record, **_colormap(coll), "offsets": _nd(coll.get_offsets()),
                "sizes": _nd(coll.get_sizes()), "array": None if array is None else _nd(array),
                "edge_is_face": np.array_equal(coll.get_edgecolors(), coll.get_facecolors())}
    if isinstance(coll, mc.PolyCollection):  # fill_between
        return {"kind": "poly", **record, "paths": [
            {"kind": "path", "vertices": _nd(path.vertices),
             "codes": _nd(np.zeros(0, np.uint8) if path.codes is None else path.codes)}
            for path in coll.get_paths()]}
    if isinstance(coll, mc.LineCollection):  # errorbar's bars, vlines, hlines
        return {"kind": "segments", **record, "segments": [_nd(s) for s in coll.get_segments()]}
    return None


def _patch(patch) -> dict | None:
    from matplotlib import patches as mp
    record = {**_style(patch), "facecolor": _rgba(patch.get_facecolor()),
              "edgecolor": _rgba(patch.get_edgecolor()), "fill": bool(patch.get_fill()),
              "linewidth": float(patch.get_linewidth())}
    if isinstance(patch, mp.Rectangle):  # bar, hist
        return {"kind": "rect", **record, "xy": _floats(patch.get_xy()),
                "width": float(patch.get_width()), "height": float(patch.get_height()),
                "angle": float(patch.get_angle())}
    if isinstance(patch, mp.Wedge):  # pie
        return {"kind": "wedge", **record, "center": _floats(patch.center), "r": float(patch.r),
                "theta1": float(patch.theta1), "theta2": float(patch.theta2),
                "width": None if patch.width is None else float(patch.width)}
    if isinstance(patch, mp.Polygon):  # fill, hist(histtype="step...")
        return {"kind": "polygon", **record, "xy": _nd(patch.get_xy()),
                "closed": bool(patch.get_closed())}
    return None


def _image(image) -> dict | None:
    from matplotlib.image import AxesImage
    if type(image) is not AxesImage:
        return None
    return {"kind": "image", **_style(image), **_colormap(image), "array": _nd(image.get_array()),
            "extent": _floats(image.get_extent()), "origin": image.origin,
            "interpolation": image.get_interpolation()}


def _text(text) -> dict | None:
    from matplotlib.text import Annotation
    record = {"text": text.get_text(), "xy": _floats(text.get_position()),
              "fontsize": float(text.get_fontsize()), "color": _rgba(text.get_color()),
              "ha": text.get_ha(), "va": text.get_va(), "rotation": float(text.get_rotation()),
              "zorder": float(text.get_zorder()), "visible": bool(text.get_visible())}
    if isinstance(text, Annotation):
        coords = text.xycoords, text.get_anncoords()
        if not all(type(c) is str for c in coords):
            return None
        return {"kind": "annotation", **record, "xy": _floats(text.xy),
                "xytext": _floats(text.xyann), "xycoords": coords[0], "textcoords": coords[1],
                "arrow": text.arrow_patch is not None}
    coords = _coords(text)
    return None if coords is None else {"kind": "text", **record, "coords": coords}


def _encode(artists, encode, skipped: list):
    """The records of ``artists``, and where each artist's record is; others are skipped."""
    records, where = [], {}
    for artist in artists:
        try:
            record = encode(artist)
        except Exception:  # a student's artist that cannot be described is skipped
            record = None
        if record is None:
            skipped.append(type(artist).__name__[:100])
        else:
            where[id(artist)] = len(records)
            records.append(record)
    return records, where


def _axes_record(ax, axes: list) -> dict:
    from matplotlib.container import BarContainer, ErrorbarContainer
    from matplotlib.gridspec import GridSpec
    skipped = [type(a).__name__ for a in [*ax.artists, *ax.tables, *ax.child_axes]]
    lines, line_at = _encode(ax.lines, _line, skipped)
    collections, collection_at = _encode(ax.collections, _collection, skipped)
    patches, patch_at = _encode(ax.patches, _patch, skipped)

    def container(c):
        if isinstance(c, BarContainer):
            return {"kind": "bar", "label": str(c.get_label()), "orientation": c.orientation,
                    "patches": [patch_at[id(p)] for p in c.patches],
                    "datavalues": None if c.datavalues is None else _nd(c.datavalues)}
        if isinstance(c, ErrorbarContainer):
            data_line, caps, cols = c.lines
            return {"kind": "errorbar", "label": str(c.get_label()),
                    "data_line": None if data_line is None else line_at[id(data_line)],
                    "caplines": [line_at[id(line)] for line in caps],
                    "barcols": [collection_at[id(col)] for col in cols],
                    "has_xerr": bool(c.has_xerr), "has_yerr": bool(c.has_yerr)}
        return None

    index, twin = axes.index(ax), None
    for j, other in enumerate(axes[:index]):
        if twin is None and ax._twinned_axes.joined(ax, other):
            twin = ([j, "x"] if ax.get_shared_x_axes().joined(ax, other) else
                    [j, "y"] if ax.get_shared_y_axes().joined(ax, other) else None)
    spec = ax.get_subplotspec()
    if ax.name not in PROJECTIONS:
        skipped.append(f"{ax.name} projection")
    aspect, legend = ax.get_aspect(), ax.get_legend()
    record = {
        "kind": "axes", "twin": twin, "position": _floats(ax.get_position(original=True).bounds),
        "geometry": (None if spec is None or not isinstance(spec.get_gridspec(), GridSpec)
                     else [int(v) for v in spec.get_geometry()]),
        "projection": ax.name if ax.name in PROJECTIONS else "rectilinear",
        "title": ax.get_title(), "title_left": ax.get_title("left"),
        "title_right": ax.get_title("right"), "xlabel": ax.get_xlabel(),
        "ylabel": ax.get_ylabel(), "xlim": _floats(ax.get_xlim()), "ylim": _floats(ax.get_ylim()),
        "aspect": "auto" if aspect == "auto" else float(aspect), "axis_on": bool(ax.axison),
        "legend": None if legend is None else {
            "kind": "legend", "texts": [t.get_text() for t in legend.get_texts()],
            "title": legend.get_title().get_text(),
            "loc": legend._loc if type(legend._loc) is int and 0 <= legend._loc <= 10 else 0},
        "lines": lines, "collections": collections, "patches": patches,
        "images": _encode(ax.images, _image, skipped)[0],
        "texts": _encode(ax.texts, _text, skipped)[0],
        "containers": _encode(ax.containers, container, skipped)[0], "skipped": skipped}
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        record[f"{name}scale"] = axis.get_scale() if axis.get_scale() in SCALES else "linear"
        record[f"{name}grid"] = any(line.get_visible() for line in axis.get_gridlines())
        try:  # (the labels as drawing makes them, for all the ticks, in view or not)
            locs = np.asarray(axis.get_majorticklocs(), dtype=float)
            labels = [str(label) for label in axis.get_major_formatter().format_ticks(locs)]
        except Exception:  # a student's own locator or formatter that fails
            locs, labels = [], []
            skipped.append(f"{name} ticks")
        record[f"{name}ticks"], record[f"{name}ticklabels"] = _floats(locs), labels
    return record


def figure_data(fig) -> dict:
    """A JSON-ready description of the matplotlib Figure ``fig`` (worker side)."""
    axes = list(fig.axes)
    labels = {name: getattr(fig, f"_{name}", None) for name in ("suptitle", "supxlabel",
                                                                 "supylabel")}
    others = [*fig.texts, *fig.legends, *fig.images, *fig.lines, *fig.patches, *fig.subfigs]
    return {"kind": "figure", "size": _floats(fig.get_size_inches()), "dpi": float(fig.dpi),
            **{name: "" if text is None else text.get_text() for name, text in labels.items()},
            "axes": [_axes_record(ax, axes) for ax in axes],
            "current": axes.index(fig.gca()) if axes else None,
            "skipped": [type(a).__name__ for a in others
                        if all(a is not text for text in labels.values())]}


def axes_data(ax) -> dict:
    """The description of ``ax``'s figure and where ``ax`` is in it (worker side)."""
    fig = ax.get_figure(root=True)
    return {"figure": figure_data(fig), "index": list(fig.axes).index(ax)}


# ---- grader side: check the data, then draw a new figure from it -------------------------

def _fail(where: str, what: str = "is malformed"):
    raise FigureDataError(f"figure data: {where} {what}")


class _Reader:
    """Checks values against the forms that ``_SPEC`` names, counting the numbers read."""

    def __init__(self):
        self.points = 0

    def count(self, n: int, where: str):
        self.points += n
        if self.points > MAX_POINTS:
            _fail(where, f"takes the figure over {MAX_POINTS} numbers")

    def record(self, data, kinds, where: str) -> dict:
        kind = data.get("kind") if type(data) is dict else None
        if type(kind) is not str or kind not in kinds:
            _fail(where, f"is not one of {sorted(kinds)}")
        if set(data) != {"kind", *_SPEC[kind]}:
            _fail(where, f"({kind}) has missing or unexpected fields")
        return {"kind": kind, **{key: self.check(data[key], form, f"{where}.{key}")
                                 for key, form in _SPEC[kind].items()}}

    def check(self, value, form, where: str):
        if isinstance(form, frozenset):
            if type(value) is not str or value not in form:
                _fail(where, f"is not one of {sorted(form)}")
            return value
        if form.startswith("opt"):
            return None if value is None else self.check(value, form[3:], where)
        if form in _NUMBERS:
            low, high = _NUMBERS[form]
            whole = form in ("index", "loc")
            if type(value) not in ((int,) if whole else (int, float)) or not low <= value <= high:
                _fail(where, f"is not a {'whole ' if whole else ''}number in [{low}, {high}]")
            return value if whole else float(value)
        if form in _LISTS:
            item, length = _LISTS[form]
            if type(value) is not list or len(value) > MAX_ARTISTS or length not in (None,
                                                                                      len(value)):
                _fail(where, f"is not a list of {length or f'at most {MAX_ARTISTS}'} items")
            self.count(len(value), where)
            return value if item is None else [self.check(v, item, where) for v in value]
        if form in _ARRAYS:
            return self.array(value, where, *_ARRAYS[form])
        if form == "datum":  # a data coordinate: NaN or infinite as matplotlib takes them
            if type(value) is not float and (type(value) is not int or abs(value) > 1e300):
                _fail(where, "is not a number")
            return float(value)
        if form == "string":
            if type(value) is not str or len(value) > MAX_STRING:
                _fail(where, f"is not a string of at most {MAX_STRING} characters")
            return value
        if form == "flag":
            if type(value) is not bool:
                _fail(where, "is not true or false")
            return value
        if form in ("path", "legend"):
            return self.record(value, {form}, where)
        if form == "spec":  # a line's colour as the student gave it: a name or numbers
            return self.check(value, "string" if type(value) is str else "units", where)
        if form == "values":  # line data: numbers, or categories
            return self.check(value, "strs" if type(value) is list else "array", where)
        if form == "aspect":
            return "auto" if value == "auto" else self.check(value, "ratio", where)
        return self.named(value, form, where)

    def named(self, value, form: str, where: str):
        import matplotlib
        from matplotlib.image import interpolations_names
        from matplotlib.markers import MarkerStyle
        known = {"marker": MarkerStyle.markers, "cmap": matplotlib.colormaps,
                 "interpolation": interpolations_names}[form]
        if type(value) not in ((str, int) if form == "marker" else (str,)) or value not in known:
            _fail(where, f"is not a known {form}")
        return value

    def array(self, value, where: str, ndims, columns, bounds):
        if type(value) is not dict or set(value) != {"$nd", "dtype", "shape"}:
            _fail(where, "is not a numeric array")
        shape = value["shape"]
        if (type(shape) is not list or len(shape) not in ndims
                or not all(type(n) is int and n >= 0 for n in shape)
                or (columns and shape[-1] not in columns)):
            _fail(where, "is an array of the wrong shape")
        size = math.prod(shape)
        self.count(size, where)
        if type(value["$nd"]) is not str or len(value["$nd"]) > 4 * math.ceil(size * 16 / 3):
            _fail(where, "is an array whose bytes do not match its shape")
        try:
            array = wire._decode_array(value)
        except Exception as error:
            raise FigureDataError(f"figure data: {where} is not an array ({error})") from None
        if array.dtype.kind not in "biuf":
            _fail(where, "is not an array of real numbers")
        if bounds and not np.all((array >= bounds[0]) & (array <= bounds[1])):  # (NaN fails)
            _fail(where, f"has values outside [{bounds[0]}, {bounds[1]}]")
        return array


def _none_if_empty(colors):
    return colors if len(colors) else "none"


def _pick(items: list, index: int, where: str):
    if index >= len(items):
        _fail(where, "refers to an artist or axes that is not there")
    return items[index]


def _transform(ax, d):
    return {"data": ax.transData, "axes": ax.transAxes, "xaxis": ax.get_xaxis_transform(),
            "yaxis": ax.get_yaxis_transform()}[d["coords"]]


def _draw_line(ax, d):
    from matplotlib.colors import is_color_like, to_rgba
    if len(d["x"]) != len(d["y"]):
        _fail("a line", "has x and y of different lengths")
    spec = d["color_spec"] if type(d["color_spec"]) is str else tuple(d["color_spec"] or ())
    same = is_color_like(spec) and np.allclose(to_rgba(spec), d["color"])  # (never "C0" vs red)
    return ax.plot(d["x"], d["y"], color=spec if same else d["color"], label=d["label"],
                   linestyle=d["linestyle"], linewidth=d["linewidth"], marker=d["marker"],
                   markersize=d["markersize"], drawstyle=d["drawstyle"], alpha=d["alpha"],
                   zorder=d["zorder"], visible=d["visible"], transform=_transform(ax, d))[0]


def _draw_collection(ax, d):
    from matplotlib.collections import Collection, LineCollection, PolyCollection
    from matplotlib.path import Path
    style = {"label": d["label"], "alpha": d["alpha"], "zorder": d["zorder"],
             "linewidths": d["linewidths"], "edgecolors": _none_if_empty(d["edgecolors"])}
    faces = _none_if_empty(d["facecolors"])
    if d["kind"] == "scatter":
        vmin, vmax = d["clim"] or (None, None)
        colors = ({"c": d["array"], "cmap": d["cmap"], "vmin": vmin, "vmax": vmax}
                  if d["array"] is not None else {"facecolors": faces})
        if d["edge_is_face"]:
            style["edgecolors"] = "face"
        coll = ax.scatter(d["offsets"][:, 0], d["offsets"][:, 1], s=d["sizes"], **colors, **style)
    elif d["kind"] == "poly":
        if not all(np.isin(p["codes"], _PATH_CODES).all() for p in d["paths"]):
            _fail("a path", "has unknown codes")
        coll = PolyCollection([], facecolors=faces, **style)
        Collection.set_paths(coll, [Path(p["vertices"], p["codes"] if len(p["codes"]) else None)
                                    for p in d["paths"]])
        ax.add_collection(coll)
    else:
        coll = ax.add_collection(LineCollection(d["segments"], facecolors=faces, **style))
    coll.set_visible(d["visible"])
    return coll


def _draw_patch(ax, d):
    from matplotlib.patches import Polygon, Rectangle, Wedge
    style = {key: d[key] for key in _PATCH}
    for key in ("facecolor", "edgecolor"):  # (so that alpha leaves "none" transparent)
        style[key] = "none" if not any(d[key]) else d[key]
    if d["kind"] == "rect":
        patch = Rectangle(d["xy"], d["width"], d["height"], angle=d["angle"], **style)
    elif d["kind"] == "wedge":
        patch = Wedge(d["center"], d["r"], d["theta1"], d["theta2"], width=d["width"], **style)
    else:
        patch = Polygon(d["xy"], closed=d["closed"], **style)
    return ax.add_patch(patch)


def _draw_image(ax, d):
    array = d["array"]
    if array.ndim == 3 and array.shape[2] not in (3, 4):
        _fail("an image", "has neither 3 nor 4 channels")
    vmin, vmax = d["clim"] if d["clim"] and array.ndim == 2 else (None, None)
    return ax.imshow(array, cmap=d["cmap"], vmin=vmin, vmax=vmax, origin=d["origin"],
                     extent=d["extent"], interpolation=d["interpolation"],
                     **{key: d[key] for key in _STYLE})


def _draw_text(ax, d):
    style = {key: d[key] for key in _TEXT if key not in ("text", "xy")}
    if d["kind"] == "text":
        return ax.text(*d["xy"], d["text"], transform=_transform(ax, d), **style)
    return ax.annotate(d["text"], d["xy"], xytext=d["xytext"], xycoords=d["xycoords"],
                       textcoords=d["textcoords"], **style,
                       arrowprops={"arrowstyle": "->"} if d["arrow"] else None)


def _draw_container(ax, d, lines, collections, patches):
    from matplotlib.container import BarContainer, ErrorbarContainer
    if d["kind"] == "bar":
        return ax.add_container(BarContainer(
            [_pick(patches, i, "a bar container") for i in d["patches"]],
            datavalues=d["datavalues"], orientation=d["orientation"], label=d["label"]))
    line = None if d["data_line"] is None else _pick(lines, d["data_line"], "an errorbar")
    caps = tuple(_pick(lines, i, "an errorbar") for i in d["caplines"])
    cols = tuple(_pick(collections, i, "an errorbar") for i in d["barcols"])
    return ax.add_container(ErrorbarContainer((line, caps, cols), has_xerr=d["has_xerr"],
                                              has_yerr=d["has_yerr"], label=d["label"]))


def _draw_legend(ax, d):
    from matplotlib.lines import Line2D
    pools = {}  # the rebuilt artists by label, for the legend's entries in turn
    for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
        pools.setdefault(label, []).append(handle)
    handles = [pools[text].pop(0) if pools.get(text) else Line2D([], []) for text in d["texts"]]
    ax.legend(handles, d["texts"], title=d["title"] or None, loc=d["loc"])


def _make_axes(fig, d, index: int, gridspecs: dict):
    from matplotlib.gridspec import GridSpec, SubplotSpec
    if d["twin"] is not None:
        parent = _pick(fig.axes[:index], d["twin"][0], "a twin axes")
        return parent.twinx() if d["twin"][1] == "x" else parent.twiny()
    if d["geometry"] is None:
        return fig.add_axes(d["position"], projection=d["projection"])
    rows, cols, first, last = d["geometry"]
    if not (rows and cols and first <= last < rows * cols <= MAX_ARTISTS):
        _fail(f"axes[{index}]", "has an impossible subplot geometry")
    grid = gridspecs.setdefault((rows, cols), GridSpec(rows, cols, figure=fig))
    return fig.add_subplot(SubplotSpec(grid, first, last), projection=d["projection"])


def _draw_axes(r: _Reader, fig, d, index: int, gridspecs: dict):
    where = f"axes[{index}]"
    if d["twin"] is not None:
        r.check(d["twin"][0], "index", f"{where}.twin")
        r.check(d["twin"][1], TWINS, f"{where}.twin")
    kinds = {"lines": {"line"}, "collections": {"scatter", "poly", "segments"},
             "patches": {"rect", "wedge", "polygon"}, "images": {"image"},
             "texts": {"text", "annotation"}}
    if sum(len(d[key]) for key in kinds) > MAX_ARTISTS:
        _fail(where, f"has more than {MAX_ARTISTS} artists")
    ax = _make_axes(fig, d, index, gridspecs)
    ax.set_xscale(d["xscale"])
    ax.set_yscale(d["yscale"])
    drawn = {}
    for key, draw in (("lines", _draw_line), ("collections", _draw_collection),
                      ("patches", _draw_patch), ("images", _draw_image), ("texts", _draw_text)):
        drawn[key] = [draw(ax, r.record(item, kinds[key], f"{where}.{key}")) for item in d[key]]
    for item in d["containers"]:
        container = r.record(item, {"bar", "errorbar"}, f"{where}.containers")
        _draw_container(ax, container, drawn["lines"], drawn["collections"], drawn["patches"])
    if d["legend"] is not None:
        _draw_legend(ax, d["legend"])
    for loc, key in (("left", "title_left"), ("center", "title"), ("right", "title_right")):
        if d[key]:
            ax.set_title(d[key], loc=loc)
    ax.set_xlabel(d["xlabel"])
    ax.set_ylabel(d["ylabel"])
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        if len(d[f"{name}ticks"]) != len(d[f"{name}ticklabels"]):
            _fail(where, f"has {name} ticks and tick labels of different lengths")
        axis.set_ticks(d[f"{name}ticks"], d[f"{name}ticklabels"])
        axis.grid(d[f"{name}grid"])
    if not d["axis_on"]:
        ax.set_axis_off()
    if d["aspect"] != "auto":
        ax.set_aspect(d["aspect"])
    ax.set_xlim(d["xlim"])  # last: plotting and ticks above may have moved the limits
    ax.set_ylim(d["ylim"])


def _rebuild(r: _Reader, data):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    d = r.record(data, {"figure"}, "figure")
    if len(d["axes"]) > MAX_AXES:
        _fail("figure", f"has more than {MAX_AXES} axes")
    fig = Figure(figsize=d["size"], dpi=d["dpi"])
    FigureCanvasAgg(fig)
    for name in ("suptitle", "supxlabel", "supylabel"):
        if d[name]:
            getattr(fig, name)(d[name])
    gridspecs = {}
    for index, item in enumerate(d["axes"]):
        _draw_axes(r, fig, r.record(item, {"axes"}, f"axes[{index}]"), index, gridspecs)
    if d["current"] is not None:
        fig.sca(_pick(fig.axes, d["current"], "the current axes"))
    return fig


def rebuild_figure(data: dict):
    """A new matplotlib Figure (Agg canvas) drawn from :func:`figure_data`'s description."""
    try:
        return _rebuild(_Reader(), data)
    except FigureDataError:
        raise
    except Exception as error:  # whatever matplotlib or NumPy refuse is malformed data
        raise FigureDataError(f"figure data that cannot be drawn: "
                              f"{type(error).__name__}: {str(error)[:200]}") from None


def rebuild_axes(data: dict):
    """The axes that :func:`axes_data` described, in a new figure rebuilt from its data."""
    if type(data) is not dict or set(data) != {"figure", "index"}:
        _fail("axes data", "does not have exactly the fields figure and index")
    index = _Reader().check(data["index"], "index", "axes data.index")
    return _pick(rebuild_figure(data["figure"]).axes, index, "axes data.index")


def adopt_into_pyplot(figures: list) -> None:
    """Make ``figures`` pyplot's open figures (numbers 1, 2, ...), closing pyplot's others,
    the last one current, so that ``plt.gca()``, ``plt.gcf()`` and ``plt.get_fignums()``
    see them."""
    import matplotlib.pyplot as plt
    from matplotlib import _pylab_helpers
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figures = list(figures)
    if (len(figures) > MAX_FIGURES or len({id(f) for f in figures}) != len(figures)
            or not all(type(f) is Figure for f in figures)):
        raise FigureDataError(f"not a list of at most {MAX_FIGURES} distinct Figures")
    plt.close("all")
    for number, fig in enumerate(figures, start=1):  # as pyplot.figure() adopts a new one
        _pylab_helpers.Gcf._set_new_active_manager(FigureCanvasAgg.new_manager(fig, number))
