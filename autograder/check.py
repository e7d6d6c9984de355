"""Read an assignment's notebooks (the instructor's source) and report tests a student could fool.

The grader runs the student's code (answer cells, unlocked cells, cells they add) in a
sandboxed worker and the tests in a trusted judge; a name the judge takes from the student's
side is a proxy into the worker, or a copy of the student's data. A test is **forgeable** when
its verdict is decided by code the student controls: a checker bound in an unlocked cell (the
student replaces it), a comparison method of the student's own object, or a last expression
computed by the student's code (nbgrader takes a number there as the cell's score).
A *warning* is a test this analysis cannot vouch for, or one that scores wrongly; an *info*
is a fact worth knowing. Nothing is run: the analysis goes by names (ast), so aliasing can
fool it; it is a review aid, not a proof.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

SEVERITIES = ("forgeable", "warning", "info")  # most severe first
DYNAMIC = {"globals", "locals", "vars", "eval", "exec", "get_ipython", "__builtins__",
           "__import__"}
COMPARISON = re.compile(r"equals?|__eq__|__ne__|isclose|allclose|(compare|check|verify|"
                        r"validate)\w*|is_\w+")
ACCESSOR = re.compile(r"predict\w*|get_\w+|forward|score|evaluate")
# Calls that hand a student's value through: their result is still the student's number.
PASSTHROUGH = {"abs", "bool", "float", "int", "len", "max", "min", "round", "sum", "complex"}
NUMERIC_MODULES = {"numpy", "math", "cmath", "statistics", "torch", "scipy", "pandas",
                   "operator", "fractions", "decimal"}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SCOPES = (*_FUNCTIONS, ast.ClassDef, *_COMPREHENSIONS)


@dataclass(frozen=True)
class Finding:
    notebook: str  # file name, e.g. "ps1.ipynb"
    cell_id: str  # nbgrader grade_id of the cell the finding is about
    severity: str  # "forgeable" | "warning" | "info"
    message: str  # what is wrong and why
    fix: str  # how to fix the notebook


# --- scopes: what a cell binds, and which names it reads as globals ---

def _nodes(scope):
    """Every node of scope's own scope (a function's parameters and decorators included);
    nested scopes are yielded but not entered."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _binds(scope, stores_only: bool = False) -> set[str]:
    """The names scope binds; stores_only: only by assignment (no def, import, parameter)."""
    names = set()
    for node in _nodes(scope):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif stores_only:
            continue
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _reads(tree) -> set[str]:
    """The names tree reads as globals (loads not local to an enclosing function)."""
    found = set()

    def visit(scope, local: set[str]) -> None:
        if isinstance(scope, _FUNCTIONS + _COMPREHENSIONS):
            declared = {n for g in _nodes(scope) if isinstance(g, ast.Global) for n in g.names}
            local = local | (_binds(scope) - declared)
        for node in _nodes(scope):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                found.update({node.id} - local)
            elif isinstance(node, _SCOPES):
                visit(node, local)

    visit(tree, set())
    return found


@dataclass
class _Cell:
    id: str
    kind: str  # "test" | "solution" | "locked" | "unlocked"
    source: str
    points: float
    tree: ast.Module | None = None
    binds: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    free: set[str] = field(default_factory=set)  # read before the cell itself binds them
    autotest: bool = False


def _parse(raw, index: int, transformer) -> tuple[_Cell, str | None]:
    meta = raw.metadata.get("nbgrader", {}) or {}
    kind = ("solution" if meta.get("solution") else "test" if meta.get("grade")
            else "locked" if meta.get("locked") else "unlocked")
    source = "".join(raw.source) if isinstance(raw.source, list) else raw.source
    cell = _Cell(str(meta.get("grade_id") or f"cell {index}"), kind, source,
                 float(meta.get("points") or 0))
    # AUTOTEST lines are comments that nbgrader replaces with generated tests.
    cell.autotest = bool(re.search(r"^\s*#.*\bAUTOTEST\b", source, re.MULTILINE))
    try:
        cell.tree = ast.parse(transformer.transform_cell(source))
    except (SyntaxError, ValueError) as error:
        return cell, str(error)
    for stmt in cell.tree.body:  # in order: a name the cell binds before reading it is its own
        reads = _reads(ast.Module(body=[stmt], type_ignores=[]))
        cell.reads |= reads
        cell.free |= reads - cell.binds
        cell.binds |= _binds(ast.Module(body=[stmt], type_ignores=[]))
    return cell, None


# --- what a test's expressions hold ---

