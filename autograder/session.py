"""The judge's line to one student's worker: requests, restarts, callbacks, printed output.

A :class:`Session` owns one sandboxed worker (:mod:`autograder.sandbox`) for one
notebook. Every request has the per-call time limit, within the submission's
budget. A cell or call that hangs or kills the worker costs only itself: the
worker is started again and the requests that built its state (cells that ran
well, the judge's names and module patches) are replayed; handles from before
are lost (:class:`~autograder.remote.HandleLost`).

What the student's code prints while a test cell calls it goes to that cell's
output (``sink``), as in a kernel. What a call leaves behind in the student's
names is reported to ``on_changes`` (the namespace mirror).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from autograder import wire
from autograder.remote import ExceptionClasses, HandleLost, RemoteObject
from autograder.sandbox import STARTUP_SECONDS, Limits, Worker, WorkerDied, WorkerTimeout


class CallFailed(Exception):
    """A call never returned (time limit) or took the worker down with it."""


class OutOfTime(Exception):
    """The submission's whole time budget is spent."""


#: Requests whose success is part of the worker's state (replayed after a restart).
#: Requests that run no student code (the grader's set-up of the worker).
SETUP = {"forbid"}
STATEFUL = {"forbid", "exec", "set", "setref", "del", "patch"}


@dataclass
class Session:
    make_worker: callable
    limits: Limits
    deadline: float
    exceptions: ExceptionClasses = field(default_factory=ExceptionClasses)
    worker: Worker | None = None
    starts: int = 0
    generation: int = 0
    replay: list[dict] = field(default_factory=list)
    callbacks: list = field(default_factory=list)
    sink: object = None  # the current cell's outputs (autograder.cells.Outputs)
    on_changes: callable = None  # (changed, deleted) from the worker
    before_request: callable = None  # the mirror's sync, before student code runs
    on_restart: callable = None
    after_call: callable = None  # the mirror's look at the student's figures
    warning_registry: dict = field(default_factory=dict)
    forbidden_used: list = field(default_factory=list)  # APIs the assignment forbids, tried

    # -- time ----------------------------------------------------------------------------
    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime
        return left

    def _deadline(self, message: dict | None = None) -> float:
        """When the next request must be answered: the call limit, within the budget.
        The grader's own set-up (guarding the forbidden APIs imports the modules they live
        in, torch's among them) runs no student code: it gets a worker's start-up time, not
        a call's, so that a loaded machine cannot turn it into a crashed submission."""
        limit = self.limits.call_seconds
        if message is not None and message.get("op") in SETUP:
            limit = max(limit, STARTUP_SECONDS)
        return time.monotonic() + min(limit, self.time_left())

    # -- the worker ------------------------------------------------------------------------
    def request(self, message: dict, runs_code: bool = True) -> dict:
        if runs_code and self.before_request is not None:
            self.before_request()
        if self.worker is None or not self.worker.alive:
            self._restart()
        try:
            reply = self.worker.request(message, self._deadline(message), self.run_callback)
        except (WorkerTimeout, WorkerDied):
            self.close()
            raise
        if message["op"] in STATEFUL and reply.get("op") == "done":
            self.replay.append(message)
        if self.sink is not None:
            for stream in ("stdout", "stderr"):
                if reply.get(stream):
                    self.sink.stream(stream, str(reply[stream]))
        if type(reply.get("warnings")) is list:
            self._warn(reply["warnings"][:100])
        if type(reply.get("forbidden")) is list:
            self.forbidden_used += [str(api)[:200] for api in reply["forbidden"][:50]]
        if self.on_changes is not None and (reply.get("changed") or reply.get("deleted")):
            changed, deleted = reply.get("changed"), reply.get("deleted")
            self.on_changes(changed if type(changed) is dict else {},
                            deleted if type(deleted) is list else [])
        return reply

    def _warn(self, raised: list) -> None:
        """Show the student's warnings here, through the judge's filters and one registry
        for the notebook (a kernel's ``__warningregistry__``): once per place by default,
        every time under a test's ``simplefilter("always")``, recorded by ``pytest.warns``."""
        for item in raised:
            if type(item) is not dict:
                continue
            category = self.exceptions.from_chain(item.get("mro") or [])
            if not issubclass(category, Warning):
                category = UserWarning
            lineno = item.get("lineno") if type(item.get("lineno")) is int else 0
            warnings.warn_explicit(str(item.get("message", ""))[:2000], category,
                                   str(item.get("filename", "<student>"))[:300], lineno,
                                   module="__main__", registry=self.warning_registry)

    def _restart(self) -> None:
        """A new worker; the requests that ran well run again (one that now fails is dropped)."""
        while True:
            self.close()
            self.time_left()
            self.worker = self.make_worker()
            self.worker.start()
            self.starts += 1
            self.generation += 1
            for index, message in enumerate(self.replay):
                try:
                    self.worker.request(message, self._deadline(message), self.run_callback)
                except (WorkerTimeout, WorkerDied):
                    del self.replay[index]
                    break
            else:
                if self.on_restart is not None and self.starts > 1:
                    self.on_restart()
                return

    def close(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    # -- data ----------------------------------------------------------------------------
    def encode(self, value):
        return wire.encode(value, self.callbacks, handles=_Handles(self))

    def decode(self, data):
        return wire.decode(data, make_handle=self._handle)

    def _handle(self, number: int, type_name: str, is_callable: bool) -> RemoteObject:
        return RemoteObject(self, number, type_name, self.generation)

    def encode_handle(self, value, known_only: bool = False):  # wire's handle table, here
        if isinstance(value, RemoteObject):
            if value._generation != self.generation:
                raise HandleLost(f"the student's {value._type} is gone (the worker restarted)")
            return {"$handle": value._number}
        return None

    def run_callback(self, request: dict) -> dict:
        """Run one of the judge's functions for the student's code, on plain data."""
        index = request.get("id")
        try:
            if type(index) is not int or not 0 <= index < len(self.callbacks):
                raise LookupError("no such function of the grader's")
            args, kwargs = self.decode(request.get("args", [])), self.decode(
                request.get("kwargs", {"$dict": {}}))
            if type(args) is not list or type(kwargs) is not dict:
                raise TypeError("malformed arguments")
            value = self.callbacks[index](*args, **kwargs)
            return {"op": "callback_result", "value": self.encode(value)}
        except Exception as error:  # noqa: BLE001 - reported to the student's code, which called it
            return {"op": "callback_error",
                    "error": {"ename": type(error).__name__, "evalue": str(error)[:2000]}}

    # -- requests ------------------------------------------------------------------------
    def run_cell(self, source: str) -> dict | None:
        """Run one of the student's cells; the error it raised (as data), or None."""
        try:
            reply = self.request({"op": "exec", "source": source})
        except WorkerTimeout:
            return {"ename": "CellTimeout",
                    "evalue": f"this cell did not finish within {self.limits.call_seconds:g} s; "
                              "the grader skipped it (is there an endless loop?)"}
        except WorkerDied as error:
            return {"ename": "WorkerDied", "evalue": f"{error}; the grader skipped this cell"}
        error = reply.get("error")
        return error if type(error) is dict else None

    def _checked(self, reply: dict, what: str):
        if reply.get("op") == "raised":
            raise self.exceptions.rebuild(reply.get("error"))
        try:
            return self.decode(reply.get("value"))
        except wire.WireError as error:
            raise CallFailed(f"{what} gave something that is not data ({error})") from None

    def get(self, name: str):
        """(found, value) of one of the student's names."""
        reply = self.request({"op": "get", "name": name}, runs_code=False)
        if reply.get("op") == "missing":
            return False, None
        return True, self._checked(reply, name)

    def call(self, target: dict, args: tuple, kwargs: dict, owner=None):
        label = (owner._type if owner is not None else target.get("name", "function"))
        if owner is not None:
            self._current(owner)
        message = {"op": "call", "target": target, "args": self.encode(list(args)),
                   "kwargs": self.encode(kwargs)}
        try:
            reply = self.request(message)
        except WorkerTimeout:
            raise CallFailed(f"{label} did not return within {self.limits.call_seconds:g} s "
                             "(an endless loop, or far too slow?)") from None
        except WorkerDied as error:
            raise CallFailed(f"calling {label}: {error}") from None
        value = self._checked(reply, label)
        if self.after_call is not None:
            self.after_call()
        try:
            _write_back(list(args), self.decode(reply.get("args")))
            _write_back(kwargs, self.decode(reply.get("kwargs")))
        except wire.WireError:
            pass
        return value

    def _current(self, handle: RemoteObject) -> None:
        if handle._generation != self.generation:
            raise HandleLost(f"the student's {handle._type} is gone: the worker was restarted "
                             "after an earlier call failed")

    def handle_request(self, handle: RemoteObject, action: str, **fields):
        self._current(handle)
        message = {"op": "handle", "id": handle._number, "action": action}
        for key, value in fields.items():
            message[key] = self.encode(value) if key in ("value", "key", "item") else (
                handle_number(value) if key == "of" else value)
        try:
            reply = self.request(message)
        except WorkerTimeout:
            raise CallFailed(f"the student's {handle._type} did not answer ({action}) within "
                             f"{self.limits.call_seconds:g} s") from None
        except WorkerDied as error:
            raise CallFailed(f"the student's {handle._type} ({action}): {error}") from None
        return self._checked(reply, f"the student's {handle._type}")

    def state(self, message: dict) -> None:
        """A change of the judge's (name, module patch) made in the worker too."""
        try:
            self.request(message, runs_code=False)
        except (WorkerTimeout, WorkerDied):
            pass

    def figures(self) -> list:
        """The student's open pyplot figures, rebuilt here (see autograder/figures.py)."""
        try:
            found = self.decode(self.request({"op": "figures"}, runs_code=False).get("value"))
        except (WorkerTimeout, WorkerDied, wire.WireError):
            return []
        return found if type(found) is list else []

    def close_figures(self) -> None:
        self.state({"op": "close_figures"})


class _Handles:
    """wire's handle table on the judge's side: only handles it was given can go back."""

    def __init__(self, session: Session):
        self.session = session

    def encode(self, value, known_only: bool = False):
        return self.session.encode_handle(value)


def handle_number(value) -> int:
    if not isinstance(value, RemoteObject):
        raise TypeError("isinstance() against the student's class needs the student's object")
    return value._number


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
