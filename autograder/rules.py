"""What an assignment's answers must not use: declared, seen in the code, enforced at run time.

An instructor declares the APIs in the source notebook's metadata (Edit → Notebook Metadata
in JupyterLab)::

    "autograder": {"forbidden": ["torch.optim", "torch.nn.functional.batch_norm"]}

Each entry is a dotted path: a module (everything in it) or one of its attributes. A student
who uses one gets the status ``forbidden`` beside their score, with where and how it was seen:

* **statically** (:func:`static_uses`): the answer cells' code names it, through any import
  alias (``import torch.optim as o; o.SGD``, ``from torch.nn import functional as F;
  F.batch_norm``);
* **at run time** (:func:`install_guards`, in the sandboxed worker): reading a forbidden
  attribute from the student's own code raises :class:`ForbiddenAPI` there, so an answer built
  on it fails its tests, and the use is recorded even if their code catches the error. A
  module is guarded when it is first imported, not before: a student who never imports
  PyTorch never waits for it.

The run-time guard looks at the code that reads the attribute, not at the whole stack: a
library the student calls may use the API internally (``nn.BatchNorm1d`` calls
``F.batch_norm``), so forbid the library's entry points too (chapter 08 forbids both).
It is a rule of the assignment, not a security boundary: code that goes around Python's
attribute lookup can escape the run-time guard, and the static check reports the usual ways.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import os
import re
import sys
import types
from pathlib import Path

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
#: Frames of the import machinery: an import done by the student's code reads attributes
#: from these, on the student's behalf.
_IMPORT_FRAMES = ("<frozen importlib", str(Path(importlib.__file__).parent) + "/")
#: Where Python and the installed packages live: never the student's code, even when the
#: working directory holds them (a virtual environment under /tmp, the working directory of a
#: worker shown no files).
_RUNTIME = tuple({f"{path}/" for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}
                  for path in (prefix, os.path.realpath(prefix))})


class ForbiddenAPI(Exception):
    """Raised in the worker when the student's code uses an API the assignment forbids."""


def declared(notebook) -> list[str]:
    """The forbidden APIs a source notebook declares (``metadata.autograder.forbidden``).

    Raises ValueError with what to fix when the declaration is malformed."""
    rules = (notebook.get("metadata") or {}).get("autograder") or {}
    forbidden = rules.get("forbidden", []) if isinstance(rules, dict) else None
    if not isinstance(forbidden, list) or not all(
            isinstance(path, str) and _PATH.match(path) for path in forbidden):
        raise ValueError("metadata.autograder.forbidden must be a list of dotted names such "
                         f"as \"torch.optim\", got {forbidden!r}")
    return list(dict.fromkeys(forbidden))


# ---------------------------------------------------------------- statically


def dotted_name(node) -> str | None:
    """The dotted name an expression spells (``np.linalg.solve``), or None when it is not
    a chain of attributes on a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _matches(name: str, forbidden: list[str]) -> str | None:
    for path in forbidden:
        if name == path or name.startswith(path + "."):
            return path
    return None


def static_uses(source: str, forbidden: list[str], aliases: dict[str, str] | None = None
                ) -> list[str]:
    """The forbidden APIs ``source`` (Python) names, resolving import aliases; ``aliases``
    (name -> dotted module path) carries the imports of earlier cells and is updated."""
    aliases = {} if aliases is None else aliases
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases[top] = top
                if hit := _matches(alias.name, forbidden):
                    found.append(hit)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if hit := _matches(full, forbidden) or _matches(node.module, forbidden):
                    found.append(hit)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and (name := dotted_name(node)):
            head, _, rest = name.partition(".")
            if head in aliases:
                resolved = aliases[head] + (f".{rest}" if rest else "")
                if hit := _matches(resolved, forbidden):
                    found.append(hit)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # importlib.import_module("torch.optim"), getattr(torch, "optim")
            if hit := _matches(node.value, forbidden):
                found.append(hit)
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------- at run time


def _from_student(frame) -> bool:
    """Whether the code reading an attribute (past the import machinery) is the student's:
    a notebook cell, code they exec'd, or a module of their own in the notebook's folder."""
    while frame is not None and frame.f_code.co_filename.startswith(_IMPORT_FRAMES):
        frame = frame.f_back
    if frame is None:
        return False
    filename = frame.f_code.co_filename
    return filename.startswith("<") or (filename.startswith(_student_folder)
                                        and not filename.startswith(_RUNTIME))


_student_folder = "/assignment/"


class _Guarded(types.ModuleType):
    """A module some of whose attributes the student's code must not read."""

    def __getattribute__(self, name):
        guard = _guards.get(id(self))
        api = None
        if guard is not None:
            if name in guard:
                api = guard[name]
            elif "*" in guard and name == "__dict__":  # vars(torch.optim)["SGD"]
                api = guard["*"]
            elif "*" in guard and not name.startswith("__"):
                api = f"{guard['*']}.{name}"
        if api is not None and _from_student(sys._getframe(1)):
            _record(api)
            raise ForbiddenAPI(f"{api} is not allowed in this assignment: the task asks you "
                               "to write it yourself (see its instructions)")
        return types.ModuleType.__getattribute__(self, name)