def _root(expr) -> ast.Name | None:
    while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
        expr = expr.func if isinstance(expr, ast.Call) else expr.value
    return expr if isinstance(expr, ast.Name) else None


def _tainted(expr, student: set[str], numeric: set[str]) -> bool:
    """Whether the student's code decides expr's value (comparisons and literals do not)."""
    if isinstance(expr, (ast.Constant, ast.Compare)) or isinstance(expr, ast.UnaryOp) \
            and isinstance(expr.op, ast.Not):
        return False
    if isinstance(expr, ast.Name):
        return expr.id in student
    if isinstance(expr, (ast.Attribute, ast.Subscript)):
        return _tainted(expr.value, student, numeric)
    if isinstance(expr, ast.Call):
        if _tainted(expr.func, student, numeric):
            return True  # the student's function, or a method of the student's value
        root = _root(expr.func)
        passthrough = isinstance(expr.func, ast.Name) and expr.func.id in PASSTHROUGH \
            or root is not None and root.id in numeric
        args = expr.args + [k.value for k in expr.keywords]
        return passthrough and any(_tainted(a, student, numeric) for a in args)
    return any(_tainted(child, student, numeric) for child in ast.iter_child_nodes(expr)
               if isinstance(child, ast.expr))  # arithmetic, and/or, containers, ...


def _flow(stmts, student: set[str], numeric: set[str], objects: dict[str, str],
          makers: set[str]) -> None:
    """Follow a test's assignments: which names hold a student's value (student, updated),
    and which hold what a student's function or class returned (objects: name -> maker)."""
    for stmt in stmts:
        targets, value = [], None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            targets, value = [stmt.target], stmt.iter
        names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        tainted = value is not None and (_tainted(value, student, numeric) or isinstance(
            stmt, ast.AugAssign) and bool(names & student))  # before the names are rebound
        student -= _binds(ast.Module(body=[stmt], type_ignores=[]))
        student |= names if tainted else set()
        objects.update(dict.fromkeys(names, _made_by(value, {}, makers)))  # None: not theirs
        for part in ("body", "orelse", "finalbody", "handlers"):
            _flow(getattr(stmt, part, []) or [], student, numeric, objects, makers)


def _made_by(expr, objects: dict[str, str], makers: set[str]) -> str | None:
    """The student's function or class that made expr, when expr is (a name for) its result."""
    if isinstance(expr, ast.Name):
        return objects.get(expr.id)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in makers:
        return expr.func.id
    return None


def _where(names, places: dict[str, list[str]]) -> str:
    return ", ".join(f"{n} ({', '.join(places[n])})" if n in places else n for n in sorted(names))


# --- the checks ---

class _Facts:
    """What the whole notebook binds, and where; computed once per notebook."""

    def __init__(self, cells: list[_Cell]):
        def places(kinds, names_of) -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for cell in cells:
                for name in names_of(cell) if cell.kind in kinds else ():
                    found.setdefault(name, []).append(cell.id)
            return found

        self.unlocked = places({"unlocked"}, lambda c: c.binds)
        solution = places({"solution"}, lambda c: c.binds)
        locked = places({"locked"}, lambda c: c.binds)
        trees = [(c, n) for c in cells if c.tree for n in ast.walk(c.tree)]
        imports = [(c, a.asname or a.name.split(".")[0], getattr(n, "module", None) or a.name)
                   for c, n in trees if isinstance(n, (ast.Import, ast.ImportFrom))
                   for a in n.names]
        self.imported = {name for _, name, _ in imports}
        self.numeric = {name for _, name, module in imports
                        if module.split(".")[0] in NUMERIC_MODULES}
        unlocked_imports = {name for c, name, _ in imports if c.kind == "unlocked"}
        # What the student can replace: bound only in unlocked instructor cells, or imported there.
        self.replaceable = (set(self.unlocked) - set(solution) - set(locked)) | (
            unlocked_imports & set(self.unlocked)) - set(locked)
        self.student = (set(solution) | set(self.unlocked)) - set(locked)
        self.answers = set(solution) - set(locked)
        self.classes = {n.name for c, n in trees if isinstance(n, ast.ClassDef)
                        and c.kind in ("solution", "unlocked")}
        self.test_reads = {n for c in cells if c.kind == "test" for n in c.free}
        self.instructor_reads = places({"solution", "locked", "unlocked"}, lambda c: c.reads)


