"""The demo machinery: static twins for the website, live widgets for JupyterLab."""

from __future__ import annotations

import re

import pytest

from descent.plots import figure
from descent.widgets import MAX_FRAMES, explore, static_twin


def line_plot(slope, kind="line"):
    fig, ax = figure()
    xs = [0, 1, 2]
    ax.plot(xs, [slope * x if kind == "line" else slope * x * x for x in xs])
    ax.set_title(f"{kind}, slope {slope}")
    return fig


def test_twin_has_one_frame_per_combination_and_shows_one():
    html = static_twin(line_plot, ("slope", [1, 2, 3]), {"kind": ["line", "square"]},
                       start=2, alt="{kind} with slope {slope}")
    frames = re.findall(r'<img data-key="([^"]+)"[^>]*?( hidden)? style', html)
    keys = [key for key, _ in frames]
    assert sorted(keys) == sorted(f"{k}|{s}" for k in range(2) for s in range(3))
    shown = [key for key, hidden in frames if not hidden]
    assert shown == ["0|1"], "the start value (2, index 1) of the first control is shown"
    assert 'alt="square with slope 3"' in html
    assert 'value="1"' in html and "<output>2</output>" in html


def test_twin_refuses_too_many_frames():
    with pytest.raises(ValueError, match="frames"):
        static_twin(line_plot, ("slope", list(range(MAX_FRAMES + 1))))


def test_explore_picks_twin_or_widget(monkeypatch):
    monkeypatch.setenv("DESCENT_STATIC", "1")
    assert "descent-twin" in explore(line_plot, ("slope", [1, 2])).data
    monkeypatch.delenv("DESCENT_STATIC")
    box = explore(line_plot, ("slope", [1, 2]), {"kind": ["line", "square"]})
    slider, dropdown = box.children[0].children[1], box.children[0].children[0]
    assert slider.value == 1 and tuple(slider.options) == (("1", 1), ("2", 2))
    assert dropdown.options == ("line", "square")


def test_site_fetches_a_twins_hidden_frames_only_when_it_is_used(tmp_path):
    """On the website (descent.sphinx_twins) each frame is a file: the one shown at first has
    a src, the others only a data-src, and every file holds exactly the frame's pixels."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    from descent.sphinx_twins import externalize_frames

    html = static_twin(line_plot, ("slope", [1, 2, 3]), {"kind": ["line", "square"]},
                       alt="{kind} with slope {slope}")
    pngs = {key: base64.b64decode(data) for key, data in re.findall(
        r'<img data-key="([^"]+)" src="data:image/png;base64,([^"]+)"', html)}
    page = externalize_frames(html, tmp_path, "../_twins/")
    assert "data:image" not in page
    loaded = re.findall(r'<img data-key="([^"]+)" src="\.\./_twins/([^"]+)"', page)
    deferred = dict(re.findall(r'<img data-key="([^"]+)" data-src="\.\./_twins/([^"]+)"', page))
    assert [key for key, _ in loaded] == ["0|0"] and len(deferred) == 5
    for key, name in [*loaded, *deferred.items()]:
        original = np.asarray(Image.open(io.BytesIO(pngs[key])).convert("RGBA"))
        written = np.asarray(Image.open(tmp_path / name).convert("RGBA"))
        assert np.array_equal(written, original), f"frame {key} changed in {name}"
    again = externalize_frames(html, tmp_path, "../_twins/")  # named by content: no new file
    assert again == page and len(list(tmp_path.iterdir())) == 6
