"""Grade one student's notebook: their code in a sandboxed worker, the tests here.

The plan follows the submitted notebook's order, as a kernel would run it:

* a locked cell of the assignment (the setup cell) runs in the worker in the
  instructor's version, whatever the student's copy says;
* every other code cell of the student's (answers, and cells they added) runs
  in the worker as they wrote it;
* a test cell runs *here*, in the instructor's version (hidden tests included),
  with each name it uses that the student's code defines bound to a
  :class:`RemoteFunction`: calling it sends plain data to the worker and returns
  the plain data the student's function gave back. The checks of
  ``descent.checks`` then decide, in this process, which never runs student code.

A cell or call that hangs or kills the worker costs only itself: the worker is
started again, the cells that ran well are replayed, and grading goes on.
"""

from __future__ import annotations

import ast
import builtins
import time
from dataclasses import dataclass, field

import numpy as np

from autograder import wire
from autograder.sandbox import Limits, Worker, WorkerDied, WorkerTimeout


class StudentError(Exception):
    """The student's function raised; shown as their exception would be."""

    def __init__(self, name: str, ename: str, evalue: str):
        super().__init__(f"{name} raised {ename}: {evalue}")
        self.ename = ename


class CallFailed(Exception):
    """A call never returned (time limit) or took the worker down with it."""


class OutOfTime(Exception):
    """The submission's whole time budget is spent."""


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


@dataclass
class Session:
    """One student's worker, restarted (and replayed) whenever a cell or call kills it."""

    make_worker: callable
    limits: Limits
    deadline: float
    good_cells: list[str] = field(default_factory=list)
    worker: Worker | None = None
    starts: int = 0

    def _time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime
        return left

    def _deadline(self) -> float:
        """When the next request must be answered: the call limit, within the budget."""
        return time.monotonic() + min(self.limits.call_seconds, self._time_left())

    def _request(self, message: dict, callbacks: list | None = None) -> dict:
        if self.worker is None or not self.worker.alive:
            self._restart()
        try:
            return self.worker.request(message, self._deadline(), callbacks)
        except (WorkerTimeout, WorkerDied):
            self.close()
            raise

    def _restart(self) -> None:
        """A new worker, the cells that ran well run again (one that now fails is dropped)."""
        while True:
            self.close()
            self._time_left()
            self.worker = self.make_worker()
            self.worker.start()
            self.starts += 1
            for index, source in enumerate(self.good_cells):
                try:
                    self.worker.request({"op": "exec", "source": source}, self._deadline())
                except (WorkerTimeout, WorkerDied):
                    del self.good_cells[index]
                    break
            else:
                return

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def run_cell(self, source: str) -> dict:
        """Run one cell; return its printed output and error, as data for the feedback."""
        try:
            reply = self._request({"op": "exec", "source": source})
        except WorkerTimeout:
            return {"stdout": "", "error": {
                "ename": "CellTimeout",
                "evalue": f"this cell did not finish within {self.limits.call_seconds:g} s; "
                          "the grader skipped it (is there an endless loop?)"}}
        except WorkerDied as error:
            return {"stdout": "", "error": {
                "ename": "WorkerDied", "evalue": f"{error}; the grader skipped this cell"}}
        self.good_cells.append(source)
        error = reply.get("error")
        return {"stdout": str(reply.get("stdout", ""))[:100_000],
                "error": error if isinstance(error, dict) else None}

    def names(self) -> dict[str, str]:
        reply = self._request({"op": "names"})
        names = reply.get("names")
        return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}

    def value(self, name: str):
        return wire.decode(self._request({"op": "get", "name": name}).get("value"))

    def call(self, name: str, args: tuple, kwargs: dict):
        callbacks: list = []
        message = {"op": "call", "name": name, "args": wire.encode(list(args), callbacks),
                   "kwargs": wire.encode(kwargs, callbacks)}
        try:
            reply = self._request(message, callbacks)
        except WorkerTimeout:
            raise CallFailed(f"{name} did not return within {self.limits.call_seconds:g} s "
                             "(an endless loop, or far too slow?)") from None
        except WorkerDied as error:
            raise CallFailed(f"calling {name}: {error}") from None
        if reply.get("op") == "raised":
            raise StudentError(name, str(reply.get("ename")), str(reply.get("evalue")))
        try:
            _write_back(list(args), wire.decode(reply.get("args")))
            _write_back(kwargs, wire.decode(reply.get("kwargs")))
            return wire.decode(reply.get("value"))
        except wire.WireError as error:
            raise CallFailed(f"{name} returned something that is not data ({error})") from None


