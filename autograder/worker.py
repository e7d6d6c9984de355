"""The sandboxed side of grading: runs one student's code, answers the grader's calls.

Started by :mod:`autograder.sandbox` inside bubblewrap, as an unprivileged user,
with no network and nothing of the course on disk but the Python runtime and the
``descent`` library. It never sees a test: the grader sends it the student's code
cells one at a time, then asks it to call the student's functions with inputs
(plain data) and sends back what they return (plain data, see :mod:`wire`).
Pass or fail is decided on the grader's side. Whatever the student's code does
in here (patch NumPy, patch IPython, patch this very module) changes only what
its own functions return.

Protocol: length-prefixed JSON messages on the grader's pipes, which the worker
moves off file descriptors 0 and 1 before any student code runs, so printing
cannot garble them. Requests and replies:

    {"op": "exec", "source": ...}          -> {"op": "done", "stdout", "error"}
    {"op": "names"}                        -> {"op": "names", "names": {name: kind}}
    {"op": "get", "name": ...}             -> {"op": "value", "value"}
    {"op": "call", "name", "args", "kwargs"}
        -> {"op": "returned", "value", "args", "kwargs"}   (arguments as left after the call)
         | {"op": "raised", "ename", "evalue"}
        meanwhile the worker may ask {"op": "callback", "id", "args", "kwargs"}
        and the grader answers {"op": "callback_result", "value"} or
        {"op": "callback_error", "message"}.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import io
import os
import sys
import types

import wire  # beside this file, in the sandbox and out of it

#: Characters of a cell's printed output kept for the feedback.
OUTPUT_LIMIT = 20_000


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        room = self.limit - self.size
        self.parts.append(text[:max(room, 0)])
        self.size += min(len(text), max(room, 0))
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def text(self) -> str:
        tail = f"\n… {self.dropped} more characters not kept\n" if self.dropped else ""
        return "".join(self.parts) + tail


class Channel:
    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd
        self.owner = os.getpid()

    def _owned(self) -> None:
        """A process the student's code forked must not answer for the worker: it leaves."""
        if os.getpid() != self.owner:
            os._exit(0)

    def send(self, message: dict) -> None:
        self._owned()
        data = wire.pack(message)
        while data:
            data = data[os.write(self.write_fd, data):]

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = os.read(self.read_fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> dict:
        self._owned()
        return wire.unpack(self._read(wire.body_size(self._read(wire.header_size()))))


class _ChecksOnTheGradersSide(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``descent.checks`` is not in the sandbox: importing it gives inert stand-ins.

    The setup cell imports the checks for the test cells, which run on the
    grader's side; here the import only has to succeed (and not load PyTorch).
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "descent.checks" or fullname.startswith("descent.checks."):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)

        def stand_in(name):
            if name.startswith("__"):
                raise AttributeError(name)
            if not name.startswith("check"):  # a submodule: descent.checks.activations
                return importlib.import_module(f"{spec.name}.{name}")

            def check(*args, **kwargs):
                raise RuntimeError(f"{name} runs on the grader's side, not in the sandbox")
            return check

        module.__getattr__ = stand_in
        return module

    def exec_module(self, module) -> None:
        pass


def _drop_privileges() -> None:
    """As root (bubblewrap started by root), become the unprivileged user given."""
    uid = os.environ.pop("DESCENT_SANDBOX_UID", None)
    if os.getuid() == 0 and uid:
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))
    if os.getuid() == 0 and uid:
        sys.exit("worker: could not drop root privileges")


def _make_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.autoindent = False

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # %matplotlib inline: no GUI here, figures unused
            pass

    return Shell.instance(config=config)


def _text(value, limit: int = 2000) -> str:
    try:
        return str(value)[:limit]
    except Exception:  # noqa: BLE001 - a student's exception may not even print
        return f"<unprintable {type(value).__name__}>"


