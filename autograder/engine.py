"""Grade one student's notebook in the judge: their code in the worker, the tests here.

Runs inside a judge process (:mod:`autograder.judge`) that belongs to this one
notebook of this one student. The plan follows the submitted notebook's order,
as a kernel would run it:

* a **test cell** (``grade`` and not ``solution``) runs *here*, in the
  instructor's version (hidden tests and instantiated AUTOTESTs included), in an
  IPython shell whose namespace the student's names are mirrored into
  (:mod:`autograder.mirror`): their functions are handles that call into the
  worker and return plain data, so every comparison happens in this process,
  which never runs student code;
* a **locked cell** of the instructor's (setup) runs here and in the worker, in
  the instructor's version whatever the student's copy says. If it fails here
  (it called the student's function, which raised) only this student is
  affected, and the message names the cell and the notebook;
* **every other code cell** (answers, cells the student added) runs in the worker
  as the student wrote it.

A cell is recognised by its nbgrader ``grade_id`` whatever the student did to it
(a test cell turned into markdown is still run). A cell or call that hangs or
kills the worker costs only itself (:class:`~autograder.session.Session`).

Chapter contract: a setup cell can tell the two sides apart by ``__name__ ==
"__grader__"`` here (chapter 09 defines its probes, which build the student's
model, only beside the student's code, so the tests reach them through handles).
"""

from __future__ import annotations

import sys
import time

from autograder.cells import CellDeadline, Outputs, capturing, parse, run_cell
from autograder.mirror import Mirror
from autograder.nbcells import grade_id, is_locked_code, is_test, source_of
from autograder.sandbox import Limits
from autograder.session import OutOfTime, Session
from autograder.worker import make_shell


def plan(submitted_cells: list, reference: dict[str, dict]) -> list[tuple[str, str, str | None]]:
    """(kind, code, grade_id) steps: kind is "test" (here), "locked" (both), "student".

    ``reference``: grade_id -> {"kind": "test" | "locked", "source": instructor's code}."""
    steps, seen = [], set()
    for cell in submitted_cells:
        cell_id = grade_id(cell)
        original = reference.get(cell_id) if cell_id not in seen else None
        seen.add(cell_id)
        if original is not None:
            steps.append((original["kind"], original["source"], cell_id))
        elif cell.get("cell_type") == "code":
            steps.append(("student", source_of(cell), cell_id))
    return steps


def reference_cells(notebook) -> dict[str, dict]:
    """The instructor's test and locked code cells of a source notebook, by grade_id."""
    cells = {}
    for cell in notebook.cells:
        if grade_id(cell) and (is_test(cell) or is_locked_code(cell)):
            cells[grade_id(cell)] = {"kind": "test" if is_test(cell) else "locked",
                                     "source": source_of(cell)}
    return cells


def instructor_names(notebook) -> set[str]:
    """The globals the instructor's own non-test code reads: the names a test may hand to the
    student's code (a global the model answer reads, data a later cell uses) — not the local
    variables of the model answer's functions, which a test's variables may share names with."""
    from autograder.mirror import global_reads

    return set().union(*[global_reads(_python(source_of(cell))) for cell in notebook.cells
                         if cell.get("cell_type") == "code" and not is_test(cell)])


def _names(source: str) -> set[str]:
    from autograder.mirror import names_in

    return names_in(_python(source))


def _python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - not even IPython can read it: no names from it
        return ""


