"""The website in a real browser, with no network: headless Chromium against the strict build.

Every page of the table of contents (read at run time, so new chapters are tested as they land)
is served on 127.0.0.1 and loaded in a context that blocks every request leaving the machine.
A page passes when it shows no console error, no failed or blocked request, typesets every
equation, loads every image (with alt text), and when each of its demos' static twins shows a
different frame as the reader moves its slider or picks another option. The link check and
the book's conventions (launch and download buttons, previous/next, citations) read the HTML.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from browser import offline_context, serve
from nbtools import ROOT
from test_book import chapter_pages, toc_pages

# Waits for MathJax's first typesetting pass, when the page has MathJax at all.
MATHJAX_DONE = (
    "async () => { if (window.MathJax?.startup?.promise) await MathJax.startup.promise; }"
)

# Decodes every image (hidden twin frames too, once fetched), then lists the ones that did
# not load. A twin's frame that has only a data-src is fetched when the demo is first used.
BROKEN_IMAGES = """async () => {
  const images = [...document.images].filter(im => im.getAttribute('src'));
  await Promise.all(images.map(im => im.decode().catch(() => null)));
  return images.filter(im => !(im.complete && im.naturalWidth > 0))
               .map(im => im.currentSrc.slice(0, 120) || im.outerHTML.slice(0, 120));
}"""

CONTENT_IMAGES_WITHOUT_ALT = """() => [...document.querySelectorAll('.bd-content img')]
  .filter(im => !(im.alt || '').trim() || /\\.(png|svg|jpe?g)$/i.test(im.alt.trim()))
  .map(im => im.currentSrc.slice(0, 80))"""

# Display equations (Sphinx wraps them in div.math) that MathJax left as TeX, or typeset as
# an error; and "$$" left in the text (a dollar-math block the parser did not see).
MATH_PROBLEMS = """() => {
  const untypeset = [...document.querySelectorAll('div.math')]
    .filter(d => !d.querySelector('mjx-container')).map(d => d.textContent.trim().slice(0, 80));
  const errors = [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80));
  const main = document.querySelector('.bd-article') || document.body;
  const text = [...main.querySelectorAll('p, li, td, dd, h1, h2, h3, figcaption, .math')]
    .map(e => e.textContent).join('\\n');
  return {
    display: document.querySelectorAll('div.math').length,
    untypeset, errors, rawDollars: (text.match(/\\$\\$/g) || []).length,
  };
}"""

# The frame a twin shows, once it has loaded: the key and source of its one visible image.
SHOWN_FRAME = """async twin => {
  const shown = [...twin.querySelectorAll('img[data-key]')].filter(im => !im.hidden);
  await Promise.all(shown.map(im => im.decode().catch(() => null)));
  return shown.map(im => ({key: im.dataset.key, src: im.src.slice(-200),
                           loaded: im.complete && im.naturalWidth > 0}));
}"""

# What the page requested (a fresh context has an empty cache, so this is a first visit).
REQUESTED = """() => [...performance.getEntriesByType('navigation'),
                     ...performance.getEntriesByType('resource')].map(e => e.name)"""

# The theme's icons are drawn by its web fonts (descent.sphinx_offline drops the 1.5 MB script
# that drew them again): each icon box has a width and the Font Awesome font.
UNDRAWN_ICONS = """() => [...document.querySelectorAll('.bd-header-article i[class*="fa-"]')]
  .filter(i => i.checkVisibility())
  .filter(i => !(i.getBoundingClientRect().width > 0
                 && /Font Awesome/.test(getComputedStyle(i, '::before').fontFamily)))
  .map(i => i.className)"""

#: The most a page may send when first opened, the demos' frames not yet fetched: text
#: (HTML, CSS, JavaScript) gzip-compressed as static hosts send it, images and fonts as they are.
FIRST_LOAD_BYTES = 2_000_000
COMPRESSED = (".html", ".css", ".js", ".json", ".svg", ".txt")


def sent_bytes(site: Path, path: str) -> tuple[int, int]:
    """(bytes on disk, bytes a static host sends) of one file of the site."""
    import gzip

    data = (site / unquote(path).lstrip("/")).read_bytes()
    compressed = Path(path).suffix in COMPRESSED
    return len(data), len(gzip.compress(data, 6)) if compressed else len(data)


@pytest.fixture(scope="module")
def served(site):
    with serve(site) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def context(browser, served):
    context, traffic = offline_context(browser, viewport={"width": 1280, "height": 900})
    yield context, traffic
    context.close()


@pytest.fixture(scope="module")
def opened(context, served):
    """Loads each page once (the later tests of a page reuse it): ``page -> (Page, problems)``,
    with the problems seen while it loaded."""
    browser_context, traffic = context
    pages = {}

    def open_page(name: str):
        if name not in pages:
            traffic.clear()
            tab = browser_context.new_page()
            tab.goto(served + f"{name}.html", wait_until="load")
            tab.evaluate(MATHJAX_DONE)
            tab.wait_for_load_state("networkidle")
            pages[name] = (tab, traffic.problems())
        return pages[name]

    yield open_page
    for tab, _ in pages.values():
        tab.close()


@pytest.mark.parametrize("page", toc_pages())
def test_page_loads_offline_without_errors(opened, page):
    _, problems = opened(page)
    assert not problems, f"{page}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", toc_pages())
def test_every_display_equation_is_typeset(opened, page):
    tab, _ = opened(page)
    math = tab.evaluate(MATH_PROBLEMS)
    assert not math["untypeset"], f"{page}: equations left as TeX: {math['untypeset']}"
    assert not math["errors"], f"{page}: MathJax could not typeset: {math['errors']}"
    assert not math["rawDollars"], f"{page}: '$$' left in the text {math['rawDollars']} times"


@pytest.mark.parametrize("page", toc_pages())
def test_every_image_loads_and_has_alt_text(opened, page):
    tab, _ = opened(page)
    broken = tab.evaluate(BROKEN_IMAGES)
    assert not broken, f"{page}: images that did not load: {broken}"
    missing = tab.evaluate(CONTENT_IMAGES_WITHOUT_ALT)
    assert not missing, f"{page}: images without alt text (or a file name as alt): {missing}"


def _frame(twin) -> dict:
    shown = twin.evaluate(SHOWN_FRAME)
    assert len(shown) == 1, f"a twin should show exactly one frame, shows {len(shown)}"
    assert shown[0]["loaded"], f"the frame shown did not load: {shown[0]['src']}"
    return shown[0]


@pytest.mark.parametrize("page", toc_pages())
def test_first_load_stays_light(browser, site, served, page):
    """A page's first visit sends at most FIRST_LOAD_BYTES: the document, theme, MathJax and
    its fonts, figures, and the one frame each demo shows; the demos' other frames come when
    the reader uses them (descent.sphinx_twins). The theme's icons still show."""
    context, _ = offline_context(browser, viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(served + f"{page}.html", wait_until="load")
        tab.evaluate(MATHJAX_DONE)
        tab.wait_for_load_state("networkidle")
        requested = [urlsplit(url).path for url in tab.evaluate(REQUESTED)]
        undrawn = tab.evaluate(UNDRAWN_ICONS)
    finally:
        context.close()
    assert not undrawn, f"{page}: icons not drawn: {undrawn}"
    sizes = {path: sent_bytes(site, path) for path in requested if path != "/favicon.ico"}
    on_disk, sent = (sum(size[i] for size in sizes.values()) for i in (0, 1))
    print(f"\nfirst load of {page}: {sent / 1e6:.2f} MB sent ({on_disk / 1e6:.2f} MB on disk), "
          f"{len(sizes)} requests")
    heaviest = sorted(sizes, key=lambda path: -sizes[path][1])[:8]
    assert sent <= FIRST_LOAD_BYTES, f"{page}: {sent / 1e6:.2f} MB at first load; heaviest: " + (
        ", ".join(f"{path.rsplit('/', 1)[-1][:60]} {sizes[path][1] / 1e3:.0f} kB"
                  for path in heaviest))


@pytest.mark.parametrize("page", chapter_pages())
def test_static_twins_respond_to_input(opened, context, page):
    """Moving a twin's slider, or picking another option in one of its menus, shows another
    frame: what a reader does with the keyboard or mouse, no kernel behind the page."""
    tab, _ = opened(page)
    _, traffic = context
    traffic.clear()
    twins = tab.locator(".descent-twin")
    assert twins.count() >= 1, f"{page}: no static twin on a chapter page"
    for index in range(twins.count()):
        twin = twins.nth(index)
        slider = twin.locator("input[type=range]")
        before = _frame(twin)
        label = twin.locator("output").text_content()
        at_end = slider.input_value() == slider.get_attribute("max")
        slider.press("Home" if at_end else "End")
        after = _frame(twin)
        where = f"{page}, demo {index + 1} ({slider.get_attribute('aria-label')})"
        assert after["key"] != before["key"], f"{where}: the slider did not change the frame"
        assert after["src"] != before["src"], f"{where}: the new frame shows the same image"
        assert twin.locator("output").text_content() != label, f"{where}: label not updated"
        menus = twin.locator("select")
        for m in range(menus.count()):
            menu = menus.nth(m)
            before = _frame(twin)
            options = menu.locator("option").count()
            chosen = menu.evaluate("s => s.selectedIndex")
            menu.select_option(index=(chosen + 1) % options)
            after = _frame(twin)
            assert after["key"] != before["key"], f"{where}: menu {m + 1} did not change the frame"
    assert not traffic.problems(), f"{page}:\n" + "\n".join(traffic.problems())


def test_dark_mode_keeps_plots_on_white(opened):
    """The theme's switch turns the page dark; figures and demos stay on white, undimmed."""
    page = next(p for p in chapter_pages())
    tab, _ = opened(page)
    switch = tab.locator(".theme-switch-button").first
    for _ in range(3):
        if tab.evaluate("document.documentElement.dataset.theme") == "dark":
            break
        switch.click()
    assert tab.evaluate("document.documentElement.dataset.theme") == "dark"
    styles = tab.evaluate("""() => [...document.querySelectorAll(
        '.bd-content .cell_output img, .bd-content .descent-twin')].map(e => {
          const s = getComputedStyle(e);
          return {what: e.className || e.tagName, background: s.backgroundColor, filter: s.filter};
        })""")
    assert styles, f"{page}: no figure to look at"
    for style in styles:
        assert style["background"] == "rgb(255, 255, 255)", f"{page}: {style}"
        assert style["filter"] == "none", f"{page}: a dimmed figure {style}"


def test_search_finds_chapters(opened):
    tab, problems = opened("search")
    tab.goto(tab.url + "?q=gradient", wait_until="load")
    results = tab.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20_000)
    links = results.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert any(re.search(r"book/\d\d_", link) for link in links), links


