"""Helpers the pipeline tests share: chapters, nbgrader metadata, fabricated submissions."""

from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.course import venv_first_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

CHAPTERS = sorted(
    p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file()
)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_cells(notebook) -> dict[str, float]:
    """grade_id -> points of every graded test cell."""
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
        for c in notebook.cells
        if nbgrader_meta(c).get("grade") and c.cell_type == "code"
    }


def solution_sources(notebook) -> dict[str, str]:
    """grade_id -> the model answer of every solution cell, markers removed."""
    answers = {}
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            lines = [
                line for line in cell.source.splitlines()
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            ]
            answers[nbgrader_meta(cell)["grade_id"]] = "\n".join(lines)
    return answers


def read(path: Path):
    return nbformat.read(path, as_version=4)


def fill_in(release, answers: dict[str, str]):
    """A student's notebook: the release with some solution cells answered."""
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def tool_env(**env) -> dict[str, str]:
    """This environment with the venv's bin first on PATH (nbgrader needs alembic)."""
    return {**os.environ, "PATH": venv_first_path(), **env}


def run_tool(args: list[str], cwd: Path = ROOT, timeout: int = 900, **env):
    """Run a venv tool with the venv's bin first on PATH."""
    return subprocess.run(
        args, cwd=cwd, env=tool_env(**env), capture_output=True, text=True, timeout=timeout
    )


def grade_command(chapter: str, submissions: Path, out: Path, work: Path, *options) -> list:
    """The grading command line, as an instructor types it."""
    return [sys.executable, "-m", "autograder", "grade", chapter, str(submissions),
            "--out", str(out), "--work", str(work), *options]


def read_grades(out: Path) -> dict[str, dict]:
    """grades.csv as student_id -> row."""
    with open(out / "grades.csv") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}
