"""What a notebook cell is to nbgrader, read from its metadata.

nbgrader marks each cell it manages with ``metadata.nbgrader``: a ``grade_id`` that names it
whatever the student did to it, ``solution`` (the student's answer), ``grade`` (scored, with
``points``), ``locked`` (the instructor's, put back by nbgrader) and ``task``. These helpers
read those flags from a cell given as an ``nbformat`` node or as plain JSON data (what crosses
from a judge or a Dask worker), so the grader, the judge and the recording all tell a test
cell from an answer the same way.
"""

from __future__ import annotations


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_test(cell) -> bool:
    """A test cell: graded code the student does not write (nbgrader runs its own copy)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_locked_code(cell) -> bool:
    """The instructor's setup code: locked, neither graded nor an answer."""
    meta = nbgrader_meta(cell)
    return (cell.get("cell_type") == "code" and bool(meta.get("locked"))
            and not meta.get("grade") and not meta.get("solution"))


def source_of(cell) -> str:
    """A cell's source as one string (JSON notebooks may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)
