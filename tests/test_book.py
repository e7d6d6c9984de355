"""The website builds from scratch, strictly: every page executes, no warning at all.

Built (by the `site` fixture of conftest.py) into a scratch folder with an empty execution
cache, so a change in the `descent` library (which jupyter-cache does not see) is always
re-executed here.
"""

from __future__ import annotations

import re

import pytest
import yaml
from nbtools import ROOT


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part.get("chapters", [])]
    return pages


# The `site` fixture (the strict build, shared with the browser tests) is in conftest.py.


@pytest.mark.parametrize("page", toc_pages())
def test_page_is_built(site, page):
    html = (site / f"{page}.html").read_text()
    for marker in ("output traceback", "output stderr"):
        assert marker not in html, f"{page}: an error or warning is printed on the page"


def chapter_pages():
    return [p for p in toc_pages() if re.match(r"book/\d\d_", p)]


@pytest.mark.parametrize("page", chapter_pages())
def test_every_demo_has_a_static_twin(site, page):
    source = (ROOT / f"{page}.md").read_text()
    demos = len(re.findall(r"^\s*(?:\w+\.)?explore\(", source, flags=re.M))
    html = (site / f"{page}.html").read_text()
    twins = html.count('class="descent-twin"')
    assert demos >= 2, f"{page}: a chapter needs at least two demos, found {demos}"
    assert twins == demos, f"{page}: {demos} explore() calls but {twins} static twins in the page"
    assert "application/vnd.jupyter.widget-view+json" not in html, (
        f"{page}: a live widget leaked into the static site; build with DESCENT_STATIC=1"
    )


def test_site_loads_no_script_from_the_network(site):
    """Classrooms without internet get the whole course: MathJax is served by the site."""
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    for page in toc_pages():
        html = (site / f"{page}.html").read_text()
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:)?//[^"]+"', html)
        assert not remote, f"{page} loads {remote} from the network"
        if 'class="math' in html:  # Sphinx loads MathJax only on pages with mathematics
            assert "_static/mathjax/tex-chtml.js" in html, f"{page} does not load the local MathJax"
