"""One notebook, one namespace: the judge's and the worker's names kept in step.

In a kernel, the student's cells, the locked cells and the test cells share one
namespace, in notebook order. Here it is split over two processes, and this
module makes the split invisible to honest work while giving dishonest work
nothing:

* **Student → judge.** After each request that ran student code the worker
  reports which names it bound or deleted. A name a test uses is bound in the
  judge when the cell runs (lazily: only names the cell, or a function of the
  judge's it calls, mentions): a module as the judge's own import of it; a
  function or class taken from a real module (``from math import sqrt``) as the
  judge's own copy; an exception class as a trusted stand-in
  (:class:`~autograder.remote.ExceptionClasses`); data as a copy; anything else
  as a handle. A name an instructor's cell bound (locked or test cell) stays the
  instructor's: the student's code may rebind it on its side (``np = Fake()``,
  ``abs = ...``) without reaching the tests.
* **Judge → student.** Before student code runs again, what the judge's cells
  changed is sent over: a deleted name is deleted there too (``del helper``); a
  name a test bound is sent when the instructor's own non-test code reads it
  (``pushable``: e.g. a global the model answer uses) — never otherwise, so a
  test's variables (expected values of hidden tests) never reach student code;
  and a module attribute a test replaced (``np.linalg.solve = None``) is
  replaced there too when the new value is None, a function (called back here)
  or the student's own object, and restored when the test restores it.

The judge process belongs to one student's notebook (:mod:`autograder.judge`), so
nothing a test does survives into another student's grading.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import symtable
import sys
import types

from autograder.remote import RemoteObject
from autograder.rules import dotted_name

#: Modules a student's import never makes the judge import (side effects on import).
NEVER_IMPORTED = {"antigravity", "this", "idlelib", "turtle", "tkinter", "webbrowser"}


def names_in(source: str) -> set[str]:
    """Every identifier a piece of code uses as a name (read, written or deleted)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def global_reads(source: str) -> set[str]:
    """The global names a piece of code reads: at its top level, or from inside its functions
    and classes (a function's own local variables are not among them)."""
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return set()
    found, tables = set(), [table]
    while tables:
        scope = tables.pop()
        top = scope.get_type() == "module"
        found |= {symbol.get_name() for symbol in scope.get_symbols()
                  if symbol.is_referenced() and (top or symbol.is_global())}
        tables += scope.get_children()
    return found


def _code_names(code: types.CodeType, seen: set) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const not in seen:
            seen.add(const)
            names |= _code_names(const, seen)
    return names


def patch_targets(tree: ast.AST) -> list[str]:
    """Dotted names whose attributes a cell sets or deletes (``np.linalg`` of
    ``np.linalg.solve = None``; also ``setattr(x, ...)`` and ``patch("a.b.c")``)."""
    found = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and (name := dotted_name(target.value)):
                found.append(name)
        if isinstance(node, ast.Call) and node.args:
            func = dotted_name(node.func) or ""
            first = node.args[0]
            if func.split(".")[-1] in ("setattr", "delattr", "object") and (
                    name := dotted_name(first)):
                found.append(name)
            if (func.split(".")[-1] in ("patch", "setattr") and isinstance(first, ast.Constant)
                    and isinstance(first.value, str) and "." in first.value):
                found.append("@" + first.value.rsplit(".", 1)[0])  # a module by its path
    return found


