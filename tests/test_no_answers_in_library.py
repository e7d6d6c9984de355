"""descent never holds a model answer: their only home is solutions/."""

import ast
from pathlib import Path

from nbtools import CHAPTERS, ROOT, read, solution_sources


def defined_functions(source: str) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}


def test_library_defines_no_graded_function():
    graded = set()
    for chapter in CHAPTERS:
        notebook = read(ROOT / "solutions" / chapter / f"{chapter}.ipynb")
        for source in solution_sources(notebook).values():
            graded |= defined_functions(source)
    library = Path(ROOT / "src" / "descent")
    for module in library.rglob("*.py"):
        clash = graded & defined_functions(module.read_text())
        assert not clash, f"{module.relative_to(ROOT)} defines graded function(s) {sorted(clash)}"
