"""Sphinx extension: serve MathJax from the built site itself.

Sphinx loads MathJax from a CDN by default, so a classroom without internet sees
raw TeX. `_config.yml` points ``mathjax_path`` at ``_static/mathjax/tex-chtml.js``
and this extension copies the needed part of MathJax 3 (the TeX-to-CHTML bundle,
its web fonts, TeX extensions, menu and accessibility components; about 3 MB)
from the django-static-mathjax package, a plain PyPI copy of MathJax's files.

It also keeps pages light: the theme loads Font Awesome twice, as web fonts from its CSS
(about 270 kB) and as a 1.5 MB script that redraws the same icons as SVG. The fonts alone
draw every icon the site uses, so the script's tag is taken out of every page.

And it drops repeated scripts from every page: sphinx-thebe's inline settings (registered
each time sources are read) came out twice, declaring the same ``const`` twice, an error in
every reader's browser console. The site loads no widget manager
(``nb_ipywidgets_js`` is empty in ``_config.yml``): its demos are static twins.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import mathjax  # provided by django-static-mathjax

PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y")


def _mathjax_es5() -> Path:
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        source = _mathjax_es5() / part
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / part)


#: The theme's Font Awesome script (the icons come from its web fonts).
FONT_AWESOME_SCRIPT = re.compile(r'<script\b[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"'
                                 r'[^>]*>\s*</script>\s*')


def drop_icon_script(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        lighter = FONT_AWESOME_SCRIPT.sub("", text)
        if lighter != text:
            page.write_text(lighter, encoding="utf-8")


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, kept = set(), []
    for script in context.get("script_files", []):
        # What the page shows: the file (None or "" for an inline script) and the attributes
        # (the body among them), whatever the priority each copy was registered with.
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", drop_icon_script)
    app.connect("html-page-context", drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
