"""Screenshots of the course for the README: `make screenshots` (after `make book`).

Writes into docs/screenshots/:

- ``site-landing.png``: the website's landing page;
- ``site-demo.png``: a chapter of the website at one of its demos (a static twin), after the
  reader has moved its slider;
- ``lab-widget.png``: the same chapter opened as a notebook in JupyterLab, run, with the demo
  as a live widget;
- ``class-report.png``: the grader's class report (``python -m autograder report``) of a graded
  folder given with ``--graded`` (the README's is chapter 05's generated class,
  ``python tests/classgen.py``, graded after an earlier class); skipped without one.

``--only class-report`` (repeatable) takes some of them; the class report needs no website.

Uses the browser tests' helpers (tests/browser.py): the system's Chromium driven by
Playwright, the site served on 127.0.0.1, JupyterLab on a scratch copy with a token.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import (  # noqa: E402  (tests/ is put on the path just above)
    PANEL,
    chromium,
    find_chromium,
    offline_context,
    open_notebook,
    run_all,
    running_lab,
    serve,
)

CHAPTER = "01_activations"
VIEWPORT = {"width": 1280, "height": 800}


def shoot_site(browser, site: Path, out: Path) -> None:
    context, traffic = offline_context(browser, viewport=VIEWPORT)
    with serve(site) as base_url:
        tab = context.new_page()
        tab.goto(base_url + "index.html", wait_until="networkidle")
        tab.screenshot(path=out / "site-landing.png")

        tab.goto(base_url + f"book/{CHAPTER}.html", wait_until="networkidle")
        tab.evaluate("async () => { if (window.MathJax?.startup?.promise)"
                     " await MathJax.startup.promise; }")
        twin = tab.locator(".descent-twin").first
        twin.locator("input[type=range]").press("End")
        tab.evaluate("document.activeElement.blur()")  # no focus ring in the picture
        # The demo with the paragraph that introduces it just above.
        tab.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top"
                     " + window.scrollY - 260)", twin.element_handle())
        tab.screenshot(path=out / "site-demo.png")
    context.close()
    if traffic.problems():
        print("warning: the site had problems:\n" + "\n".join(traffic.problems()))


def shoot_lab(browser, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="descent-shots-") as scratch:
        root = Path(scratch) / "course"
        root.mkdir()
        shutil.copy(ROOT / "book" / f"{CHAPTER}.md", root)
        with running_lab(root, Path(scratch) / "lab") as (base_url, token):
            context, _ = offline_context(browser, viewport=VIEWPORT)
            tab = open_notebook(context, f"{base_url}lab/tree/{CHAPTER}.md?reset&token={token}")
            run_all(tab, timeout=300_000)
            # A demo's cell at the top of the notebook (JupyterLab renders cells far from the
            # viewport lazily, so scroll with the DOM rather than with Playwright).
            widget = tab.locator(f"{PANEL} .widget-slider").first
            widget.evaluate("el => el.closest('.jp-Cell').scrollIntoView({block: 'start'})")
            handle = widget.locator(".noUi-handle").first
            handle.focus()
            handle.press("ArrowRight")
            tab.wait_for_timeout(3000)  # the kernel redraws the figure
            widget.evaluate("el => el.closest('.jp-Cell').scrollIntoView({block: 'start'})")
            tab.screenshot(path=out / "lab-widget.png")
            context.close()


def shoot_class_report(browser, out: Path, graded: Path) -> None:
    """The report's first screen: scores beside earlier runs, then the tasks."""
    from autograder.report import write_report

    with tempfile.TemporaryDirectory(prefix="descent-report-") as scratch:
        folder = Path(scratch)
        # A copy: the grader's folder is only read.
        shutil.copy(graded / "report.json", folder)
        if (graded / "feedback").is_dir():
            shutil.copytree(graded / "feedback", folder / "feedback")
        write_report(folder)
        # Taller than the site's shots: the scores, then the tasks and their misconceptions.
        context, traffic = offline_context(browser, viewport={"width": 1280, "height": 1500})
        with serve(folder) as base_url:
            tab = context.new_page()
            tab.goto(base_url + "report.html", wait_until="load")
            tab.screenshot(path=out / "class-report.png")
        context.close()
    if traffic.problems():
        print("warning: the class report had problems:\n" + "\n".join(traffic.problems()))


SHOTS = {"site": ("site-landing.png", "site-demo.png"), "lab": ("lab-widget.png",),
         "class-report": ("class-report.png",)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html",
                        help="the built website (default: _build/html, from `make book`)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", action="append", choices=sorted(SHOTS),
                        help="take only these screenshots (repeatable; default: all)")
    parser.add_argument("--graded", type=Path, default=None,
                        help="a folder the grader wrote (its report.json) for class-report.png")
    args = parser.parse_args(argv)
    shots = args.only or [shot for shot in SHOTS if shot != "class-report" or args.graded]
    if "class-report" in shots and args.graded is None:
        print("class-report.png needs --graded OUT, a folder the grader wrote", file=sys.stderr)
        return 2
    if args.graded is not None and not (args.graded / "report.json").is_file():
        print(f"no report.json in {args.graded}: grade a class first", file=sys.stderr)
        return 2
    if {"site", "lab"} & set(shots) and not (args.site / "index.html").is_file():
        print(f"no website in {args.site}: run `make book` first (or --only class-report)",
              file=sys.stderr)
        return 2
    if find_chromium() is None:
        print("no Chromium found: on Debian or Ubuntu, apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        if "site" in shots:
            shoot_site(browser, args.site, args.out)
        if "lab" in shots:
            shoot_lab(browser, args.out)
        if "class-report" in shots:
            shoot_class_report(browser, args.out, args.graded)
    for shot in shots:
        for name in SHOTS[shot]:
            print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