class Mirror:
    def __init__(self, session, namespace: dict, pushable: set[str],
                 student_reads: set[str] = frozenset()):
        self.session, self.ns = session, namespace
        self.student_reads = set(student_reads)  # names the student's cells use
        self.imported: set[str] = set()  # names a judge's cell bound by an import
        # IPython's own names (In, Out, get_ipython, ...) and the builtins: a student's
        # `abs = lambda x: 0` or `AssertionError = Exception` stays on their side.
        self.reserved = set(namespace) | set(dir(builtins))
        self.pushable = set(pushable)
        self.student: dict[str, dict] = {}  # names the student's code bound last -> kind
        self.bound: dict[str, int] = {}  # names bound here from the worker -> id of binding
        self.protected: set[str] = set()  # names an instructor's cell bound
        self.seen: dict[str, int] = {}  # the namespace's ids when last compared
        self.watched: dict[str, dict] = {}  # module name -> attributes when first watched
        self.patched: dict[tuple[str, str], int] = {}  # (module, attr) -> id sent
        self.wants_figures = False
        session.on_changes = self.worker_changed
        session.before_request = self.sync
        session.on_restart = self.forget_bindings
        session.after_call = self.after_call

    # -- student -> judge ----------------------------------------------------------------
    def worker_changed(self, changed: dict, deleted: list) -> None:
        for name in [*changed, *deleted]:
            if type(name) is not str or name in self.protected or name in self.reserved:
                continue  # the instructor's names stay the instructor's here
            was_bound = name in self.bound
            self._unbind(name)
            if name in changed and type(changed[name]) is dict:
                self.student[name] = changed[name]
                if was_bound:  # in use by the running cell: see the new value at once
                    self._bind(name)
            else:
                self.student.pop(name, None)

    def _unbind(self, name: str) -> None:
        if name in self.bound:
            self.ns.pop(name, None)
            self.seen.pop(name, None)
            del self.bound[name]

    def forget_bindings(self) -> None:
        """The worker was restarted: handles are gone; bind again when next used."""
        for name in list(self.bound):
            self._unbind(name)

    def prepare(self, source: str, tree: ast.AST) -> None:
        """Before a judge cell runs: bind the student's names it may use; watch patches.
        ``tree``: the cell parsed (IPython's syntax turned into calls), ``source`` as written:
        its words, since a magic's argument (``%time v = f(1)``) is a string in the tree."""
        wanted = set(re.findall(r"[A-Za-z_]\w*", source))
        todo, seen_code = list(wanted), set()
        while todo:  # names used by the judge's own functions that the cell calls
            value = self.ns.get(todo.pop())
            code = getattr(value, "__code__", None)
            if isinstance(value, types.FunctionType) and value.__globals__ is self.ns and \
                    code not in seen_code:
                seen_code.add(code)
                more = _code_names(code, seen_code) - wanted
                wanted |= more
                todo += more
        for name in wanted:
            if name in self.student and name not in self.ns:
                self._bind(name)
        for dotted in patch_targets(tree):
            self._watch(dotted)
        self.imported |= {(alias.asname or alias.name).split(".")[0]
                          for node in ast.walk(tree)
                          if isinstance(node, (ast.Import, ast.ImportFrom))
                          for alias in node.names}
        self.wants_figures = any(word in source for word in ("gca", "gcf", "fignum", "pyplot",
                                                             "plt.figure", "get_axes"))

    def _bind(self, name: str) -> None:
        kind = self.student.get(name, {})
        value, found = None, False
        if kind.get("kind") in ("module", "ref"):
            value, found = _trusted(kind)
        elif kind.get("kind") == "exception":
            value, found = self.session.exceptions.from_chain(kind.get("mro") or []), True
        if not found:
            found, value = self.session.get(name)
        if found:
            self.ns[name] = value
            self.bound[name] = self.seen[name] = id(value)

    # -- judge -> student ----------------------------------------------------------------
    def _visible(self, name: str) -> bool:
        return name not in self.reserved and not name.startswith("_")

    def sync(self) -> None:
        """Send what the judge's cells changed to the worker, before student code runs."""
        current = {n: id(v) for n, v in self.ns.items() if self._visible(n)}
        for name, ident in current.items():
            if self.seen.get(name) == ident:
                continue
            self.seen[name] = ident
            if self.bound.get(name) == ident:
                continue
            self.bound.pop(name, None)  # the judge bound it: the instructor's from now on
            self.student.pop(name, None)
            self.protected.add(name)
            if name in self.pushable:
                self._send({"op": "set", "name": name}, self.ns[name])
            elif name in self.imported and name in self.student_reads:
                # An import of a test's (not a secret: a module or what it holds) that the
                # student's code also uses, as it could in a kernel.
                self._send_import(name, self.ns[name])
        for name in [n for n in self.seen if n not in current]:
            del self.seen[name]
            self.bound.pop(name, None)
            self.student.pop(name, None)
            self.session.state({"op": "del", "name": name})
        for module_name, before in self.watched.items():
            self._sync_module(module_name, before)

    def _send(self, message: dict, value) -> None:
        try:
            message["value"] = self.session.encode(value)
        except Exception:  # noqa: BLE001 - not data (a trusted object): the student never needs it
            return
        self.session.state(message)

    def _send_import(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType):
            self.session.state({"op": "setref", "name": name, "module": value.__name__})
            return
        module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
        if type(module) is str and type(qualname) is str and _trusted(
                {"kind": "ref", "module": module, "qualname": qualname}) == (value, True):
            self.session.state({"op": "setref", "name": name, "module": module,
                                "qualname": qualname})
        else:
            self._send({"op": "set", "name": name}, value)

    def accept_both(self) -> None:
        """A locked cell ran here and runs in the worker too: what it bound is on both sides."""
        for name, value in self.ns.items():
            if self._visible(name) and self.seen.get(name) != id(value):
                self.seen[name] = id(value)
                self.bound.pop(name, None)
                self.student.pop(name, None)
                self.protected.add(name)

    # -- module patches --------------------------------------------------------------------
    def _watch(self, dotted: str) -> None:
        if dotted.startswith("@"):
            module = sys.modules.get(dotted[1:])
        else:
            root, *attrs = dotted.split(".")
            module = self.ns.get(root)
            for attr in attrs:
                module = getattr(module, attr, None) if isinstance(module, types.ModuleType) \
                    else None
        if isinstance(module, types.ModuleType) and module.__name__ not in self.watched:
            self.watched[module.__name__] = dict(module.__dict__)

    def _sync_module(self, module_name: str, original: dict) -> None:
        module = sys.modules.get(module_name)
        if module is None:
            return
        now = module.__dict__
        for attr in set(original) | set(now):
            if attr.startswith("__"):
                continue
            key, value = (module_name, attr), now.get(attr, _ABSENT)
            sent = self.patched.get(key)
            if value is original.get(attr, _ABSENT):
                if sent is not None:
                    del self.patched[key]
                    self.session.state({"op": "patch", "module": module_name, "attr": attr,
                                        "restore": True})
                continue
            if sent == id(value):
                continue
            self.patched[key] = id(value)
            message = {"op": "patch", "module": module_name, "attr": attr}
            if value is _ABSENT:
                self.session.state({**message, "delete": True})
            elif value is None or callable(value) or isinstance(value, RemoteObject):
                self._send(message, value)

    # -- figures ---------------------------------------------------------------------------
    def after_call(self) -> None:
        """A test that looks at pyplot's state sees the student's figures (rebuilt here)."""
        if self.wants_figures and "matplotlib.pyplot" in sys.modules:
            from autograder.figures import adopt_into_pyplot

            adopt_into_pyplot(self.session.figures())


_ABSENT = object()


def _trusted(kind: dict):
    """(the judge's own module or module attribute for a student's name, found?)."""
    module_name = str(kind.get("module", ""))
    if not module_name or module_name.split(".")[0] in NEVER_IMPORTED:
        return None, False
    try:
        value = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - not installed here, or fails to import: not trusted
        return None, False
    if kind.get("kind") == "module":
        return value, True
    for part in str(kind.get("qualname", "")).split("."):
        value = getattr(value, part, _ABSENT)
        if value is _ABSENT:
            return None, False
    return value, True