def _check_locked(cell: _Cell, facts: _Facts):
    bad, used = cell.reads & facts.replaceable, cell.binds & facts.test_reads
    if bad and used:  # rule 1, through a setup cell
        yield ("forgeable", f"this locked cell defines {', '.join(sorted(used))}, which tests "
               f"use, from {_where(bad, facts.unlocked)}, bound in unlocked cells: the student "
               "can replace them.", f"Move {', '.join(sorted(bad))} into a locked cell.")
    calls = {n.func.id for n in ast.walk(cell.tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id in cell.reads & facts.answers}
    if calls:  # rule 6
        yield ("info", f"this locked cell calls {', '.join(sorted(calls))}, which the student "
               "writes: it runs on both sides; if the student's function fails here, only this "
               "student is affected.", "Call answers only in test cells, unless intended.")


def _check_test(cell: _Cell, facts: _Facts):
    tree, body = cell.tree, cell.tree.body
    bad = cell.free & facts.replaceable
    if bad:  # rule 1
        yield ("forgeable", f"uses {_where(bad, facts.unlocked)}, defined or imported only in "
               "unlocked cells: the student can redefine it, and the test then runs or reads "
               "their version.", "Move the definition or import into a locked cell.")
    # Rule 2: a last expression the student computes (a replaceable name is reported above).
    mine, objects = facts.student - facts.replaceable, {}
    _flow(body, mine, facts.numeric, objects, facts.student)  # (an Expr changes nothing)
    last = body[-1].value if body and isinstance(body[-1], ast.Expr) else None
    if last is not None and _tainted(last, mine, facts.numeric) and not isinstance(
            last, (*_COMPREHENSIONS, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.JoinedStr)):
        yield ("forgeable", f"the last line, `{ast.unparse(last)}`, is a value the student's "
               "code computes; nbgrader takes a number there as the cell's score.",
               "Compute the score from comparisons (score = 0.5 * (f(1) == 1) + ...), or assert.")
    # Rule 3: methods and attributes of the student's own objects.
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            maker, method = _made_by(node.func.value, objects, facts.student), node.func.attr
            severity = ("forgeable" if COMPARISON.fullmatch(method)
                        else "warning" if ACCESSOR.fullmatch(method) else None)
            if maker and severity and (maker, method) not in seen:
                seen.add((maker, method))
                yield (severity, f"`{ast.unparse(node.func)}` is a method of what {maker} "
                       "returned: it runs in the worker, so " + (
                           "the student decides the verdict." if severity == "forgeable" else
                           "its result may be a student object whose comparison runs there."),
                       "Compare plain data in the test, or use a checker from a locked cell.")
        elif isinstance(node, ast.Compare):
            equality = any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
            for side in (node.left, *node.comparators):
                attribute = isinstance(side, ast.Attribute)
                maker = _made_by(side.value if attribute else side, objects, facts.student)
                if maker not in facts.classes or not (attribute or equality):
                    continue
                if attribute:
                    yield ("warning", f"`{ast.unparse(node)}` reads an attribute of the "
                           f"student's {maker} object, in the worker.",
                           "Make sure what is compared is plain data.")
                else:
                    yield ("warning", f"`{ast.unparse(node)}` compares an instance of the "
                           f"student's class {maker}: in a kernel == runs its __eq__, which "
                           "the student writes; here == on the student's object is identity "
                           "(never the student's verdict), so an honest __eq__ is not used.",
                           "Compare plain data taken from the object (attributes, str()).")
                break  # one finding per comparison
    # Rule 4: what the analysis cannot follow.
    dynamic = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in DYNAMIC}
    dynamic |= {"sys.modules" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                and ast.unparse(n) == "sys.modules"}
    if dynamic:
        magic = " (IPython magics become get_ipython())" if "get_ipython" in dynamic else ""
        yield ("warning", f"uses {', '.join(sorted(dynamic))}{magic}: the student's cells can "
               "change what it sees, and this check cannot follow it.",
               "Name what the test uses directly.")
    # Rule 5: test variables the student's code sees; module patches that are not mirrored.
    shared = _binds(tree, stores_only=True) & set(facts.instructor_reads)
    if shared:
        yield ("info", f"the instructor's code reads {_where(shared, facts.instructor_reads)}, "
               "which this test assigns: the grader passes it to the student's side, so it is "
               "visible to the student's code, by design.",
               "Rename the test's variable if the student must not see it.")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            plain = not isinstance(node.value, (ast.Name, ast.Attribute, ast.Lambda, ast.Call)) \
                and not (isinstance(node.value, ast.Constant) and node.value.value is None)
            for target in getattr(node, "targets", [getattr(node, "target", None)]):
                root = _root(target) if isinstance(target, ast.Attribute) else None
                if root is not None and root.id in facts.imported and (
                        plain or isinstance(node, ast.AugAssign)):
                    yield ("warning", f"`{ast.unparse(target)}` is set to a value that is "
                           "neither None nor a function: the patch is not mirrored into the "
                           "student's process.", "Patch with None or a function.")
    # Rule 7: tests that always give full points, or none.
    if not any(isinstance(n, (ast.Call, ast.Assert, ast.Raise)) for n in ast.walk(tree)) \
            and last is None and not cell.autotest:
        yield ("warning", "this test has no assert, raise, call or last expression: it can "
               "never fail, so every student gets its points.", "Assert what the test checks.")
    if isinstance(last, ast.Compare) or isinstance(last, ast.BoolOp) and all(
            isinstance(v, ast.Compare) for v in last.values):
        yield ("warning", f"the last line, `{ast.unparse(last)}`, shows True or False, which "
               "nbgrader does not read as a score: full points either way.",
               "Write assert in front of it.")
    if any(isinstance(n, ast.Attribute) and n.attr == "stderr" or isinstance(n, ast.Call)
           and ast.unparse(n.func) == "warnings.warn" for n in ast.walk(tree)):
        yield ("warning", "this test writes to stderr: nbgrader scores any stderr output 0.",
               "Print to stdout, or raise an AssertionError.")


