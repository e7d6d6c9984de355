"""Sphinx extension: a Colab button that opens something Colab can run.

The theme points every launch button at the page's own source. JupyterHub and Binder open
``book/<id>.md`` as a notebook (jupytext), but Colab reads only ``.ipynb`` files, so on a
chapter page its button opens the chapter's exercise notebook, ``notebooks/<id>/<id>.ipynb``
(the second page of chapter 05 opens chapter 05's), instead; a page without one gets no Colab
button.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def _colab_target(srcdir: Path, pagename: str) -> str | None:
    """The page's exercise notebook: ``notebooks/<id>/<id>.ipynb``, or for a chapter written
    as several pages (05_optimizers, 05_adaptive) the one notebook of its number."""
    chapter = PurePosixPath(pagename).name
    notebook = f"notebooks/{chapter}/{chapter}.ipynb"
    if (srcdir / notebook).is_file():
        return notebook
    number = chapter.split("_", 1)[0]
    if not number.isdigit():
        return None
    found = sorted(srcdir.glob(f"notebooks/{number}_*/{number}_*.ipynb"))
    found = [path for path in found if path.stem == path.parent.name]
    return str(found[0].relative_to(srcdir)) if len(found) == 1 else None


def point_colab_at_notebooks(app, pagename, templatename, context, doctree) -> None:
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        target = _colab_target(Path(app.srcdir), pagename)
        kept = []
        for button in group["buttons"]:
            if button.get("text") == "Colab":
                if target is None:
                    continue
                # .../blob/<branch>/book/<id>.md -> .../blob/<branch>/notebooks/<id>/<id>.ipynb
                prefix = button["url"].rsplit(f"/{pagename}", 1)[0]
                button = {**button, "url": f"{prefix}/{target}"}
            kept.append(button)
        group["buttons"] = kept


def setup(app):
    # After sphinx-book-theme's own handler (priority 501) has added the launch buttons.
    app.connect("html-page-context", point_colab_at_notebooks, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
