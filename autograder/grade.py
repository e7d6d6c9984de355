"""Grade a class's submissions of one assignment through nbgrader.

Each run builds a private nbgrader course folder (``--work``, by default
``.grading/<assignment>`` in the repository, git-ignored)::

    work/source/<assignment>/      copy of solutions/<assignment>/
    work/submitted/<student>/<assignment>/<notebook>.ipynb
    work/autograded/...  work/feedback/...  work/gradebook.db

then runs ``generate_assignment`` (registers the tests and their points in the
gradebook), one ``autograde`` for the whole class (nbgrader carries on past a
notebook that fails; such a student is then retried alone, to learn why) and one
``generate_feedback``. Results:

    out/grades.csv              student_id,score,max_score,status,message
    out/report.json             per-test scores for every student
    out/feedback/<student>.html nbgrader's feedback, hidden tests' code removed

The students' files are only ever read, never moved or changed.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from descent.paths import repo_root

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
COURSE_ID = "descent"
TIMED_OUT = "the grading run timed out"


class GraderError(Exception):
    """The grader itself cannot run (bad assignment, unreadable folder, broken install)."""


@dataclass
class StudentResult:
    student_id: str
    status: str  # graded | malformed | crashed | timeout
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    tests: dict[str, dict] = field(default_factory=dict)


def _nbgrader(args: list[str], work: Path, timeout: int) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course folder, with this venv's tools (alembic) on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("DESCENT_STATIC", None)
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _write_config(work: Path, db_url: str, timeout: int) -> None:
    (work / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.root = {str(work)!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
        f"c.ExecutePreprocessor.timeout = {timeout}\n"
        "# Feedback goes to students: strip the hidden tests' code, in cells and tracebacks.\n"
        "c.GenerateFeedback.preprocessors = [\n"
        "    'nbgrader.preprocessors.GetGrades',\n"
        "    'nbgrader.preprocessors.ClearHiddenTests',\n"
        "    'autograder.feedback.ShortTracebacks',\n"
        "    'nbconvert.preprocessors.CSSHTMLHeaderPreprocessor',\n"
        "]\n"
    )


def _prepare_work(assignment: str, work: Path, db_url: str, timeout: int) -> dict[str, set]:
    source = repo_root() / "solutions" / assignment
    if not source.is_dir():
        known = sorted(p.name for p in (repo_root() / "solutions").iterdir() if p.is_dir())
        raise GraderError(f"no assignment {assignment!r} in solutions/; known: {', '.join(known)}")
    for step in ("source", "release", "submitted", "autograded", "feedback"):
        shutil.rmtree(work / step, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, work / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _write_config(work, db_url, timeout)
    result = _nbgrader(["generate_assignment", assignment, "--force"], work, timeout)
    if result.returncode != 0:
        raise GraderError(f"nbgrader generate_assignment failed:\n{result.stderr[-3000:]}")
    return {
        path.name: {
            cell.metadata["nbgrader"]["grade_id"]
            for cell in nbformat.read(path, as_version=4).cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
        }
        for path in sorted(source.glob("*.ipynb"))
    }


def _collect(student_dir: Path, answer_ids: dict[str, set[str]]) -> tuple[dict[str, Path], str]:
    """Map each expected notebook name to the student's file, or explain what is wrong.

    ``answer_ids`` maps each notebook of the assignment to its solution cells' ids.
    """
    notebooks = sorted(answer_ids)
    found = sorted(p for p in student_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        return {}, f"no .ipynb file in {student_dir.name}/ (expected {', '.join(notebooks)})"
    by_name = {p.name: p for p in found}
    if all(name in by_name for name in notebooks):
        chosen = {name: by_name[name] for name in notebooks}
    elif len(notebooks) == 1 and len(found) == 1:
        chosen = {notebooks[0]: found[0]}  # renamed by the student or the LMS: still theirs
    else:
        return {}, (f"expected {', '.join(notebooks)} in {student_dir.name}/, "
                    f"found {', '.join(by_name)}")
    for name, path in chosen.items():
        try:
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
        except Exception as error:  # noqa: BLE001 - any unreadable file is the same verdict
            return {}, f"{path.name} is not a valid notebook ({type(error).__name__}: {error})"
        ids = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
               for cell in notebook.cells}
        if not ids & answer_ids[name]:
            return {}, (f"{path.name} has none of the answer cells of {name} "
                        "(a notebook of another assignment, or one rebuilt from scratch?)")
    return chosen, ""


def _read_scores(db_url: str, assignment: str, student_id: str, result: StudentResult) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, COURSE_ID) as gradebook:
        submission = gradebook.find_submission(assignment, student_id)
        result.score, result.max_score = float(submission.score), float(submission.max_score)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                result.tests[grade.name] = {
                    "notebook": notebook.name,
                    "score": float(grade.score),
                    "max_score": float(grade.max_score),
                    "passed": float(grade.score) == float(grade.max_score),
                }


def _assignment_max_score(db_url: str, assignment: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, COURSE_ID) as gradebook:
        return float(gradebook.find_assignment(assignment).max_score)


def _explain_failure(log: str) -> str:
    """One line an instructor can act on, from nbgrader's log of a failed autograde."""
    if "DeadKernelError" in log or "Kernel died" in log:
        return ("the notebook killed its kernel while being graded (exit(), os._exit, a crash "
                "or running out of memory); no score recorded")
    if log == TIMED_OUT:
        return "grading this notebook took too long; no score recorded"
    if "CellTimeoutError" in log or "Timeout waiting" in log:
        return "a cell never finished; no score recorded"
    errors = [line for line in log.splitlines() if "ERROR" in line]
    return "autograding failed: " + (errors[0] if errors else log.strip()[-300:])


