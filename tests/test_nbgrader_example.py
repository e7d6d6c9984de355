"""nbgrader's own documentation example, graded by plain nbgrader and by ours: the same grades.

``ps1`` (``squares``, ``sum_of_squares``: a test that expects ValueError, one that deletes
``squares``, manually graded answers, an image beside the notebooks) with the two
submissions nbgrader ships (``bitdiddle``, ``hacker``) and the untouched release; and
``ps1_autotest``, the same problems tested with ``### AUTOTEST`` and ``### HASHED AUTOTEST``
(nbgrader's ``autotests.yml`` beside the notebooks), with the model answers and the untouched
release. The files are read from the installed nbgrader package, never copied here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from parity import (
    BIN,
    OURS_COURSE,
    PLAIN_COURSE,
    ROOT,
    _run,
    blank_gradebook,
    read_gradebook,
    write_config,
)
from parity_cases import Case, Submission, model_answers

pytestmark = pytest.mark.usefixtures("sandbox")

DOCS = Path(__import__("nbgrader").__file__).parent / "docs" / "source" / "user_guide"


def _course(folder: Path, assignment: str, source: Path, extra: dict[str, Path]) -> Case:
    """A course in ``folder`` with the docs' assignment released; submissions not yet in."""
    target = folder / "source" / assignment
    shutil.copytree(source, target)
    for name, path in extra.items():
        shutil.copyfile(path, target / name)
    write_config(folder)
    shutil.copyfile(blank_gradebook(), folder / "gradebook.db")
    _run([BIN / "nbgrader", "generate_assignment", assignment, "--force"], cwd=folder)
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in sorted(target.glob("*.ipynb"))}
    return Case(assignment, "nbgrader's documentation example", notebooks, {})


def _hand_in(folder: Path, case: Case, student: str, notebooks: dict, files=()) -> Case:
    target = folder / "submitted" / student / case.id
    target.mkdir(parents=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, target / f"{name}.ipynb")
    for path in files:
        shutil.copyfile(path, target / path.name)
    return Case(case.id, case.about, case.notebooks,
                {**case.submissions, student: Submission(why="handed in")})


def _release(folder: Path, case: Case) -> dict:
    return {name: nbformat.read(folder / "release" / case.id / f"{name}.ipynb", as_version=4)
            for name in case.notebooks}


def _answered(release: dict, answers: dict[str, str]) -> dict:
    for nb in release.values():
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in answers and cell.cell_type == "code":
                cell.source = answers[grade_id]
    return release


def _table(plain: dict, mine: dict) -> str:
    return "\n".join(f"{student}: plain {plain.get(student)}\n{' ' * len(student)}  ours  "
                     f"{mine.get(student)}" for student in sorted(set(plain) | set(mine)))


def _both(folder: Path, case: Case) -> tuple[dict, dict]:
    _run([BIN / "nbgrader", "autograde", case.id, "--force"], cwd=folder)
    plain = read_gradebook(f"sqlite:///{folder / 'gradebook.db'}", PLAIN_COURSE, case)
    work = folder / "ours" / "work"
    _run([sys.executable, "-m", "autograder", "grade", case.id, folder / "submitted",
          "--out", folder / "ours" / "out", "--work", work,
          "--source", folder / "source" / case.id], cwd=ROOT)
    return plain, read_gradebook(f"sqlite:///{work / 'gradebook.db'}", OURS_COURSE, case)


def test_ps1_with_nbgrader_s_own_submissions(tmp_path):
    case = _course(tmp_path, "ps1", DOCS / "source" / "ps1", {})
    for student in ("bitdiddle", "hacker"):
        handed = DOCS / "submitted" / student / "ps1"
        notebooks = {p.stem: nbformat.read(p, as_version=4) for p in handed.glob("*.ipynb")}
        case = _hand_in(tmp_path, case, student, notebooks,
                        [p for p in handed.iterdir() if p.suffix != ".ipynb"])
    case = _hand_in(tmp_path, case, "untouched", _release(tmp_path, case))
    plain, mine = _both(tmp_path, case)
    shown = _table(plain, mine)
    assert mine == plain, shown
    # What the documentation says these two earn, so the comparison is not of two zeros.
    assert plain["hacker"]["total"] == 3.0 and plain["bitdiddle"]["total"] == 1.5, shown
    assert plain["untouched"]["total"] == 0.0, shown


def test_ps1_autotest(tmp_path):
    case = _course(tmp_path, "ps1_autotest", DOCS / "source" / "ps1_autotest",
                   {"autotests.yml": DOCS / "autotests.yml"})
    answers = {k: v for nb in case.notebooks.values() for k, v in model_answers(nb).items()}
    case = _hand_in(tmp_path, case, "correct", _answered(_release(tmp_path, case), answers))
    case = _hand_in(tmp_path, case, "untouched", _release(tmp_path, case))
    wrong = {**answers, "squares": answers["squares"].replace("i ** 2", "i * 2")}
    assert wrong != answers
    case = _hand_in(tmp_path, case, "wrong", _answered(_release(tmp_path, case), wrong))
    plain, mine = _both(tmp_path, case)
    shown = _table(plain, mine)
    assert mine == plain, shown
    assert plain["correct"]["problem1/correct_squares"] == 1.0, shown
    assert plain["untouched"]["problem1/correct_squares"] == 0.0, shown
    assert plain["wrong"]["problem1/correct_squares"] == 0.0, shown
