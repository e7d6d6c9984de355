"""What the judge holds of the student's things: handles to their objects, their exceptions.

An object of the student's that is not data (an instance of their class, a
function, a generator) never leaves the worker. The judge gets a
:class:`RemoteObject`: reading an attribute, calling it, ``len``, ``bool``,
``str``, indexing and iterating send a request and return plain data again (or
another handle). What is decided by comparing stays here: ``==`` is identity,
and ``repr`` is a fixed text — a test cell's last value becomes nbgrader's
partial credit through its repr, so the student's object never writes it.

An exception the student's code raised comes back as data (its class chain by
name, its arguments) and is raised here as a trusted exception: a built-in
class or one of a module the judge imported itself is rebuilt as that very
class (so ``except ValueError`` and ``pytest.raises`` work); a class of the
student's own becomes a stand-in subclass of its nearest trusted base, one per
class, also bound to the class's name in the test namespace (so
``except TheirError`` works). A student's ``class ValueError(Exception)`` is
not the built-in ValueError, here as in a kernel.
"""

from __future__ import annotations

import builtins
import sys

from autograder import wire


class StudentExit(Exception):
    """The student's code raised SystemExit, KeyboardInterrupt or GeneratorExit."""


class HandleLost(Exception):
    """A handle from before the worker was restarted: its object is gone."""


class RemoteObject:
    """An object of the student's, left in the worker; see the module's docstring."""

    __slots__ = ("_session", "_number", "_type", "_generation")

    def __init__(self, session, number: int, type_name: str, generation: int):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_generation", generation)

    def _ask(self, action: str, **fields):
        return self._session.handle_request(self, action, **fields)

    def __call__(self, *args, **kwargs):
        return self._session.call({"handle": self._number}, args, kwargs, owner=self)

    def __getattr__(self, name: str):
        # Python's and IPython's probes (__array__, _repr_html_, ...) are not forwarded:
        # the judge would otherwise ask the student's object how to display or convert it.
        if name.startswith(("__", "_repr_", "_ipython_")):
            raise AttributeError(name)
        return self._ask("attr", name=name)

    def __setattr__(self, name: str, value) -> None:
        self._ask("setattr", name=name, value=value)

    def __len__(self) -> int:
        return _exactly(int, self._ask("len"), "len()")

    def __bool__(self) -> bool:
        return _exactly(bool, self._ask("bool"), "bool()")

    def __str__(self) -> str:
        return _exactly(str, self._ask("str"), "str()")

    def __float__(self) -> float:
        return _exactly(float, self._ask("float"), "float()")

    def __int__(self) -> int:
        return _exactly(int, self._ask("int"), "int()")

    def __getitem__(self, key):
        return self._ask("getitem", key=key)

    def __contains__(self, item) -> bool:
        return _exactly(bool, self._ask("contains", item=item), "in")

    def __iter__(self):
        iterator = self._ask("iter")
        while True:
            step = iterator._ask("next") if isinstance(iterator, RemoteObject) else None
            if type(step) is not dict or ("item" not in step and not step.get("done")):
                raise TypeError(f"iterating over a {self._type} gave no items")
            if step.get("done"):
                return
            yield step["item"]

    def __instancecheck__(self, instance) -> bool:
        """``isinstance(x, TheirClass)``, decided from the class chain of x in the worker."""
        if not isinstance(instance, RemoteObject):
            return False
        return _exactly(bool, instance._ask("isinstance", of=self), "isinstance()")

    def __repr__(self) -> str:
        return f"<{self._type} object of the student's>"

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    __hash__ = object.__hash__

    def __reduce__(self):
        raise TypeError("an object of the student's cannot be copied or pickled here")


def _exactly(kind: type, value, what: str):
    if type(value) is not kind:
        raise TypeError(f"{what} of the student's object gave a {type(value).__name__}, "
                        f"not a {kind.__name__}")
    return value


# -- exceptions --------------------------------------------------------------------------

_ESCAPES = (SystemExit, KeyboardInterrupt, GeneratorExit)


def _trusted_class(module: str, qualname: str):
    """The class module.qualname when the judge itself has it loaded, else None."""
    if module == "builtins":
        found = getattr(builtins, qualname, None)
    elif module in sys.modules and module != "__main__" and module.split(".")[0] != "autograder":
        # (never the grader's own: a forged chain must not raise the judge's signals)
        found = sys.modules[module]
        for part in qualname.split("."):
            found = getattr(found, part, None)
    else:
        return None
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


class ExceptionClasses:
    """The stand-ins for the student's exception classes, one per class, per judge."""

    def __init__(self):
        self.made: dict[tuple[str, str], type] = {}

    def from_chain(self, chain) -> type:
        """The class to raise here for an exception whose class chain is ``chain``."""
        entries = [tuple(map(str, entry))[:2] for entry in chain
                   if isinstance(entry, (list, tuple)) and len(entry) == 2][:20]
        base, own = Exception, []
        for module, qualname in entries:
            found = _trusted_class(module, qualname) or self.made.get((module, qualname))
            if found is not None:
                base = found
                break
            own.append((module, qualname))
        if issubclass(base, _ESCAPES):
            base = StudentExit
        for key in reversed(own):  # the student's classes, outermost last
            if key not in self.made:
                name = key[1].rsplit(".", 1)[-1]
                name = name if name.isidentifier() else "StudentError"
                self.made[key] = type(name, (base,), {"__module__": "student"})
            base = self.made[key]
        return base

    def rebuild(self, error: dict) -> BaseException:
        """A trusted exception from the data of one the student's code raised."""
        if type(error) is not dict:
            error = {}
        kind = self.from_chain(error.get("mro") or [[ "builtins", str(error.get("ename"))]])
        message = str(error.get("evalue", ""))[:5000]
        args = None
        try:
            args = wire.decode(error.get("args")) if error.get("args") is not None else None
        except wire.WireError:
            pass
        if type(args) is list and all(type(a) in (int, float, str, bool, type(None))
                                      for a in args):
            try:
                return kind(*args)
            except Exception:  # noqa: BLE001 - a class whose constructor wants other arguments
                pass
        try:
            return kind(message)
        except Exception:  # noqa: BLE001
            rebuilt = Exception.__new__(kind) if issubclass(kind, Exception) else Exception()
            rebuilt.args = (message,)
            return rebuilt
