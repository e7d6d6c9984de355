"""descent never holds a model answer: their only home is solutions/."""

import ast
from pathlib import Path

from nbtools import CHAPTERS, ROOT, read, solution_sources

DEFINITIONS = (ast.FunctionDef, ast.ClassDef)


def answer_names(source: str) -> set[str]:
    """The functions and classes a solution cell defines at top level (not their methods:
    every nn.Module has an ``__init__`` and a ``forward``)."""
    return {n.name for n in ast.parse(source).body if isinstance(n, DEFINITIONS)}


def defined_names(source: str) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, DEFINITIONS)}


def test_library_defines_no_graded_function():
    graded = set()
    for chapter in CHAPTERS:
        notebook = read(ROOT / "solutions" / chapter / f"{chapter}.ipynb")
        for source in solution_sources(notebook).values():
            graded |= answer_names(source)
    library = Path(ROOT / "src" / "descent")
    for module in library.rglob("*.py"):
        clash = graded & defined_names(module.read_text())
        assert not clash, f"{module.relative_to(ROOT)} defines graded function(s) {sorted(clash)}"
