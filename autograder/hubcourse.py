"""The batch grader on a hub's nbgrader course: ``python -m autograder grade ID --course DIR``.

On a hub (``make hub``, ``deploy/``), nbgrader's collect gathers the students' submissions
into the course folder, ``DIR/submitted/<student>/<assignment>/``. ``--course DIR`` grades
those, with the gradebook of the course's own ``nbgrader_config.py`` (the formgrader then shows
the scores), and sends each student's feedback back through nbgrader's exchange: the page goes
to ``DIR/feedback/<student>/<assignment>/`` beside the submission's ``timestamp.txt`` and
``submission_secret.txt`` (nbgrader names the released page after that secret, so only the
student who submitted can fetch it), then ``nbgrader release_feedback`` runs in the course.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.course import COURSE_ID, venv_first_path

#: The files nbgrader's release_feedback reads beside each feedback page.
SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")


class HubCourseError(Exception):
    """The folder is not a course this grader can work in; the message says why."""


@dataclass
class HubCourse:
    root: Path
    db_url: str

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"


def open_course(root: Path) -> HubCourse:
    """Read the course's nbgrader_config.py: where its gradebook is."""
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise HubCourseError(f"{root} has no nbgrader_config.py: give the course folder "
                             "(the one holding source/ and submitted/)")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    course_id = config.CourseDirectory.get("course_id", "")
    if course_id != COURSE_ID:
        raise HubCourseError(f"the course id is {course_id!r}; this grader records into "
                             f"course {COURSE_ID!r} (set c.CourseDirectory.course_id)")
    db_url = config.CourseDirectory.get("db_url") or f"sqlite:///{root / 'gradebook.db'}"
    return HubCourse(root, db_url)


def release_feedback(course: HubCourse, assignment: str, notebooks: list[str], out: Path,
                     students: list[str]) -> list[str]:
    """Put each student's feedback (from ``out/feedback``) into the course and release it
    through the exchange; the students whose feedback went out. ``notebooks``: the
    assignment's notebook names, without .ipynb."""
    released = []
    for student in students:
        submission = course.submitted / student / assignment
        pages = _feedback_pages(out / "feedback", student, notebooks)
        if not pages or not all((submission / name).is_file() for name in SUBMISSION_FILES):
            continue  # graded from elsewhere than the exchange: nothing to release it through
        target = course.root / "feedback" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for notebook, page in pages.items():
            shutil.copyfile(page, target / f"{notebook}.html")
        for name in SUBMISSION_FILES:
            shutil.copyfile(submission / name, target / name)
        released.append(student)
    if released:
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "release_feedback", assignment],
            cwd=course.root, capture_output=True, text=True,
            env={**os.environ, "PATH": venv_first_path()})
        if done.returncode != 0:
            raise HubCourseError("nbgrader release_feedback failed:\n" + done.stderr[-2000:])
    return released


def _feedback_pages(folder: Path, student: str, notebooks: list[str]) -> dict[str, Path]:
    """notebook name -> feedback page, as :func:`autograder.course.copy_feedback` wrote them."""
    single = folder / f"{student}.html"
    if single.is_file() and len(notebooks) == 1:
        return {notebooks[0]: single}
    return {page.stem: page for page in sorted((folder / student).glob("*.html"))}
