"""Grade a parity case (tests/parity_cases.py) with plain nbgrader and with ours; compare.

A case lives in one folder, an ordinary nbgrader course::

    folder/nbgrader_config.py          course root = folder, course id "parity"
    folder/source/<id>/<nb>.ipynb      the instructor's notebooks, and the case's files
    folder/release/<id>/...            nbgrader generate_assignment
    folder/submitted/<student>/<id>/   the submissions (release + answers, student's files)
    folder/autograded/...  folder/gradebook.db     plain nbgrader autograde
    folder/ours/out/  folder/ours/work/             python -m autograder grade

Scores are read back from each gradebook as ``{student: {test id: score, "total": score}}``,
with None where nbgrader says a cell needs manual grading. Test ids are grade ids, or
``<notebook>/<grade id>`` in an assignment of several notebooks.
"""

from __future__ import annotations

import copy
import html
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell
from parity_cases import Case, Submission

from autograder.course import venv_first_path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLAIN_COURSE = "parity"
OURS_COURSE = "descent"  # the course id our grader's gradebook uses
TOTAL = "total"
MISSING = object()


class ToolFailed(AssertionError):
    """A grading command exited with an error (its output's tail is the message)."""


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": venv_first_path()}


def _run(args: list, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise ToolFailed(f"{' '.join(map(str, args[:4]))} ... exited with {result.returncode}:\n"
                         + (result.stdout + result.stderr)[-4000:])
    return result


def write_config(folder: Path) -> None:
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(folder)!r}\n"
        f"c.CourseDirectory.course_id = {PLAIN_COURSE!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(folder / 'gradebook.db')!r}\n"
        "c.Execute.timeout = 60\n"
    )


_blank = threading.Lock()
_BLANK_GRADEBOOK: list[Path] = []


def blank_gradebook() -> Path:
    """An empty gradebook of the course, made once: nbgrader creating one itself runs the
    ``alembic`` command (about 2 s), a copy of this one is the same database at no cost."""
    with _blank:
        if not _BLANK_GRADEBOOK:
            path = Path(tempfile.mkdtemp(prefix="parity-gradebook-")) / "gradebook.db"
            _run([sys.executable, "-c", "import sys\nfrom nbgrader.api import Gradebook\n"
                  "Gradebook(sys.argv[1], sys.argv[2]).close()",
                  f"sqlite:///{path}", PLAIN_COURSE], cwd=path.parent)
            _BLANK_GRADEBOOK.append(path)
        return _BLANK_GRADEBOOK[0]


def _key(case: Case, notebook: str, grade_id: str) -> str:
    return grade_id if len(case.notebooks) == 1 else f"{notebook}/{grade_id}"


def submission_notebook(release, submission: Submission):
    """A student's notebook: the release with their answers and added cells."""
    nb = copy.deepcopy(release)
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            cells += [new_code_cell(code) for code in submission.added.get(grade_id, ())]
            if grade_id in submission.answers:
                cell.source = submission.answers[grade_id]
        cells.append(cell)
    cells += [new_code_cell(code) for code in submission.added.get("", ())]
    nb.cells = cells
    return nb


def build_case(case: Case, folder: Path) -> Path:
    """Write the course, release the assignment (nbgrader) and hand in every submission."""
    folder = Path(folder)
    source = folder / "source" / case.id
    source.mkdir(parents=True, exist_ok=True)
    for name, nb in case.notebooks.items():
        nbformat.write(nb, source / f"{name}.ipynb")
    for name, data in case.files.items():
        (source / name).write_bytes(data)
    write_config(folder)
    if not (folder / "gradebook.db").exists():
        shutil.copyfile(blank_gradebook(), folder / "gradebook.db")
    _run([BIN / "nbgrader", "generate_assignment", case.id, "--force"], cwd=folder)
    release = folder / "release" / case.id
    for student, submission in case.submissions.items():
        target = folder / "submitted" / student / case.id
        target.mkdir(parents=True, exist_ok=True)
        for name in case.notebooks:
            if name not in submission.omit:
                nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
                nbformat.write(submission_notebook(nb, submission), target / f"{name}.ipynb")
        for name, data in submission.files.items():
            (target / name).write_bytes(data)
    return folder


def read_gradebook(db_url: str, course_id: str, case: Case) -> dict[str, dict]:
    """Every submission's scores, test by test, and its total."""
    from nbgrader.api import Gradebook, MissingEntry

    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        return {}
    scores = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not in session")
        with Gradebook(db_url, course_id) as gradebook:
            for student in case.submissions:
                try:
                    submission = gradebook.find_submission(case.id, student)
                except MissingEntry:
                    continue
                row = {}
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        row[_key(case, notebook.name, grade.name)] = (
                            None if grade.needs_manual_grade else float(grade.score))
                row[TOTAL] = float(submission.score)
                scores[student] = row
    return scores


def plain_nbgrader(case: Case, folder: Path) -> dict[str, dict]:
    """``nbgrader autograde`` on every submission (one command), scores from its gradebook."""
    folder = Path(folder)
    try:
        _run([BIN / "nbgrader", "autograde", case.id, "--force"], cwd=folder)
    except ToolFailed:
        # Seen once in ~100 runs, with four cases autograding at once: a kernel that failed to
        # start for one notebook (the tail of its log showed no cause). Once more, whole;
        # a failure that is the case's own fails again.
        _run([BIN / "nbgrader", "autograde", case.id, "--force"], cwd=folder)
    return read_gradebook(f"sqlite:///{folder / 'gradebook.db'}", PLAIN_COURSE, case)


