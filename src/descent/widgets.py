"""Interactive demos that also work on the static website.

Every demo is one call::

    explore(plot_fn, slider=("depth", [1, 2, 5, 10, 20]),
            controls={"activation": ["sigmoid", "tanh", "relu"]},
            alt="Gradient size per layer, depth {depth}, {activation}")

``plot_fn(**params)`` returns a :class:`matplotlib.figure.Figure` (build it with
:func:`descent.plots.figure`). In a live kernel (JupyterLab) ``explore`` shows
ipywidgets: a slider for the main parameter and a dropdown per control. When the
book is built (``DESCENT_STATIC=1``, set by ``make book``) there is no kernel
behind the page, so it returns a *static twin*: every combination of slider and
control values is rendered once, and a few lines of inline JavaScript swap the
pre-rendered frames as the reader moves the slider or picks a control. The twin
needs no network and no kernel.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import uuid
from collections.abc import Callable, Sequence

from descent.plots import to_data_uri

#: A twin with more frames than this is too heavy for a page; split the demo.
MAX_FRAMES = 120

# Runs on the twin's container for every input/change event it receives from
# its range slider or dropdowns: show the frame whose key matches the controls. On the
# website a frame not shown at first load has only a data-src (descent.sphinx_twins): the
# first use of the demo fetches the frame it shows, then the demo's other frames.
UPDATE_JS = (
    "var t=this,s=t.querySelector('input[type=range]'),"
    "k=[].map.call(t.querySelectorAll('[data-control]'),function(e){"
    "return e.tagName==='SELECT'?e.selectedIndex:e.value}).join('|'),"
    "f=function(im){if(!im.getAttribute('src')&&im.dataset.src)im.src=im.dataset.src};"
    "t.querySelectorAll('img[data-key]').forEach(function(im){"
    "im.hidden=im.dataset.key!==k;if(!im.hidden)f(im)});"
    "t.querySelectorAll('img[data-src]').forEach(f);"
    "t.querySelector('output').textContent=JSON.parse(s.dataset.labels)[s.value];"
)


def static_mode() -> bool:
    """True when pages are being executed for the static site (``DESCENT_STATIC=1``)."""
    return os.environ.get("DESCENT_STATIC", "") == "1"


def _label(value, fmt: str) -> str:
    return value if isinstance(value, str) else fmt.format(value)


def static_twin(
    plot: Callable,
    slider: tuple[str, Sequence],
    controls: dict[str, Sequence] | None = None,
    *,
    start=None,
    alt: str = "",
    fmt: str = "{:g}",
) -> str:
    """Render every frame of a demo and return the twin's self-contained HTML."""
    name, values = slider
    controls = controls or {}
    options = [list(o) for o in controls.values()]
    combos = list(itertools.product(*(range(len(o)) for o in options)))
    if len(combos) * len(values) > MAX_FRAMES:
        raise ValueError(
            f"static twin of {plot.__name__}: {len(combos) * len(values)} frames is over "
            f"{MAX_FRAMES}; use fewer slider values or controls."
        )
    start_index = values.index(start) if start is not None else 0
    labels = [_label(v, fmt) for v in values]
    twin_id = f"descent-twin-{uuid.uuid4().hex[:8]}"

    frames = []
    for combo in combos:
        fixed = {c: opts[i] for c, opts, i in zip(controls, options, combo, strict=True)}
        for index, value in enumerate(values):
            params = {**fixed, name: value}
            # The key matches what the update script reads off the controls:
            # each dropdown's selected index, then the slider's position.
            key = "|".join([*map(str, combo), str(index)])
            shown = index == start_index and not any(combo)
            description = alt.format(**params) if alt else f"{name} = {labels[index]}"
            frames.append(
                f'<img data-key="{key}" src="{to_data_uri(plot(**params))}" '
                f'alt="{html.escape(description)}"{"" if shown else " hidden"} '
                'style="max-width:100%">'
            )

    selects = []
    for control, opts in zip(controls, options, strict=True):
        items = "".join(f"<option>{html.escape(_label(o, fmt))}</option>" for o in opts)
        selects.append(
            f'<label style="margin-right:1em">{html.escape(control)} '
            f"<select data-control>{items}</select></label>"
        )
    range_input = (
        f'<label>{html.escape(name)} <input type="range" data-control min="0" '
        f'max="{len(values) - 1}" step="1" value="{start_index}" '
        f"data-labels='{html.escape(json.dumps(labels))}' "
        f'aria-label="{html.escape(name)}" style="vertical-align:middle;width:14em"> '
        f"<output>{html.escape(labels[start_index])}</output></label>"
    )
    return (
        f'<div class="descent-twin" id="{twin_id}" oninput="{html.escape(UPDATE_JS)}" '
        f'onchange="{html.escape(UPDATE_JS)}">'
        f'<div class="descent-twin-controls" style="margin:.3em 0">{"".join(selects)}'
        f"{range_input}</div>{''.join(frames)}</div>"
    )


def live_widget(
    plot: Callable,
    slider: tuple[str, Sequence],
    controls: dict[str, Sequence] | None = None,
    *,
    start=None,
    fmt: str = "{:g}",
):
    """Return an ipywidgets box: a selection slider, one dropdown per control, the figure."""
    import ipywidgets as widgets
    from IPython.display import Image, display

    from descent.plots import to_png

    name, values = slider
    controls = controls or {}
    inputs = {
        name: widgets.SelectionSlider(
            options=[(_label(v, fmt), v) for v in values],
            value=values[0] if start is None else start,
            description=name,
            continuous_update=False,
            style={"description_width": "initial"},
            layout=widgets.Layout(width="28em"),
        )
    }
    for control, options in controls.items():
        inputs[control] = widgets.Dropdown(options=list(options), description=control,
                                           style={"description_width": "initial"})

    def draw(**params):
        display(Image(data=to_png(plot(**params))))

    output = widgets.interactive_output(draw, inputs)
    row = widgets.HBox([inputs[c] for c in controls] + [inputs[name]])
    return widgets.VBox([row, output])


def explore(
    plot: Callable,
    slider: tuple[str, Sequence],
    controls: dict[str, Sequence] | None = None,
    *,
    start=None,
    alt: str = "",
    fmt: str = "{:g}",
    static: bool | None = None,
    live: Callable | None = None,
):
    """Show a demo: live ipywidgets in a kernel, a static twin when building the book.

    Args:
        plot: ``plot(**params) -> Figure``, called with the slider's and controls' values.
        slider: ``(name, values)`` of the main parameter, the one the twin scrubs through.
        controls: further ``name -> options`` (dropdowns); the twin renders every option.
        start: initial slider value (default: the first).
        alt: alt text for each frame, formatted with the parameters, e.g. ``"depth {depth}"``.
        fmt: format for numeric labels.
        static: force the twin (True) or the live widget (False); default: :func:`static_mode`.
        live: optional ``live() -> widget`` shown in a kernel instead of the generic widget,
            for a demo that needs its own controls or a faster redraw (the optimizer race);
            the static twin is still rendered from ``plot``.
    """
    if static is None:
        static = static_mode()
    if static:
        from IPython.display import HTML

        return HTML(static_twin(plot, slider, controls, start=start, alt=alt, fmt=fmt))
    if live is not None:
        return live()
    return live_widget(plot, slider, controls, start=start, fmt=fmt)