def _autograde(assignment, students: list[str], work: Path, timeout: int) -> str:
    """Autograde ``students`` in one nbgrader run (one start-up); return its log.

    nbgrader carries on past a student whose notebook fails and removes that
    student's autograded folder, so success is read off the folders afterwards.
    """
    args = ["autograde", assignment, "--force"]
    if len(students) == 1:
        args += ["--student", students[0]]
    try:
        return _nbgrader(args, work, timeout=timeout * 20 * len(students)).stderr
    except subprocess.TimeoutExpired:
        return TIMED_OUT


def _is_autograded(work: Path, student_id: str, assignment: str) -> bool:
    return (work / "autograded" / student_id / assignment).is_dir()


def _copy_feedback(work: Path, out: Path, student_id: str, assignment: str) -> bool:
    pages = sorted((work / "feedback" / student_id / assignment).glob("*.html"))
    (out / "feedback").mkdir(exist_ok=True)
    if len(pages) == 1:
        shutil.copyfile(pages[0], out / "feedback" / f"{student_id}.html")
    for page in pages if len(pages) > 1 else []:
        (out / "feedback" / student_id).mkdir(exist_ok=True)
        shutil.copyfile(page, out / "feedback" / student_id / page.name)
    return bool(pages)


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _restore_test_cells(submitted: Path, release: Path) -> list[str]:
    """Put back the test cells a student deleted; return their ids.

    nbgrader overwrites the test cells it finds (hidden tests included) but scores
    a deleted one as failed, which would cost a correct answer its points. Each
    missing cell goes back after the nearest earlier cell of the release that the
    submission still has. Only the grader's copy is changed, never the student's file.
    """
    notebook = nbformat.read(submitted, as_version=4)
    reference = nbformat.read(release, as_version=4)
    restored = []
    for index, cell in enumerate(reference.cells):
        test_id = _grade_id(cell)
        if not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        present = [_grade_id(c) for c in notebook.cells]
        if test_id in present:
            continue
        position = 0
        for earlier in reversed(reference.cells[:index]):
            if _grade_id(earlier) in present:
                position = present.index(_grade_id(earlier)) + 1
                break
        notebook.cells.insert(position, cell)
        restored.append(test_id)
    if restored:
        nbformat.write(notebook, submitted)
    return restored


