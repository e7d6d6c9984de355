"""The judge: a trusted process of its own for each student's notebook.

Test cells run in the judge, in the instructor's version; they may patch modules
(``np.linalg.solve = None``), set globals or define helpers. Each notebook of
each student gets a fresh judge, forked from a server that has already imported
what the assignment's cells import (multiprocessing's ``forkserver``: started
clean, before the grader's threads exist), so that nothing a test does survives
into another student's grading and the grading order never changes a score.

The judge starts the student's sandboxed worker itself and never runs student
code: it sends requests and gets data back (:mod:`autograder.engine`). What it
returns to the grader is the verdict, a JSON-ready dict.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from pathlib import Path

#: What every judge needs; the assignment's own imports are added (see :func:`preload`).
BASE_PRELOAD = ["numpy", "IPython.core.interactiveshell", "autograder.engine"]
_context = None


class JudgeFailed(Exception):
    """The judge itself failed (a bug or a broken assignment), not the student's code."""


def preload(modules: list[str], start: bool = False) -> None:
    """Set what the fork server imports once; before the first judge starts. ``start``: start
    the server now, so that its imports (a second or two) go on while the grader prepares."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([*BASE_PRELOAD, *modules])
    if start:
        from multiprocessing import forkserver

        forkserver.ensure_running()


def judge(task: dict, timeout: float) -> dict:
    """Grade one notebook in a new judge process; its verdict.

    ``task``: cells (the submitted notebook's), reference, pushable, notebook,
    limits, slot, sandboxed, files (folder for the worker), log (path), cwd; zygote: the
    address of the slot's zygote (:mod:`autograder.warm`), if it has one."""
    preload([])
    receive, send = _context.Pipe(duplex=False)
    process = _context.Process(target=_main, args=(task, send), name="judge")
    process.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise JudgeFailed(f"the judge did not finish within {timeout:g} s")
        answer = receive.recv()
    except EOFError:
        raise JudgeFailed(f"the judge process ended without a verdict "
                          f"(exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receive.close()
    if "error" in answer:
        raise JudgeFailed(answer["error"])
    return answer["verdict"]


def _main(task: dict, send) -> None:
    from autograder import warm
    from autograder.engine import grade_notebook
    from autograder.sandbox import Worker

    try:
        os.chdir(task["cwd"])  # the instructor's files: what tests read from disk
        with open(task["log"], "ab") as log:
            files = Path(task["files"]) if task.get("files") else None
            if task.get("zygote") and warm.shows_nothing(files):
                def make_worker():
                    return warm.ForkedWorker(task["zygote"], task["slot"], task["limits"], log,
                                             files)
            else:
                def make_worker():
                    return Worker(task["slot"], task["limits"], task["sandboxed"], log, files)
            verdict = grade_notebook(task["cells"], task["reference"], make_worker,
                                     task["limits"], set(task["pushable"]), task["notebook"],
                                     task.get("forbidden", []))
        send.send({"verdict": verdict})
    except BaseException:  # noqa: BLE001 - reported to the grader, which marks the student
        send.send({"error": traceback.format_exc()[-3000:]})
    finally:
        send.close()
