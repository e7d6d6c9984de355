"""JupyterLab in a real browser: a student validates an exercise, a reader moves a slider.

JupyterLab starts on 127.0.0.1 with a token, configured as `make lab` configures it, on a
scratch copy (the repository's notebooks are never opened, let alone saved). A student who
has done every task but one pastes the last answer into its cell, runs all the cells, and
presses nbgrader's Validate button: it must say that the notebook passes. nbgrader's
assignment list opens without an error. A demo page (MyST Markdown, opened as a notebook
through jupytext, as book pages are) runs its `explore(...)` call: moving the slider redraws
the image in the kernel. These check that the pinned JupyterLab, nbgrader and ipywidgets
work together in a browser, which `jupyter labextension list` alone cannot tell.
"""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest
from browser import PANEL, offline_context, open_notebook, run_all, running_lab
from nbtools import ROOT, fill_in, read, solution_sources

CHAPTER = "01_activations"
PASTED = "sigmoid"  # the solution cell the student fills in the browser
COURSE = "descent"
RELEASED = "02_initialization"  # in the nbgrader exchange, for the assignment list to fetch

DEMO_PAGE = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A demo, live

```{code-cell} ipython3
import numpy as np

from descent.plots import figure
from descent.widgets import explore


def waves(frequency):
    fig, ax = figure()
    z = np.linspace(0, 2 * np.pi, 200)
    ax.plot(z, np.sin(frequency * z))
    ax.set_title(f"frequency {frequency}")
    return fig


explore(waves, slider=("frequency", [1, 2, 3, 4]))
```
"""

@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """A running JupyterLab on a scratch folder: the chapter's release notebook with every
    task answered but one, and the demo page. Yields ``(context, traffic, url_of)``."""
    root = tmp_path_factory.mktemp("lab-root")
    scratch = tmp_path_factory.mktemp("lab-scratch")
    release = read(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb")
    answers = solution_sources(read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"))
    assert PASTED in answers
    (root / CHAPTER).mkdir()
    nbformat.write(
        fill_in(release, {k: v for k, v in answers.items() if k != PASTED}),
        root / CHAPTER / f"{CHAPTER}.ipynb",
    )
    (root / "demo.md").write_text(DEMO_PAGE)
    # An nbgrader exchange where the instructor has released a second chapter.
    exchange = scratch / "exchange"
    outbound = exchange / COURSE / "outbound" / RELEASED
    outbound.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / RELEASED / f"{RELEASED}.ipynb", outbound)
    (scratch / "config").mkdir()
    (scratch / "config" / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.course_id = {COURSE!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
    )
    with running_lab(root, scratch) as (base_url, token):
        context, traffic = offline_context(browser, viewport={"width": 1400, "height": 900})
        yield root, context, traffic, lambda path: (
            f"{base_url}lab{'/tree/' + path if path else ''}?reset&token={token}")
        context.close()


def _save(tab, path):
    """File > Save (Ctrl+S); returns the notebook as saved, after checking every code cell ran
    without an error."""
    before = path.stat().st_mtime_ns
    tab.keyboard.press("Control+s")
    tab.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
    assert path.stat().st_mtime_ns != before, f"{path.name} was not saved"
    notebook = read(path)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, f"{path.name}: a cell failed: {errors[0].ename}: {errors[0].evalue}"
            assert cell.execution_count, f"{path.name}: a cell did not run:\n{cell.source[:200]}"
    return notebook


def test_validate_passes_after_pasting_the_last_answer(lab):
    root, context, traffic, url_of = lab
    answer = solution_sources(read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"))[PASTED]
    tab = open_notebook(context, url_of(f"{CHAPTER}/{CHAPTER}.ipynb"))

    stub = tab.locator(f"{PANEL} .jp-CodeCell", has_text="NotImplementedError")
    stub.first.wait_for(timeout=30_000)
    assert stub.count() == 1, "the scratch notebook should have exactly one task left"
    stub.locator(".cm-content").click()
    tab.keyboard.press("Control+a")
    tab.keyboard.insert_text(answer)  # what a paste does: the text arrives as one input
    tab.keyboard.press("Escape")
    assert tab.locator(f"{PANEL} .jp-CodeCell", has_text="NotImplementedError").count() == 0

    run_all(tab)
    saved = _save(tab, root / CHAPTER / f"{CHAPTER}.ipynb")
    pasted = [c for c in saved.cells if c.get("metadata", {}).get("nbgrader", {}).get(
        "grade_id") == PASTED]
    assert pasted[0].source == answer, "the pasted answer is not what the cell holds"

    tab.locator(f"{PANEL} .validate-button").click()
    dialog = tab.locator(".jp-Dialog")
    dialog.wait_for(timeout=180_000)
    # The dialog first says "Validating..."; then the verdict replaces it.
    verdict = dialog.locator(".validation-success, .validation-failed, .validation-error")
    verdict.first.wait_for(timeout=180_000)
    assert "Success! Your notebook passes all the tests." in dialog.inner_text(), (
        dialog.inner_text()[:2000])
    dialog.locator("button", has_text="OK").click()
    assert not traffic.problems(), "\n".join(traffic.problems())
    tab.close()


def test_assignment_list_fetches_a_released_assignment(lab):
    """nbgrader's student extension: the Assignment List shows what the instructor released,
    and Fetch brings it into the student's folder."""
    root, context, traffic, url_of = lab
    tab = context.new_page()
    tab.goto(url_of(""))
    tab.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    tab.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    released = tab.locator("#released_assignments_list .list_item", has_text=RELEASED)
    released.first.wait_for(timeout=60_000)
    released.first.locator("button", has_text="Fetch").click()
    fetched = tab.locator("#fetched_assignments_list .list_item", has_text=RELEASED)
    fetched.first.wait_for(timeout=60_000)
    assert (root / RELEASED / f"{RELEASED}.ipynb").is_file(), "Fetch wrote no notebook"
    assert not traffic.problems(), "\n".join(traffic.problems())
    tab.close()


def test_demo_slider_redraws_the_image(lab):
    """A book-style MyST page opens as a notebook; its explore() is a live ipywidget."""
    _, context, traffic, url_of = lab
    tab = open_notebook(context, url_of("demo.md"))
    run_all(tab)
    image = tab.locator(f"{PANEL} .jp-OutputArea-output img").first
    image.wait_for(timeout=60_000)
    before = image.get_attribute("src")
    handle = tab.locator(f"{PANEL} .widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    tab.wait_for_function(
        f"before => {{ const im = document.querySelector('{PANEL} .jp-OutputArea-output img');"
        " return im && im.getAttribute('src') !== before; }",
        arg=before, timeout=60_000,
    )
    readout = tab.locator(f"{PANEL} .widget-readout").first.inner_text()
    assert readout.strip() == "2", f"the slider should read 2 after one step, reads {readout!r}"
    assert not traffic.problems(), "\n".join(traffic.problems())
    tab.close()

