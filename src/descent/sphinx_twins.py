"""Sphinx extension: a demo's frames are fetched when the reader uses the demo, not before.

A static twin (:func:`descent.widgets.static_twin`) holds every frame of its demo. Executed,
it is one HTML output with each frame inline as a PNG data URI, and a chapter with a few demos
weighed 1.4 to 8 MB, all downloaded at first load for frames most readers never look at. The
execution cache keeps that self-contained output (so a cached page still has its frames);
this extension rewrites the page as Sphinx writes it:

- every frame becomes a file ``_twins/<digest>.webp`` (lossless WebP, about half the PNG's
  bytes; PNG kept where it is smaller), named by its content, so a frame shared by two
  demos, or by two builds, is written once;
- the frame a twin shows first keeps a ``src`` and loads with the page; the others get a
  ``data-src`` that the twin's script turns into ``src`` the first time the reader moves a
  slider or picks an option (:data:`descent.widgets.UPDATE_JS`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

#: A twin's frame as :func:`descent.widgets.static_twin` writes it.
FRAME = re.compile(
    r'(<img data-key="[^"]*" )src="data:image/png;base64,([A-Za-z0-9+/=]+)"([^>]*>)')
#: After the alt text (escaped: no quote inside), the attribute that hides a frame.
HIDDEN = re.compile(r'"\s+hidden[\s>]')
FOLDER = "_twins"


def frame_file(folder: Path, png: bytes) -> str:
    """Write one frame (as WebP when that is smaller) and return its file name."""
    from PIL import Image

    digest = hashlib.sha256(png).hexdigest()[:20]
    for existing in (f"{digest}.webp", f"{digest}.png"):
        if (folder / existing).is_file():
            return existing
    webp = io.BytesIO()
    # method=2: within a few per cent of the smallest lossless WebP, several times faster.
    Image.open(io.BytesIO(png)).save(webp, "WEBP", lossless=True, method=2)
    name, data = ((f"{digest}.webp", webp.getvalue()) if webp.tell() < len(png)
                  else (f"{digest}.png", png))
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{name}.partial"
    partial.write_bytes(data)
    partial.replace(folder / name)
    return name


def externalize_frames(body: str, folder: Path, prefix: str) -> str:
    """``body`` with each twin frame's data URI replaced by a file under ``prefix``."""

    def replace(match: re.Match) -> str:
        head, data, tail = match.groups()
        name = frame_file(folder, base64.b64decode(data))
        attribute = "data-src" if HIDDEN.search(tail) else "src"
        return f'{head}{attribute}="{prefix}{name}"{tail}'

    return FRAME.sub(replace, body)


def on_page(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if app.builder.format != "html" or not body or "descent-twin" not in body:
        return
    prefix = "../" * pagename.count("/") + f"{FOLDER}/"
    context["body"] = externalize_frames(body, Path(app.outdir) / FOLDER, prefix)


def setup(app):
    app.connect("html-page-context", on_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