# --- The HTML itself: links, buttons, conventions (no browser needed) ----------------------

HREF = re.compile(r"""<(a|link|img|script)\b[^>]*?\s(href|src)="([^"]*)\"""", re.I)
ANCHOR = re.compile(r"""\s(?:id|name)="([^"]+)\"""")


def _anchors(html: str) -> set[str]:
    return set(ANCHOR.findall(html))


def test_internal_links_resolve(site):
    """Every link, image and script of every page points at a file of the site, and every
    #fragment at an anchor that exists there."""
    pages = {p: p.read_text(errors="replace") for p in site.rglob("*.html")
             if "_static" not in p.relative_to(site).parts}
    anchors = {p: _anchors(html) for p, html in pages.items()}
    broken = []
    for path, html in pages.items():
        for _, _, url in HREF.findall(html):
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith(("data:", "javascript:", "mailto:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(site)}: {url} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in anchors.get(target, set()):
                    broken.append(f"{path.relative_to(site)}: {url} (no such anchor)")
    assert len(pages) >= len(toc_pages())
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:40])


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


@pytest.mark.parametrize("page", chapter_pages())
def test_chapter_has_book_buttons(site, page):
    """Download as .ipynb and .md, launch on JupyterHub, Binder and Colab from the one
    repository address, and previous/next links."""
    html = (site / f"{page}.html").read_text()
    chapter = Path(page).name
    repo = _config()["repository"]["url"].rstrip("/")
    hrefs = [unquote(h) for h in re.findall(r'href="([^"]+)"', html)]

    for suffix in (".ipynb", ".md"):
        download = f"_sources/{page}{suffix}"
        assert any(h.endswith(download) for h in hrefs), f"{page}: no {suffix} download"
        assert (site / download).is_file(), f"{page}: {download} is linked but not in the site"

    hub = next((h for h in hrefs if "/hub/user-redirect/git-pull?" in h), None)
    assert hub and f"repo={repo}" in hub and f"{page}.md" in hub, f"{page}: JupyterHub: {hub}"
    binder = next((h for h in hrefs if "/v2/gh/" in h), None)
    assert binder and repo.split("github.com/")[-1] in binder and f"{page}.md" in binder, (
        f"{page}: Binder: {binder}")
    colab = next((h for h in hrefs if "colab" in h), None)
    # A chapter of several pages (05_optimizers, 05_adaptive) has one notebook, its first's.
    first = next(p for p in chapter_pages() if Path(p).name[:3] == chapter[:3])
    notebook = f"notebooks/{Path(first).name}/{Path(first).name}.ipynb"
    assert colab and colab.endswith(notebook) and (ROOT / notebook).is_file(), (
        f"{page}: Colab should open {notebook}: {colab}")

    assert 'class="prev-next-area"' in html and 'class="left-prev"' in html, (
        f"{page}: no previous/next links")


def test_citations_link_to_the_bibliography(site):
    """Chapters cite with sphinxcontrib-bibtex; the bibliography lists every entry."""
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    bibliography = (site / "book" / "bibliography.html").read_text()
    listed = bibliography.count('class="citation"')
    assert listed == len(keys), f"{len(keys)} entries in references.bib, {listed} listed"
    citing = [p for p in chapter_pages()
              if "bibliography.html#" in (site / f"{p}.html").read_text()]
    assert len(citing) >= 5, f"only {citing} cite into the bibliography"
