"""The sandboxed side of grading: runs one student's code, answers the judge's requests.

Started by :mod:`autograder.sandbox` inside bubblewrap, as an unprivileged user,
with no network and nothing of the course on disk but the Python runtime, the
``descent`` library and the assignment's data files. It never sees a test: the
judge (:mod:`autograder.engine`, a trusted process) sends it the student's code
cells one at a time, asks it to call the student's functions with inputs (plain
data) and sends back what they return (plain data, see :mod:`wire`). Objects of
the student's that are not data stay here, in a table of **handles**; the judge
reads them only through requests whose answers are data again. Pass or fail is
decided on the judge's side. Whatever the student's code does in here (patch
NumPy, patch IPython, patch this very module) changes only what its own
functions return.

Protocol: length-prefixed JSON messages on the judge's pipes, which the worker
moves off file descriptors 0 and 1 before any student code runs, so printing
cannot garble them. Every reply to a request that ran student code carries what
it printed (``stdout``, ``stderr``), the warnings it raised (``warnings``: shown by
the judge) and the names it bound or deleted (``changed``: name -> what kind of
thing, ``deleted``). Requests:

    exec {source}                       -> done {error}          (a cell, via IPython)
    get {name}                          -> value {value} | missing
    call {target, args, kwargs}         -> returned {value, args, kwargs} | raised {error}
        target: {"name": n} or {"handle": id}; meanwhile the worker may ask
        {"op": "callback", "id", "args", "kwargs"} and gets callback_result
        {value} or callback_error {error}
    handle {id, action, ...}            -> value {value} | raised {error}
        action: attr, setattr, len, bool, str, float, int, getitem, contains,
        iter, next, isinstance (of the class behind handle ``of``)
    set {name, value} | del {name}      -> done            (the judge's names)
    setref {name, module, qualname}     -> done            (a test's import, imported here)
    patch {module, attr, value|restore} -> done            (a test's module patch)
    figures                             -> value {value}   (pyplot's open figures)
    close_figures                       -> done            (a cell ended)

An error is ``{"ename", "evalue", "mro": [[module, qualname], ...], "args"}``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import io
import os
import sys
import types
import warnings

from autograder import rules, wire

#: Characters of a cell's printed output kept for the feedback.
OUTPUT_LIMIT = 20_000
#: Objects of the student's the judge may hold handles to at once.
MAX_HANDLES = 200_000
MISSING = object()


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
    judge's side; here the import only has to succeed (and not load PyTorch).
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


def make_shell(user_ns: dict | None = None):
    """An IPython shell that runs cells as a kernel would, minus the GUI and history.

    Shared with the judge (:mod:`autograder.cells`), which runs the test cells in one.
    """
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "NoColor"
    config.InteractiveShell.autoindent = False

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):  # no GUI here
            pass

        def enable_matplotlib(self, gui=None):
            # %matplotlib inline: keep our backend, which (like the inline one) closes
            # the figures a cell shows, without drawing them.
            return "inline", "module://autograder.mpl_backend"

    class Quiet(DisplayPublisher):  # display(...) outputs: not graded, not kept
        def publish(self, *args, **kwargs):
            pass

        def clear_output(self, *args, **kwargs):
            pass

    shell = Shell.instance(config=config, user_ns=user_ns)
    shell.display_pub = Quiet(shell=shell)
    return shell


def _text(value, limit: int = 2000) -> str:
    try:
        return str(value)[:limit]
    except Exception:  # noqa: BLE001 - a student's exception may not even print
        return f"<unprintable {type(value).__name__}>"


def qualified(kind: type) -> list[str]:
    return [_text(getattr(kind, "__module__", "?"), 200), _text(kind.__qualname__, 200)]


def error_data(error: BaseException, encode) -> dict:
    """An exception as data: its class chain (by name) and arguments, never the object."""
    try:
        args = encode(list(error.args)) if len(error.args) <= 8 else None
    except Exception:  # noqa: BLE001 - arguments that are not data are left out
        args = None
    return {"ename": type(error).__name__[:100], "evalue": _text(error),
            "mro": [qualified(kind) for kind in type(error).__mro__[:-1]][:20], "args": args}


def describe(value) -> dict:
    """What kind of thing a name holds, for the judge to decide how to see it."""
    if isinstance(value, types.ModuleType):
        where = getattr(value, "__file__", None)
        if type(where) is str and where.startswith(os.getcwd() + os.sep):
            return {"kind": "value"}  # the student's own module (a file they handed in)
        return {"kind": "module", "module": _text(value.__name__, 300)}
    if isinstance(value, type) and issubclass(value, BaseException):
        return {"kind": "exception", "mro": [qualified(k) for k in value.__mro__[:-1]][:20]}
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if (isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType))
            and type(module) is str and type(name) is str and module != "__main__"
            and "<" not in name and _resolves(module, name, value)):
        return {"kind": "ref", "module": module, "qualname": name}
    try:
        return {"kind": "callable" if callable(value) else "value"}
    except Exception:  # noqa: BLE001 - a student's object may refuse even this
        return {"kind": "value"}


def _resolves(module: str, qualname: str, value) -> bool:
    """Whether module.qualname is this very object (then the judge may use its own copy)."""
    target = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return target is value


class Handles:
    """The student's objects the judge refers to by number."""

    def __init__(self):
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}  # id(object) -> number, so one object keeps one number

    def encode(self, value, known_only: bool = False):
        number = self.ids.get(id(value))
        if number is not None and self.objects.get(number) is value:
            return self._reference(number, value)
        if known_only:
            return None
        if len(self.objects) >= MAX_HANDLES:
            raise wire.WireError(f"more than {MAX_HANDLES} objects handed to the judge")
        number = len(self.objects) + 1
        self.objects[number], self.ids[id(value)] = value, number
        return self._reference(number, value)

    def _reference(self, number: int, value) -> dict:
        try:
            is_callable = callable(value)
        except Exception:  # noqa: BLE001
            is_callable = False
        return {"$handle": number, "type": _text(type(value).__qualname__, 200),
                "callable": is_callable}

    def get(self, number):
        if type(number) is not int or number not in self.objects:
            raise LookupError(f"no object number {number!r} here (the worker was restarted?)")
        return self.objects[number]


