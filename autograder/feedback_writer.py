"""Each recorded student's feedback pages, written beside the recording, in a process of its own.

nbgrader's feedback (an HTML export of the autograded notebook, then :mod:`feedback`'s "What
to revisit" box) is more than half of a student's recording, and it only reads the gradebook:
it need not wait in the single line of the gradebook's writer. :class:`FeedbackWriter` hands
it to a pool of processes (each with its own nbgrader, imported once) as soon as a student's
scores are in, so that the recorder goes on to the next student and both cores are used.
A page that cannot be written costs the page, never the grade.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from autograder import course, feedback
from autograder.lazy_imports import defer_iri_grammar

_writer: dict = {}  # in a pool's process: its nbgrader course, where pages go, the site


def write_pages(nbgrader: course.Course, student_id: str, tests: dict[str, dict], out: Path,
                site_url: str | None = None) -> list[str]:
    """nbgrader's feedback for one recorded student, each page with the box of what to revisit
    (``tests``: their per-test results); notes for their result when something is missing."""
    if not nbgrader.feedback(student_id, out):
        return ["no feedback generated"]
    pages = out / "feedback"
    single = pages / f"{student_id}.html"
    each = sorted((pages / student_id).glob("*.html"))  # one page per notebook
    notes = []
    for page in [single] if single.is_file() else each:
        shown = {test_id: test for test_id, test in tests.items()
                 if page == single or test.get("notebook") == page.stem}
        try:
            feedback.annotate(page, shown, site_url)
        except Exception as error:  # noqa: BLE001 - the grade stands; the page stays nbgrader's
            notes.append(f"feedback without 'What to revisit' ({type(error).__name__}: "
                         f"{error})"[:300])
    return notes


def _start(work: str, assignment: str, out: str, site_url: str | None) -> None:
    _die_with_the_grader()
    defer_iri_grammar()  # this process imports nbgrader (so jsonschema) afresh
    _writer.update(course=course.Course(Path(work), assignment), out=Path(out),
                   site_url=site_url)


def _die_with_the_grader() -> None:
    """Linux: be killed when the thread that started this process (the grader's main
    thread) ends, however it ends (a pool's process otherwise outlives a killed grader)."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _ready() -> None:
    """Nothing: submitted first, so that the pool's processes import nbgrader meanwhile."""


def _write(student_id: str, tests: dict[str, dict]) -> tuple[list[str], float]:
    began = time.monotonic()
    notes = write_pages(_writer["course"], student_id, tests, _writer["out"],
                        _writer["site_url"])
    return notes, time.monotonic() - began


class FeedbackWriter:
    """A pool of ``processes`` writing the pages of the students :meth:`submit`'d."""

    def __init__(self, work: Path, assignment: str, out: Path, site_url: str | None = None,
                 processes: int = 1):
        # spawn: a fresh interpreter, whose imports go on while the grader prepares (a fork
        # would copy the grader's threads mid-flight; the judges' fork server may be busy).
        self.pool = ProcessPoolExecutor(
            max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(str(work), assignment, str(out), site_url))
        self.pending: dict[str, Future] = {}
        for _ in range(processes):  # all started now, from this (the main) thread
            self.pool.submit(_ready)

    def submit(self, student_id: str, tests: dict[str, dict]) -> None:
        self.pending[student_id] = self.pool.submit(_write, student_id, tests)

    def finish(self) -> dict[str, tuple[list[str], float]]:
        """Wait for every page: student -> (notes for their result, seconds it took)."""
        done = {}
        for student_id, future in self.pending.items():
            try:
                done[student_id] = future.result()
            except Exception as error:  # noqa: BLE001 - the pool broke: the grades stand
                done[student_id] = ([f"no feedback generated ({type(error).__name__}: "
                                     f"{error})"[:300]], 0.0)
        self.pool.shutdown()
        return done

    def stop(self) -> None:
        """Stop at once (Ctrl-C): pages not written yet are not."""
        processes = list((self.pool._processes or {}).values())  # (no public way in 3.11)
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
