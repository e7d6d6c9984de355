"""Load model answers from a chapter's solution notebook.

The model answer to each exercise lives in exactly one place: its solution cell
in ``solutions/<chapter>/<chapter>.ipynb``. The book draws its demos with those
answers, so instead of copying them into the library it executes the notebook's
setup and solution cells in a fresh namespace and hands back what they define.
"""

from __future__ import annotations

import types
from functools import cache

import nbformat

from descent.paths import solution_notebook


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_loadable(cell) -> bool:
    """Setup cells (grade_id starting with 'setup') and solution cells, never test cells."""
    if cell.cell_type != "code":
        return False
    meta = _nbgrader(cell)
    if meta.get("grade"):
        return False
    return bool(meta.get("solution")) or str(meta.get("grade_id", "")).startswith("setup")


@cache
def _load_module(chapter: str) -> types.ModuleType:
    path = solution_notebook(chapter)
    if not path.is_file():
        raise FileNotFoundError(
            f"No solution notebook for chapter {chapter!r} at {path}. "
            "Chapter ids are folder names under solutions/, e.g. '01_activations'."
        )
    notebook = nbformat.read(path, as_version=4)
    module = types.ModuleType(f"descent_answers_{chapter}", f"Model answers of {chapter}")
    for index, cell in enumerate(notebook.cells):
        if _is_loadable(cell):
            code = compile(cell.source, f"{path}:cell{index}", "exec")
            exec(code, module.__dict__)  # noqa: S102 - our own solution notebook
    return module


def load(chapter: str, *names: str):
    """Return the model answers ``names`` defined in ``chapter``'s solution notebook.

    >>> sigmoid, sigmoid_grad = load("01_activations", "sigmoid", "sigmoid_grad")

    With one name, returns the object itself; with several, a tuple; with none,
    the whole namespace as a module.
    """
    module = _load_module(chapter)
    if not names:
        return module
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        raise AttributeError(
            f"{chapter}: the solution notebook defines no {', '.join(missing)}. "
            f"It defines: {', '.join(n for n in vars(module) if not n.startswith('_'))}."
        )
    found = tuple(getattr(module, name) for name in names)
    return found[0] if len(found) == 1 else found