_guards: dict[int, dict[str, str]] = {}  # id(module) -> attribute -> the forbidden API
_uses: list[str] = []


def _record(api: str) -> None:
    if api not in _uses and len(_uses) < 50:
        _uses.append(api)


def take_uses() -> list[str]:
    """The forbidden APIs the student's code tried since the last call."""
    uses = list(_uses)
    _uses.clear()
    return uses


def install_guards(forbidden: list[str], student_folder: str) -> None:
    """Guard every forbidden API: at once where its module is already imported, otherwise
    the moment it is (by anyone: the student's code or a library). Importing a module only
    to guard it would cost every worker PyTorch's start-up (about a second) for the many
    students who never import it. An API in no installed module is never used either."""
    global _student_folder
    _student_folder = student_folder.rstrip("/") + "/"
    for path in forbidden:
        parent_path, _, attribute = path.rpartition(".")
        _waiting.setdefault(path, "*")  # the API as a module: everything in it
        if parent_path:
            _waiting.setdefault(f"{parent_path}:{attribute}", path)  # as an attribute
    _guard_imported()
    if _waiting and not any(isinstance(f, _GuardOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _GuardOnImport())


#: What is still to guard, by the module it lives in: "module" -> "*" (the whole module) and
#: "module:attribute" -> the forbidden API.
_waiting: dict[str, str] = {}


def _guard_imported() -> None:
    """Guard what :data:`_waiting` names in the modules imported by now."""
    for key, api in list(_waiting.items()):
        name, _, attribute = key.partition(":")
        module = sys.modules.get(name)
        if not isinstance(module, types.ModuleType):
            continue
        if attribute:
            _guard(module, attribute, api)
        elif module.__name__ == name:
            _guard(module, "*", name)
        del _waiting[key]


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it asks the finders after it, and has the loader of a module
    that holds a forbidden API guard it as soon as the module has run (so before the import
    statement that asked for it returns to the student's code)."""

    def find_spec(self, fullname, path=None, target=None):
        if not any(key.partition(":")[0] == fullname for key in _waiting):
            return None
        later = sys.meta_path[sys.meta_path.index(self) + 1:] if self in sys.meta_path else []
        for finder in later:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                loader = spec.loader
                if hasattr(loader, "exec_module") and not _guard_after(loader):
                    spec.loader = _ThenGuard(loader)
                return spec
        return None


class _ThenGuard:
    """A loader that cannot be changed, or one shared by many modules (built-ins), for one
    module: guards what waits once the module has run."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            self._loader.exec_module(module)
        finally:
            _guard_imported()

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _guard_after(loader) -> bool:
    """Make ``loader``, this module's own instance, guard what waits once it has run the
    module; False when it is not such an instance."""
    if isinstance(loader, type):
        return False
    run = loader.exec_module

    def exec_module(module):
        try:
            run(module)
        finally:
            _guard_imported()

    try:
        loader.exec_module = exec_module
    except (AttributeError, TypeError):  # no instance dict (__slots__)
        return False
    return True


def _guard(module: types.ModuleType, attribute: str, api: str) -> None:
    if type(module) is types.ModuleType:
        module.__class__ = _Guarded
    elif not isinstance(module, _Guarded):
        return  # a module with a class of its own: the static check still sees it
    _guards.setdefault(id(module), {})[attribute] = api