def _error(error: BaseException) -> dict:
    return {"ename": type(error).__name__[:100], "evalue": _text(error)}


def _as_tensor(array):
    import torch

    return torch.from_numpy(array)


class Worker:
    def __init__(self, channel: Channel):
        self.channel = channel
        self.shell = _make_shell()
        self.builtin_names = set(self.shell.user_ns)

    def capture(self):
        out = CappedText()
        sys.stdout = sys.stderr = out
        return out

    def release(self) -> None:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__

    def op_exec(self, message: dict) -> dict:
        out = self.capture()
        try:
            result = self.shell.run_cell(str(message.get("source", "")), store_history=False)
            error = result.error_before_exec or result.error_in_exec
        except BaseException as raised:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, ...
            error = raised
        finally:
            self.release()
        return {"op": "done", "stdout": out.text(), "error": _error(error) if error else None}

    def op_names(self, message: dict) -> dict:
        names = {}
        for name, value in list(self.shell.user_ns.items()):
            if name.startswith("_") or name in self.builtin_names:
                continue
            if isinstance(value, types.ModuleType):
                names[name] = "module"
                continue
            try:
                names[name] = "callable" if callable(value) else "data"
            except Exception:  # noqa: BLE001 - a student's object may refuse even this
                names[name] = "data"
        return {"op": "names", "names": names}

    def op_get(self, message: dict) -> dict:
        return {"op": "value", "value": self._encoded(self.shell.user_ns.get(message["name"]))}

    def _encoded(self, value):
        try:
            return wire.encode(value)
        except BaseException as error:  # noqa: BLE001 - e.g. a student's __array__ raising
            return {"$unsupported": f"value that could not be read ({type(error).__name__})"}

    def _callback(self, index: int):
        def callback(*args, **kwargs):
            self.channel.send({"op": "callback", "id": index,
                               "args": self._encoded(list(args)),
                               "kwargs": self._encoded(kwargs)})
            reply = self.channel.receive()
            if reply.get("op") != "callback_result":
                raise RuntimeError(_text(reply.get("message", "the grader's function failed")))
            return wire.decode(reply.get("value"), make_tensor=_as_tensor)
        return callback

    def op_call(self, message: dict) -> dict:
        function = self.shell.user_ns.get(message["name"])
        if function is None:
            return {"op": "raised", "ename": "NameError",
                    "evalue": f"name {message['name']!r} is not defined"}
        args = wire.decode(message.get("args", []), self._callback, _as_tensor)
        kwargs = wire.decode(message.get("kwargs", {"$dict": {}}), self._callback, _as_tensor)
        self.capture()
        try:
            value = function(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - whatever the student's code raises
            return {"op": "raised", **_error(error)}
        finally:
            self.release()
        return {"op": "returned", "value": self._encoded(value),
                "args": self._encoded(args), "kwargs": self._encoded(kwargs)}

    def serve(self) -> None:
        self.channel.send({"op": "ready"})
        handlers = {"exec": self.op_exec, "names": self.op_names,
                    "get": self.op_get, "call": self.op_call}
        while True:
            try:
                message = self.channel.receive()
            except EOFError:
                return
            handler = handlers.get(message.get("op"))
            reply = handler(message) if handler else {"op": "error", "message": "unknown op"}
            try:
                self.channel.send(reply)
            except wire.WireError as error:
                self.channel.send({"op": "raised", "ename": "ResultTooLarge",
                                   "evalue": _text(error)})


def main() -> None:
    _drop_privileges()
    # The grader's pipes move to new descriptors; 0, 1 and 2 go nowhere, so that
    # nothing the student's code prints or writes can interleave with a message.
    channel = Channel(os.dup(0), os.dup(1))
    sys.meta_path.insert(0, _ChecksOnTheGradersSide())
    worker = Worker(channel)  # start-up errors still reach the grader's log on stderr
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    worker.serve()


if __name__ == "__main__":
    main()