def _check_cell(cell: _Cell, error: str | None, facts: _Facts):
    if error:
        yield ("warning", f"this cell does not parse ({error}), so it was not checked.",
               "Fix the cell's syntax.")
    if cell.kind == "test" and cell.autotest:  # rule 8
        yield ("info", "this cell holds ### AUTOTEST lines: nbgrader generates its tests, and "
               "the grader runs the instantiated version stored in the gradebook, which this "
               "check does not see.", "Review the generated tests in the release notebook.")
    if cell.kind == "test" and cell.points <= 0:  # rule 7
        yield ("warning", "this autograder test is worth 0 points.",
               "Give it points in its nbgrader metadata, or make it a plain cell.")
    if cell.tree is not None and cell.kind == "locked":
        yield from _check_locked(cell, facts)
    if cell.tree is not None and cell.kind == "test":
        yield from _check_test(cell, facts)


def check_notebook(notebook, name: str) -> list[Finding]:
    """Findings about one notebook (an nbformat v4 NotebookNode, the instructor's source)."""
    transformer = TransformerManager()
    cells = [_parse(raw, index, transformer) for index, raw in enumerate(notebook.cells)
             if raw.cell_type == "code"]
    facts = _Facts([cell for cell, _ in cells])
    return [Finding(name, cell.id, *finding) for cell, error in cells
            for finding in _check_cell(cell, error, facts)]


def check_assignment(source: Path) -> list[Finding]:
    """Findings about every notebook directly in the folder ``source``, in name order."""
    from autograder.rules import declared

    findings = []
    for path in sorted(Path(source).glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        findings += check_notebook(notebook, path.name)
        try:
            forbidden = declared(notebook)
        except ValueError as error:
            findings.append(Finding(path.name, "(metadata)", "warning", str(error),
                                    'e.g. "autograder": {"forbidden": ["torch.optim"]}'))
        else:
            if forbidden:
                findings.append(Finding(
                    path.name, "(metadata)", "info",
                    f"the answers must not use {', '.join(forbidden)}: seen in their code and "
                    "blocked while it runs (status 'forbidden')",
                    "say so in the notebook's instructions, so students know the rule"))
    return findings


def format_findings(findings: list[Finding]) -> str:
    """A report for the terminal: per notebook, most severe first, then a count."""
    if not findings:
        return "no findings"
    lines, fill = [], partial(textwrap.fill, width=100, subsequent_indent=" " * 13)
    for notebook in dict.fromkeys(f.notebook for f in findings):
        lines.append(notebook)
        mine = [f for f in findings if f.notebook == notebook]
        for f in sorted(mine, key=lambda f: SEVERITIES.index(f.severity)):
            lines += [fill(f"{f.cell_id}: {f.message}", initial_indent=f"  {f.severity:<11}"),
                      fill(f"fix: {f.fix}", initial_indent=" " * 13)]
        lines.append("")
    counts = ", ".join(f"{sum(f.severity == s for f in findings)} {s}" for s in SEVERITIES)
    return "\n".join(lines + [f"{len(findings)} findings: {counts}"])
