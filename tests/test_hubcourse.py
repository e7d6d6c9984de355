"""`python -m autograder grade ID --course DIR`: the batch grader on a hub's collected course.

A course folder laid out as nbgrader's collect leaves it on the hub (submitted/<student>/<id>/
with the submission's timestamp.txt and submission_secret.txt), graded with --course: the scores
land in the course's own gradebook, and each student's feedback is released into the exchange
under the name nbgrader's fetch_feedback looks for (a hash of their submission's secret).
"""

from __future__ import annotations

import csv
import secrets
import sys

import nbformat
from nbtools import ROOT, fill_in, read, run_tool, solution_sources

from autograder.course import COURSE_ID, config_text

CHAPTER = "01_activations"


def test_grading_a_hub_course_records_and_releases_feedback(tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.utils import notebook_hash

    course, exchange, out = tmp_path / "course", tmp_path / "exchange", tmp_path / "out"
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    (course / "source").mkdir(parents=True)
    exchange.mkdir()  # make hub makes it
    (course / "source" / CHAPTER).symlink_to(ROOT / "solutions" / CHAPTER)
    (course / "nbgrader_config.py").write_text(
        config_text(course, db_url, first_step="autograder.sandboxed.SandboxedAutograde")
        + f"c.Exchange.root = {str(exchange)!r}\n")
    release = read(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb")
    answers = solution_sources(read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"))
    secrets_of = {}
    for student, notebook in (("ana", fill_in(release, answers)), ("ben", release)):
        folder = course / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{CHAPTER}.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
        secrets_of[student] = secrets.token_hex(16)
        (folder / "submission_secret.txt").write_text(secrets_of[student])

    done = run_tool([sys.executable, "-m", "autograder", "grade", CHAPTER,
                     "--course", str(course), "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "feedback released through the exchange to 2 students" in done.stderr

    with open(out / "grades.csv") as grades:
        rows = {row["student_id"]: row for row in csv.DictReader(grades)}
    full = float(rows["ana"]["max_score"])
    assert float(rows["ana"]["score"]) == full > 0 and float(rows["ben"]["score"]) == 0
    with Gradebook(db_url, COURSE_ID) as gradebook:  # the course's own, which formgrader shows
        stored = {s.student.id: s.score for s in gradebook.assignment_submissions(CHAPTER)}
    assert stored == {"ana": full, "ben": 0.0}
    for student, secret in secrets_of.items():
        name = notebook_hash(secret=secret, notebook_id=CHAPTER)
        page = exchange / COURSE_ID / "feedback" / f"{name}.html"
        assert page.is_file(), f"{student}: no feedback where fetch_feedback looks"
        score = float(rows[student]["score"])
        assert f"{CHAPTER} (Score: {round(score, 2)} / {round(full, 2)})" in page.read_text()