class Worker:
    def __init__(self, channel: Channel):
        self.channel = channel
        self.shell = make_shell()
        self.builtin_names = set(self.shell.user_ns)
        self.handles = Handles()
        self.patched: dict[tuple[str, str], object] = {}  # (module, attr) -> original
        self.aliases: dict[tuple[str, str], list[str]] = {}  # the student's names for it
        self.out = self.err = None
        # Warnings are shown by the judge, whose filters (a test's catch_warnings, pytest.warns)
        # and registry decide, as the kernel's would: here every one is recorded, none printed.
        self.warned: list[dict] = []
        warnings.simplefilter("always")
        warnings.showwarning = self._record_warning

    def _record_warning(self, message, category, filename, lineno, file=None, line=None):
        if len(self.warned) < 100:
            self.warned.append({"message": _text(message), "filename": _text(filename, 300),
                                "lineno": int(lineno) if isinstance(lineno, int) else 0,
                                "mro": [qualified(k) for k in category.__mro__[:-1]][:20]})

    # -- data both ways -------------------------------------------------------------------
    def encode(self, value):
        return wire.encode(value, handles=self.handles)

    def _encoded(self, value):
        try:
            return self.encode(value)
        except BaseException as error:  # noqa: BLE001 - e.g. a student's __array__ raising
            return {"$unsupported": f"value that could not be read ({type(error).__name__})"}

    def decode(self, data):
        return wire.decode(data, self._callback, _as_tensor, make_handle=self._own)

    def _own(self, number, type_name, is_callable):
        return self.handles.get(number)

    def _callback(self, index: int):
        def callback(*args, **kwargs):
            self.channel.send({"op": "callback", "id": index, "args": self._encoded(list(args)),
                               "kwargs": self._encoded(kwargs)})
            reply = self.channel.receive()
            if reply.get("op") != "callback_result":
                raise _rebuilt(reply.get("error") or {})
            return self.decode(reply.get("value"))
        return callback

    # -- running the student's code ---------------------------------------------------
    def _visible(self, name: str) -> bool:
        return not name.startswith("_") and name not in self.builtin_names

    def _ids(self) -> dict[str, int]:
        return {n: id(v) for n, v in self.shell.user_ns.items() if self._visible(n)}

    def _run(self, action):
        """Run student code: (result or None, error or None, report of output and names)."""
        before = self._ids()
        self.out, self.err = CappedText(), CappedText()
        sys.stdout, sys.stderr = self.out, self.err
        result = error = None
        try:
            result = action()
        except BaseException as raised:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, ...
            error = raised
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        after = self.shell.user_ns
        warned, self.warned = self.warned, []
        changed = {}
        for name, value in list(after.items()):
            if self._visible(name) and before.get(name) != id(value):
                changed[name] = describe(value)
        report = {"stdout": self.out.text(), "stderr": self.err.text(), "changed": changed,
                  "deleted": [name for name in before if name not in after], "warnings": warned,
                  "forbidden": rules.take_uses()}
        return result, error, report

    def op_forbid(self, message: dict) -> dict:
        """Guard the APIs the assignment forbids (the first request, replayed on restarts)."""
        apis = message.get("apis")
        if not (type(apis) is list and all(type(api) is str for api in apis)):
            return {"op": "error", "message": "malformed list of forbidden APIs"}
        rules.install_guards(apis, os.getcwd())
        return {"op": "done"}

    def op_exec(self, message: dict) -> dict:
        def cell():
            result = self.shell.run_cell(str(message.get("source", "")), store_history=False)
            raised = result.error_before_exec or result.error_in_exec
            if raised is not None:
                raise raised

        _, error, report = self._run(cell)
        self.close_figures()
        return {"op": "done", "error": error_data(error, self._encoded) if error else None,
                **report}

    def op_get(self, message: dict) -> dict:
        value = self.shell.user_ns.get(str(message.get("name")), MISSING)
        if value is MISSING:
            return {"op": "missing"}
        return {"op": "value", "value": self._encoded(value)}

    def _target(self, target):
        if type(target) is dict and "handle" in target:
            return self.handles.get(target["handle"])
        name = target.get("name") if type(target) is dict else None
        value = self.shell.user_ns.get(str(name), MISSING)
        if value is MISSING:
            raise NameError(f"name {name!r} is not defined")
        return value

    def op_call(self, message: dict) -> dict:
        try:
            function = self._target(message.get("target"))
            args = self.decode(message.get("args", []))
            kwargs = self.decode(message.get("kwargs", {"$dict": {}}))
        except (NameError, LookupError, wire.WireError) as error:
            return {"op": "raised", "error": error_data(error, self._encoded)}
        value, error, report = self._run(lambda: function(*args, **kwargs))
        if error is not None:
            return {"op": "raised", "error": error_data(error, self._encoded), **report}
        return {"op": "returned", "value": self._encoded(value), "args": self._encoded(args),
                "kwargs": self._encoded(kwargs), **report}

    def op_handle(self, message: dict) -> dict:
        action = message.get("action")
        try:
            target = self.handles.get(message.get("id"))
            perform = getattr(self, f"_handle_{action}", None)
            if perform is None or type(action) is not str:
                raise ValueError(f"unknown action {action!r}")
        except (LookupError, ValueError) as error:
            return {"op": "raised", "error": error_data(error, self._encoded)}
        value, error, report = self._run(lambda: perform(target, message))
        if error is not None:
            return {"op": "raised", "error": error_data(error, self._encoded), **report}
        return {"op": "value", "value": self._encoded(value), **report}

    def _handle_attr(self, target, message):
        return getattr(target, str(message.get("name")))

    def _handle_setattr(self, target, message):
        setattr(target, str(message.get("name")), self.decode(message.get("value")))

    def _handle_len(self, target, message):
        return int(len(target))

    def _handle_bool(self, target, message):
        return bool(target)

    def _handle_str(self, target, message):
        return _text(target, 100_000)

    def _handle_float(self, target, message):
        return float(target)

    def _handle_int(self, target, message):
        return int(target)

    def _handle_getitem(self, target, message):
        return target[self.decode(message.get("key"))]

    def _handle_contains(self, target, message):
        return bool(self.decode(message.get("item")) in target)

    def _handle_iter(self, target, message):
        return _Iterator(iter(target))

    def _handle_next(self, target, message):
        return {"done": True} if (item := next(target, MISSING)) is MISSING else {"item": item}

    def _handle_isinstance(self, target, message):
        # By the class chain, not isinstance(): a metaclass of the student's cannot answer.
        return self.handles.get(message.get("of")) in type(target).__mro__

    # -- the judge's side of the namespace ------------------------------------------------
    def op_set(self, message: dict) -> dict:
        try:
            self.shell.user_ns[str(message["name"])] = self.decode(message.get("value"))
        except (KeyError, wire.WireError, LookupError) as error:
            return {"op": "raised", "error": error_data(error, self._encoded)}
        return {"op": "done"}

    def op_setref(self, message: dict) -> dict:
        """A name a test imported: the same module (or what it holds) imported here."""
        try:
            value = importlib.import_module(str(message["module"]))
            for part in str(message.get("qualname") or "").split(".") if message.get(
                    "qualname") else ():
                value = getattr(value, part)
            self.shell.user_ns[str(message["name"])] = value
        except (KeyError, ImportError, AttributeError) as error:
            return {"op": "raised", "error": error_data(error, self._encoded)}
        return {"op": "done"}

    def op_del(self, message: dict) -> dict:
        self.shell.user_ns.pop(str(message.get("name")), None)
        return {"op": "done"}

    def op_patch(self, message: dict) -> dict:
        """A test's module patch (``np.linalg.solve = None``), so that it binds here too."""
        try:
            module = importlib.import_module(str(message["module"]))
            attr = str(message["attr"])
            key = (module.__name__, attr)
            if message.get("restore"):
                original = self.patched.pop(key, MISSING)
                if original is MISSING:
                    return {"op": "done"}
                if original is _ABSENT:
                    module.__dict__.pop(attr, None)
                else:
                    setattr(module, attr, original)
                for name in self.aliases.pop(key, ()):
                    self.shell.user_ns[name] = original
            else:
                original = self.patched.setdefault(key, module.__dict__.get(attr, _ABSENT))
                value = self.decode(message.get("value")) if not message.get("delete") else None
                if message.get("delete"):
                    module.__dict__.pop(attr, None)
                else:
                    setattr(module, attr, value)
                # The patch forbids that function: the student's own names for it too
                # (`from numpy.linalg import solve` is the same function under another name).
                aliases = self.aliases.setdefault(key, [])
                for name, bound in list(self.shell.user_ns.items()):
                    if original is not _ABSENT and bound is original and self._visible(name) \
                            and callable(original):
                        self.shell.user_ns[name] = value
                        aliases.append(name)
        except (KeyError, ImportError, wire.WireError, LookupError, AttributeError,
                TypeError) as error:
            return {"op": "raised", "error": error_data(error, self._encoded)}
        return {"op": "done"}

    # -- figures ----------------------------------------------------------------------------
    def op_figures(self, message: dict) -> dict:
        pyplot = sys.modules.get("matplotlib.pyplot")
        figures = [pyplot.figure(n) for n in pyplot.get_fignums()] if pyplot else []
        return {"op": "value", "value": self._encoded(figures)}

    def close_figures(self) -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            try:
                pyplot.close("all")
            except Exception:  # noqa: BLE001 - the student's pyplot, perhaps patched
                pass

    def op_close_figures(self, message: dict) -> dict:
        self.close_figures()
        return {"op": "done"}

    def serve(self) -> None:
        self.channel.send({"op": "ready"})
        while True:
            try:
                message = self.channel.receive()
            except EOFError:
                return
            op = message.get("op")
            handler = getattr(self, f"op_{op}", None) if type(op) is str else None
            reply = handler(message) if handler else {"op": "error", "message": "unknown op"}
            try:
                self.channel.send(reply)
            except wire.WireError as error:
                self.channel.send({"op": "raised", "error": {
                    "ename": "ResultTooLarge", "evalue": _text(error), "mro": [], "args": None}})


_ABSENT = object()


class _Iterator:
    """An iterator handed to the judge as a handle (its items come one ``next`` at a time)."""

    def __init__(self, inner):
        self.inner = inner

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.inner)


def _rebuilt(error: dict) -> BaseException:
    """The judge's exception (from a callback) raised here as the builtin type it names."""
    import builtins

    kind = getattr(builtins, str(error.get("ename")), None)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = RuntimeError
    return kind(_text(error.get("evalue", "the grader's function failed")))


def _as_tensor(array):
    import torch

    return torch.from_numpy(array)


def main() -> None:
    _drop_privileges()
    if cwd := os.environ.pop("DESCENT_WORKER_CWD", None):  # without the sandbox (--unsafe)
        os.chdir(cwd)
    # The judge's pipes move to new descriptors; 0, 1 and 2 go nowhere, so that
    # nothing the student's code prints or writes can interleave with a message.
    channel = Channel(os.dup(0), os.dup(1))
    sys.meta_path.insert(0, _ChecksOnTheGradersSide())
    sys.path.insert(0, os.getcwd())  # as in a kernel: the notebook's folder is importable
    worker = Worker(channel)  # start-up errors still reach the grader's log on stderr
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    worker.serve()


if __name__ == "__main__":
    main()