def _grade_all(assignment, chosen_by_student: dict, work, out, db_url, timeout):
    """Autograde every well-formed submission in one run, then write their feedback."""
    notes = {}
    for student_id, chosen in chosen_by_student.items():
        target = work / "submitted" / student_id / assignment
        target.mkdir(parents=True)
        restored = []
        for name, path in chosen.items():
            shutil.copyfile(path, target / name)
            restored += _restore_test_cells(target / name, work / "release" / assignment / name)
        if restored:
            notes[student_id] = "restored deleted test cells: " + ", ".join(restored)
    students = list(chosen_by_student)
    if students:
        _autograde(assignment, students, work, timeout)
    results = {}
    for student_id in students:
        result = results[student_id] = StudentResult(student_id, "crashed")
        result.message = notes.get(student_id, "")
        if not _is_autograded(work, student_id, assignment):
            # Rare: run it alone, to learn why and to give it a second chance.
            log = _autograde(assignment, [student_id], work, timeout)
            if not _is_autograded(work, student_id, assignment):
                result.status = "timeout" if log == TIMED_OUT else "crashed"
                result.message = _explain_failure(log)
                continue
        try:
            _read_scores(db_url, assignment, student_id, result)
        except Exception as error:  # noqa: BLE001 - one student's gradebook entry, not the batch
            result.message = f"autograded, but its scores could not be read back ({error})"
            continue
        result.status = "graded"
    graded = [s for s, r in results.items() if r.status == "graded"]
    if graded:
        _nbgrader(["generate_feedback", assignment, "--force"], work, timeout=timeout * 5)
    for student_id in graded:
        if not _copy_feedback(work, out, student_id, assignment):
            results[student_id].message = "graded; feedback could not be generated"
    return results


def grade(assignment: str, submissions: Path, out: Path, *, work: Path | None = None,
          db_url: str | None = None, timeout: int = 300) -> list[StudentResult]:
    """Grade every ``submissions/<student_id>/`` folder; return one result per student."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise GraderError(f"submissions folder {submissions} does not exist or is not a folder")
    work = Path(work or repo_root() / ".grading" / assignment).resolve()
    out = Path(out).resolve()
    db_url = db_url or f"sqlite:///{work / 'gradebook.db'}"
    answer_ids = _prepare_work(assignment, work, db_url, timeout)
    max_score = _assignment_max_score(db_url, assignment)
    out.mkdir(parents=True, exist_ok=True)

    results: dict[str, StudentResult] = {}
    to_grade: dict[str, dict[str, Path]] = {}
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        if student_dir.name.startswith((".", "__")):
            continue
        student_id = student_dir.name
        if not STUDENT_ID.match(student_id):
            # Reported under a printable form of the name (it may not even be UTF-8).
            shown = os.fsencode(student_id).decode("utf-8", "backslashreplace")
            results[shown] = StudentResult(
                shown, "malformed", 0.0, max_score,
                "folder name is not a usable student id (letters, digits and _ . @ + - only); "
                "rename the folder and grade again",
            )
            continue
        chosen, problem = _collect(student_dir, answer_ids)
        if problem:
            results[student_id] = StudentResult(student_id, "malformed", 0.0, max_score, problem)
        else:
            to_grade[student_id] = chosen
    results.update(_grade_all(assignment, to_grade, work, out, db_url, timeout))
    results = [results[student_id] for student_id in sorted(results)]
    for result in results:
        result.max_score = result.max_score or max_score

    _write_results(out, assignment, max_score, results)
    return results


def _write_results(out: Path, assignment: str, max_score: float, results) -> None:
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "score", "max_score", "status", "message"])
        for r in results:
            writer.writerow([r.student_id, f"{r.score:g}", f"{r.max_score:g}", r.status, r.message])
    report = {
        "assignment": assignment,
        "max_score": max_score,
        "students": {r.student_id: asdict(r) for r in results},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