def ours(case: Case, folder: Path) -> dict[str, dict]:
    """Our grader on the same submissions, scores from its gradebook."""
    folder = Path(folder)
    out, work = folder / "ours" / "out", folder / "ours" / "work"
    _run([sys.executable, "-m", "autograder", "grade", case.id, folder / "submitted",
          "--out", out, "--work", work, "--source", folder / "source" / case.id], cwd=ROOT)
    return read_gradebook(f"sqlite:///{work / 'gradebook.db'}", OURS_COURSE, case)


def _same(a, b) -> bool:
    if a is None or b is None or a is MISSING or b is MISSING:
        return a is b
    return abs(a - b) < 1e-9


def _shown(value) -> str:
    return "absent" if value is MISSING else "None" if value is None else f"{value:g}"


def compare(case: Case, plain: dict[str, dict], ours: dict[str, dict]) -> list[str]:
    """The differences between our grades and the grades we must give: plain nbgrader's,
    test by test, or (``like=``) plain nbgrader's for the honest submission named."""
    problems = []
    for student, submission in case.submissions.items():
        reference = submission.like or student
        rule = f" (like {reference}: {submission.why})" if submission.like else ""
        if reference not in plain:
            problems.append(f"{student}: plain nbgrader has no grades for {reference}")
            continue
        if student not in ours:
            problems.append(f"{student}: our gradebook has no grades for it")
            continue
        problems += [f"{student} {key}: ours {_shown(have)}, must be {_shown(want)}{rule}"
                     for key, want, have in _differences(plain[reference], ours[student])]
    return problems


def _differences(expected: dict, got: dict):
    """(key, expected, got) wherever two score rows differ, the total last."""
    for key in sorted(set(expected) | set(got), key=lambda k: (k == TOTAL, k)):
        want, have = expected.get(key, MISSING), got.get(key, MISSING)
        if not _same(want, have):
            yield key, want, have


def expected_plain(case: Case, student: str) -> dict:
    """The scores the case says plain nbgrader gives this submission."""
    declared = case.submissions[student].plain
    row = {}
    for name, nb in case.notebooks.items():
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not (meta.get("grade") or meta.get("task")):
                continue
            key = _key(case, name, meta["grade_id"])
            autograded = meta.get("grade") and not meta.get("solution")
            default = float(meta["points"]) if autograded else None
            row[key] = declared.get(key, declared.get("*", default))
    row[TOTAL] = sum(v for v in row.values() if v is not None)
    return row


def autograded_points(case: Case) -> dict[str, float]:
    """Test id -> points of every autograded test cell."""
    return {_key(case, name, c.metadata.nbgrader["grade_id"]): float(c.metadata.nbgrader["points"])
            for name, nb in case.notebooks.items() for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata.nbgrader.get("solution")}


def check_plain(case: Case, plain: dict[str, dict]) -> list[str]:
    """Where plain nbgrader's grades differ from what the case declares."""
    problems = []
    for student in case.submissions:
        if student not in plain:
            problems.append(f"{student}: plain nbgrader has no grades for it")
            continue
        problems += [f"{student} {key}: plain nbgrader gives {_shown(have)}, the case says "
                     f"{_shown(want)}" for key, want, have in _differences(
                         expected_plain(case, student), plain[student])]
    return problems


def _text_outputs(nb) -> str:
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(t if isinstance(t, str) else "".join(t) for t in texts)


def plain_missing_output(case: Case, folder: Path) -> list[str]:
    """Text a submission must show (``shows``) that plain nbgrader's graded notebook lacks."""
    problems = []
    for student, submission in case.submissions.items():
        graded = Path(folder) / "autograded" / student / case.id
        shown = "\n".join(_text_outputs(nbformat.read(p, as_version=4))
                          for p in sorted(graded.glob("*.ipynb")))
        problems += [f"{student}: plain nbgrader's output lacks {text!r}"
                     for text in submission.shows if text not in shown]
    return problems


def ours_missing_output(case: Case, folder: Path) -> list[str]:
    """Text a submission must show (``shows``) that our feedback lacks."""
    problems = []
    feedback = Path(folder) / "ours" / "out" / "feedback"
    for student, submission in case.submissions.items():
        pages = [feedback / f"{student}.html", *sorted((feedback / student).glob("*.html"))]
        shown = "\n".join(html.unescape(p.read_text()) for p in pages if p.is_file())
        problems += [f"{student}: our feedback lacks {text!r}"
                     for text in submission.shows if text not in shown]
    return problems


def table(case: Case, *grades: tuple[str, dict[str, dict]]) -> str:
    """Score tables, one column per grader: ``table(case, ("plain", plain), ("ours", mine))``."""
    keys = list(expected_plain(case, "correct"))
    columns = [(k, max(len(k), 6)) for k in keys]
    first = max(len(s) for s in case.submissions) + 2
    lines = []
    for label, scores in grades:
        lines.append(f"{label}:")
        lines.append(" " * first + " ".join(f"{k:>{w}}" for k, w in columns))
        for student in case.submissions:
            row = scores.get(student)
            cells = [("-" if row is None else _shown(row.get(k, MISSING))).rjust(w)
                     for k, w in columns]
            lines.append(f"{student:<{first}}" + " ".join(cells))
    return "\n".join(lines)