def _write_back(original, after) -> None:
    """Mirror what the student's function did to its arguments, so checks can see it."""
    if isinstance(original, np.ndarray) and isinstance(after, np.ndarray):
        if original.shape == after.shape and original.flags.writeable:
            np.copyto(original, after, casting="unsafe")
    elif isinstance(original, list) and isinstance(after, list):
        if len(original) != len(after):
            original[:] = after
            return
        for index, (old, new) in enumerate(zip(original, after, strict=True)):
            same_array = (isinstance(old, np.ndarray) and isinstance(new, np.ndarray)
                          and old.shape == new.shape)
            if same_array or isinstance(old, (list, dict)):
                _write_back(old, new)
            elif type(old) is not type(new) or not isinstance(old, (int, float, str)):
                original[index] = new
    elif isinstance(original, dict) and isinstance(after, dict):
        for key in original.keys() & after.keys():
            _write_back(original[key], after[key])
    elif hasattr(original, "detach") and isinstance(after, np.ndarray):  # a torch tensor
        import torch

        if tuple(original.shape) == after.shape:
            with torch.no_grad():
                original.copy_(torch.as_tensor(after))


class RemoteFunction:
    """Stands, in a test cell, for a function the student's code defines."""

    def __init__(self, session: Session, name: str):
        self._session, self.__name__ = session, name

    def __call__(self, *args, **kwargs):
        return self._session.call(self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<student's function {self.__name__}>"


def _free_names(source: str) -> set[str]:
    tree = ast.parse(source)
    return {node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _failure(ename: str, evalue: str) -> tuple[bool, dict]:
    return False, {"ename": ename, "evalue": evalue}


def _run_test(source: str, trusted: dict, session: Session) -> tuple[bool, dict | None]:
    """Run one test cell here; (passed, error shown to the student or None)."""
    namespace = dict(trusted)
    wanted = _free_names(source) - set(namespace) - set(dir(builtins))
    try:
        if wanted:
            defined = session.names()
            for name in wanted & set(defined):
                kind = defined[name]
                if kind == "callable":
                    namespace[name] = RemoteFunction(session, name)
                elif kind == "data":
                    namespace[name] = session.value(name)
        exec(compile(source, "<test>", "exec"), namespace)  # the instructor's code
    except OutOfTime:
        raise
    except AssertionError as error:
        return _failure("AssertionError", str(error))
    except StudentError as error:
        return _failure(error.ename, str(error))
    except CallFailed as error:
        return _failure("CallFailed", str(error))
    except NameError as error:
        return _failure("NameError", f"{error} — your notebook does not define it: was its "
                                     "cell deleted or renamed, or did it raise an error?")
    except (WorkerTimeout, WorkerDied) as error:
        return _failure("SandboxError", f"the sandbox failed while preparing this test: {error}")
    except Exception as error:  # noqa: BLE001 - a check rejecting what came back
        return _failure(type(error).__name__, str(error))
    return True, None


def plan(submitted, source) -> list[tuple[str, str, str | None]]:
    """(kind, code, grade_id) steps: kind is "run" (in the worker) or "test" (here)."""
    reference = {grade_id(cell): cell for cell in source.cells if grade_id(cell)}
    steps, seen = [], set()
    for cell in submitted.cells:
        if cell.get("cell_type") != "code":
            continue
        cell_id = grade_id(cell)
        original = reference.get(cell_id) if cell_id not in seen else None
        seen.add(cell_id)
        if original is not None and is_test(original):
            steps.append(("test", _source(original), cell_id))
        elif original is not None and nbgrader_meta(original).get("locked"):
            steps.append(("run", _source(original), cell_id))
        else:
            steps.append(("run", _source(cell), cell_id if original is not None else None))
    return steps


def trusted_namespace(source) -> dict:
    """What the test cells see besides the student's names: the setup cells, run here.

    A setup cell can tell the two sides apart by ``__name__ == "__grader__"`` (part of the
    chapter contract: chapter 09 defines its probes, which build the student's model, only
    beside the student's code, so the tests reach them through the sandbox)."""
    namespace: dict = {"__name__": "__grader__"}
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and meta.get("locked") and not meta.get("grade"):
            exec(compile(_source(cell), "<setup>", "exec"), namespace)
    return namespace


def grade_notebook(submitted, source, make_worker, limits: Limits, trusted: dict) -> dict:
    """Run one submitted notebook against its source; a JSON-ready verdict."""
    started = time.monotonic()
    session = Session(make_worker, limits, deadline=started + limits.submission_seconds)
    cells: dict[str, dict] = {}
    out_of_time = False
    ran_out = {"ename": "OutOfTime", "evalue": "not run: this submission's time limit "
               f"({limits.submission_seconds:g} s) ran out"}
    try:
        for kind, code, cell_id in plan(submitted, source):
            if out_of_time:
                outcome = {"passed": False, "error": ran_out} if kind == "test" else None
            elif kind == "run":
                try:
                    outcome = session.run_cell(code)
                except OutOfTime:
                    out_of_time, outcome = True, None
            else:
                try:
                    passed, error = _run_test(code, trusted, session)
                except OutOfTime:
                    out_of_time, passed, error = True, False, ran_out
                outcome = {"passed": passed, "error": error}
            if cell_id and outcome is not None:
                cells[cell_id] = {"kind": kind, **outcome}
    finally:
        session.close()
    return {"cells": cells, "out_of_time": out_of_time, "worker_starts": session.starts,
            "seconds": round(time.monotonic() - started, 3)}