def grade_notebook(submitted_cells: list, reference: dict[str, dict], make_worker,
                   limits: Limits, pushable: set[str], notebook: str = "",
                   forbidden: list[str] = ()) -> dict:
    """Run one submitted notebook against the instructor's cells; a JSON-ready verdict.

    ``forbidden``: the APIs the assignment forbids (:mod:`autograder.rules`); the verdict
    lists each use seen in the student's cells ("static") or tried by their code ("run
    time")."""
    started = time.monotonic()
    shell = make_shell()
    shell.user_ns["__name__"] = "__grader__"
    session = Session(make_worker, limits, deadline=started + limits.submission_seconds)
    steps = plan(submitted_cells, reference)
    student_reads = set().union(*[_names(code) for kind, code, _ in steps if kind == "student"])
    mirror = Mirror(session, shell.user_ns, pushable, student_reads)
    cells: dict[str, dict] = {}
    problems: list[str] = []
    uses = _static_uses(steps, list(forbidden))
    out_of_time = False
    try:
        if forbidden:
            session.request({"op": "forbid", "apis": list(forbidden)}, runs_code=False)
        for kind, code, cell_id in steps:
            tried = len(session.forbidden_used)
            outputs = session.sink = Outputs()
            if out_of_time:
                if kind != "test":
                    continue
                outputs.error("OutOfTime", "not run: this submission's time limit "
                              f"({limits.submission_seconds:g} s) ran out")
            else:
                try:
                    _run_step(kind, code, cell_id, session, mirror, shell, outputs, problems,
                              notebook)
                except (OutOfTime, CellDeadline):
                    out_of_time = True
                    session.close()
                    if kind == "test":
                        outputs.items = [item for item in outputs.items
                                         if item["output_type"] != "error"]
                        outputs.error("OutOfTime", "this submission's time limit "
                                      f"({limits.submission_seconds:g} s) ran out here")
            if cell_id:
                cells[cell_id] = {"kind": kind, "outputs": outputs.items,
                                  "error": outputs.first_error()}
            for api in dict.fromkeys(session.forbidden_used[tried:]):
                uses.append({"api": api, "cell": cell_id or "", "how": "run time",
                             "during": "test" if kind == "test" else "cell"})
    finally:
        session.sink = None
        session.close()
    return {"cells": cells, "out_of_time": out_of_time, "worker_starts": session.starts,
            "problems": problems, "forbidden": uses,
            "seconds": round(time.monotonic() - started, 3)}


def _static_uses(steps, forbidden: list[str]) -> list[dict]:
    """The forbidden APIs the student's cells name (imports of every earlier cell count)."""
    from autograder.rules import static_uses

    if not forbidden:
        return []
    uses, aliases = [], {}
    for kind, code, cell_id in steps:
        for api in static_uses(_python(code), forbidden, aliases):
            if kind == "student":
                uses.append({"api": api, "cell": cell_id or "", "how": "static"})
    return uses


def _run_step(kind, code, cell_id, session, mirror, shell, outputs, problems, notebook):
    label = f"cell {cell_id!r} of {notebook}" if cell_id else f"a cell of {notebook}"
    if kind == "student":
        with capturing(outputs):  # the student's warnings, shown here
            error = session.run_cell(code)
        if error:
            outputs.error(str(error.get("ename")), str(error.get("evalue")))
        return
    try:
        tree, syntax_error = parse(shell, code, f"<{cell_id}>"), None
    except SyntaxError as error:
        tree, syntax_error = None, error
    try:
        if tree is not None:
            mirror.prepare(code, tree)
        if kind == "locked":
            mirror.sync()
    except (OutOfTime, CellDeadline):
        raise
    except Exception as error:  # noqa: BLE001 - the student's names could not be read
        outputs.error(type(error).__name__, f"preparing this cell: {error}"[:2000])
        if kind == "locked":
            problems.append(f"the instructor's locked {label} could not run: {error}"[:400])
        return
    try:
        if tree is None:
            outputs.error("SyntaxError", str(syntax_error))
            error = syntax_error
        else:
            error = run_cell(shell, tree, outputs, session.deadline, label=f"<{cell_id}>")
    finally:
        if kind == "test":
            _close_figures(session)
    if kind == "test":
        return
    mirror.accept_both()
    if error is not None:
        problems.append(f"the instructor's locked {label} failed for this submission "
                        f"({type(error).__name__}: {str(error)[:300]})")
    worker_outputs = Outputs()
    session.sink = worker_outputs
    try:
        failed = session.run_cell(code)
    finally:
        session.sink = outputs
    if failed and error is None:
        problems.append(f"the instructor's locked {label} failed beside the student's code "
                        f"({failed.get('ename')}: {str(failed.get('evalue'))[:300]})")


def _close_figures(session: Session) -> None:
    """A cell ended: as in a kernel (inline backend), its figures are closed."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    if session.worker is not None:
        session.close_figures()
