"""The grader against hostile and broken submissions, resumed runs, LMS inputs and PostgreSQL.

Chapter 01 is the subject throughout (tests/corpus.py names its functions).
Every expected score is the maximum minus the points of the tests the
submission's own code fails when run honestly.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from corpus import CHAPTER, HOSTILE, WRONG_RELU
from nbtools import (
    BIN,
    ROOT,
    fill_in,
    grade_cells,
    grade_command,
    read,
    read_grades,
    run_tool,
    solution_sources,
    tool_env,
)

pytestmark = pytest.mark.usefixtures("sandbox")

SOURCE = read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb")
RELEASE = read(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb")
ANSWERS = solution_sources(SOURCE)
POINTS = grade_cells(SOURCE)
MAX_SCORE = sum(POINTS.values())
FAST = ["--timeout", "3", "--submission-timeout", "120", "--memory", "2048", "--workers", "2"]


def notebook(answers: dict | None = None, extra_cells=()):
    nb = fill_in(RELEASE, {**ANSWERS, **(answers or {})})
    nb.cells += [nbformat.v4.new_code_cell(code) for code in extra_cells]
    return nb


def write(folder: Path, student: str, nb) -> Path:
    (folder / student).mkdir(parents=True, exist_ok=True)
    path = folder / student / f"{CHAPTER}.ipynb"
    nbformat.write(nb, path)
    return path


def grade(submissions: Path, out: Path, work: Path, *extra: str, check=True):
    result = run_tool(grade_command(CHAPTER, submissions, out, work, *FAST, *extra))
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
        return read_grades(out)
    return result


def expected(fails) -> float:
    if "*" in fails:  # every test but the "!" ones
        return sum(POINTS[test[1:]] for test in fails if test.startswith("!"))
    return MAX_SCORE - sum(POINTS[test] for test in fails)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def gradebook_scores(db_url: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "descent") as gradebook:
        return {s.student.id: float(s.score)
                for s in gradebook.find_assignment(CHAPTER).submissions}


def test_hostile_submissions_get_exactly_their_honest_points(tmp_path):
    submissions = tmp_path / "subs"
    for name, case in HOSTILE.items():
        write(submissions, name, notebook(case.answers, case.extra_cells))
    write(submissions, "honest", notebook())
    solutions_before = tree_digest(ROOT / "solutions")

    started = time.monotonic()
    grades = grade(submissions, tmp_path / "out", tmp_path / "work")
    seconds = time.monotonic() - started

    assert grades["honest"]["score"] == f"{MAX_SCORE:g}", grades["honest"]
    wrong = {}
    for name, case in HOSTILE.items():
        row = grades[name]
        if row["status"] != "graded" or float(row["score"]) != expected(case.fails):
            wrong[name] = (f"expected {expected(case.fails):g} ({case.why}), "
                           f"got {row['score']} [{row['status']}] {row['message'][:300]}")
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())
    # Nothing outside the sandbox was touched; the gradebook holds every grade.
    assert tree_digest(ROOT / "solutions") == solutions_before
    scores = gradebook_scores(f"sqlite:///{tmp_path / 'work' / 'gradebook.db'}")
    assert scores == {name: float(row["score"]) for name, row in grades.items()}
    assert not Path("/tmp/pwned").exists()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    failing = {t for t, r in report["students"]["endless_function"]["tests"].items()
               if not r["passed"]}
    assert failing == {"test_elu_grad"}
    assert "did not return within 3 s" in report["students"]["endless_function"]["message"]
    print(f"hostile corpus: {len(HOSTILE) + 1} submissions in {seconds:.1f} s")


def test_broken_submissions_get_a_precise_status(tmp_path):
    subs = tmp_path / "subs"
    write(subs, "no_relu_cell", notebook()).unlink()
    nb = notebook()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "relu"]
    write(subs, "no_relu_cell", nb)
    write(subs, "wrong_signature", notebook({"elu": "def elu(z):\n    return z\n"}))
    write(subs, "syntax_error", notebook({"relu": "def relu(z)\n    return z\n"}))
    heavy = notebook()
    last_code = [c for c in heavy.cells if c.cell_type == "code"][-1]
    last_code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 30_000_000)]
    write(subs, "huge_saved_output", heavy)
    text = nbformat.writes(notebook())
    (subs / "truncated").mkdir()
    (subs / "truncated" / f"{CHAPTER}.ipynb").write_text(text[: len(text) // 2])
    (subs / "two_notebooks").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(notebook(), subs / "two_notebooks" / name)
    write(subs, "twice", notebook())
    with zipfile.ZipFile(subs / "twice.zip", "w") as zipped:
        zipped.writestr(f"{CHAPTER}.ipynb", nbformat.writes(notebook()))
    (subs / "unsafe_zip.zip").write_bytes(b"PK\x03\x04 not really a zip")
    slow = notebook()  # sleeps past its time budget after the relu test: later tests get 0
    after_relu = 1 + [c.metadata.get("nbgrader", {}).get("grade_id")
                      for c in slow.cells].index("test_relu")
    slow.cells[after_relu:after_relu] = [nbformat.v4.new_code_cell("import time\ntime.sleep(2.5)")
                                         for _ in range(3)]
    write(subs, "out_of_time", slow)

    # Links are never followed: one to the model answers must not earn them.
    model = ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"
    (subs / "linked_file").mkdir()
    (subs / "linked_file" / f"{CHAPTER}.ipynb").symlink_to(model)
    (subs / "linked_student.ipynb").symlink_to(model)
    (subs / "linked_folder").symlink_to(subs / "wrong_signature")

    grades = grade(subs, tmp_path / "out", tmp_path / "work", "--submission-timeout", "6")
    for student in ("linked_file", "linked_student", "linked_folder"):
        assert grades[student]["status"] == "malformed", grades[student]
        assert float(grades[student]["score"]) == 0, grades[student]
    assert "never follows" in grades["linked_student"]["message"]
    assert float(grades["no_relu_cell"]["score"]) == expected({"test_relu"})
    assert float(grades["wrong_signature"]["score"]) == expected({"test_elu"})
    assert float(grades["syntax_error"]["score"]) == expected({"test_relu"})
    assert float(grades["huge_saved_output"]["score"]) == MAX_SCORE
    for student in ("no_relu_cell", "wrong_signature", "syntax_error", "huge_saved_output"):
        assert grades[student]["status"] == "graded", grades[student]
    assert grades["out_of_time"]["status"] == "timeout"
    assert float(grades["out_of_time"]["score"]) == sum(
        POINTS[t] for t in ("test_sigmoid", "test_sigmoid_grad", "test_tanh_grad", "test_relu"))
    assert grades["truncated"]["status"] == "malformed"
    assert "not a valid notebook" in grades["truncated"]["message"]
    assert grades["two_notebooks"]["status"] == "malformed"
    assert grades["twice"]["status"] == "duplicate"
    assert "twice/" in grades["twice"]["message"] and "twice.zip" in grades["twice"]["message"]
    assert grades["unsafe_zip"]["status"] == "malformed"
    assert "not a readable zip" in grades["unsafe_zip"]["message"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    relu = report["students"]["wrong_signature"]["tests"]["test_elu"]["message"]
    assert "TypeError" in relu, relu


def test_lms_shapes_are_accepted(tmp_path):
    """Zips per student, a bulk zip with Canvas and Moodle names, nbgrader's layout."""
    bulk = tmp_path / "bulk.zip"
    good, wrong = nbformat.writes(notebook()), nbformat.writes(notebook({"relu": WRONG_RELU}))
    inner = tmp_path / "carol.zip"
    with zipfile.ZipFile(inner, "w") as zipped:
        zipped.writestr(f"carol/{CHAPTER}.ipynb", wrong)
    members = {
        f"doejane_LATE_1234_5678_{CHAPTER}-1.ipynb": good,  # Canvas
        f"Bob Smith_424242_assignsubmission_file_/{CHAPTER}.ipynb": wrong,  # Moodle
        "carol.zip": inner.read_bytes(),
        f"dave/{CHAPTER}/{CHAPTER}.ipynb": good,  # nbgrader's layout
        "eve.ipynb": good,
    }

    def write_bulk(extra: dict) -> None:
        with zipfile.ZipFile(bulk, "w") as zipped:
            for name, data in {**members, **extra}.items():
                zipped.writestr(name, data)

    write_bulk({"../escape.ipynb": good})
    result = grade(bulk, tmp_path / "out", tmp_path / "work", check=False)
    assert result.returncode == 2, "a bulk zip with a path outside itself must be refused"
    assert "outside its folder" in result.stderr

    write_bulk({})
    grades = grade(bulk, tmp_path / "out", tmp_path / "work")
    scores = {student: float(row["score"]) for student, row in grades.items()}
    assert scores == {"doejane": MAX_SCORE, "p424242": expected({"test_relu"}),
                      "carol": expected({"test_relu"}), "dave": MAX_SCORE, "eve": MAX_SCORE}
    assert {row["status"] for row in grades.values()} == {"graded"}


def test_a_killed_run_resumes_with_nothing_lost(tmp_path):
    subs = tmp_path / "subs"
    for index in range(6):
        answers = {"relu": WRONG_RELU} if index % 2 else {}
        write(subs, f"s{index}", notebook(answers))

    work = tmp_path / "work"
    command = grade_command(CHAPTER, subs, tmp_path / "out", work, *FAST, "--workers", "1")

    def stop_after(verdicts: int, how: signal.Signals) -> tuple[int, str, int]:
        """Start the grader, stop it once ``verdicts`` are saved; (exit code, stderr, saved)."""
        process = subprocess.Popen(command, cwd=ROOT, env=tool_env(), start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(list(work.glob("verdicts/*/*.json"))) < verdicts:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        if how == signal.SIGINT:
            process.send_signal(signal.SIGINT)  # Ctrl-C
        else:
            os.killpg(process.pid, signal.SIGKILL)  # the grader and everything it started
        _, stderr = process.communicate(timeout=60)
        return process.returncode, stderr, len(list(work.glob("verdicts/*/*.json")))

    code, stderr, saved = stop_after(2, signal.SIGINT)
    assert code == 130 and "run the same command again to resume" in stderr, stderr
    assert 2 <= saved < 6
    code, stderr, done_before = stop_after(saved + 2, signal.SIGKILL)
    assert code == -signal.SIGKILL and saved + 2 <= done_before < 6, "killed halfway"

    grades = grade(subs, tmp_path / "out", work)
    assert {s: (float(r["score"]), r["status"]) for s, r in grades.items()} == {
        f"s{i}": (expected({"test_relu"}) if i % 2 else MAX_SCORE, "graded") for i in range(6)}
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    reused = [s for s, r in report["students"].items() if r["reused"]]
    assert len(reused) == done_before
    # Once more: the same grades, nothing graded twice in the gradebook.
    again = grade(subs, tmp_path / "out", work)
    assert again == grades
    assert gradebook_scores(f"sqlite:///{work / 'gradebook.db'}") == {
        s: float(row["score"]) for s, row in grades.items()}


def test_postgres_gradebook_with_two_graders_at_once(tmp_path, postgres_url):
    halves = {"a": tmp_path / "half_a", "b": tmp_path / "half_b"}
    for index in range(4):
        answers = {"relu": WRONG_RELU} if index % 2 else {}
        write(halves["a" if index < 2 else "b"], f"pg{index}", notebook(answers))
    runs = [subprocess.Popen(
        grade_command(CHAPTER, folder, tmp_path / f"out_{key}", tmp_path / f"work_{key}",
                      "--db", postgres_url, *FAST),
        cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for key, folder in halves.items()]
    for run in runs:
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0, output
    assert gradebook_scores(postgres_url) == {
        "pg0": MAX_SCORE, "pg1": expected({"test_relu"}),
        "pg2": MAX_SCORE, "pg3": expected({"test_relu"})}


def test_no_sandbox_means_no_grading_unless_unsafe(tmp_path):
    write(tmp_path / "subs", "alice", notebook({"relu": WRONG_RELU}))
    env_path = str(BIN)  # no /usr/bin: bubblewrap cannot be found
    args = grade_command(CHAPTER, tmp_path / "subs", tmp_path / "out", tmp_path / "work", *FAST)
    refused = subprocess.run(args, cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PATH": env_path})
    assert refused.returncode == 2
    assert "bubblewrap" in refused.stderr and "--unsafe" in refused.stderr
    unsafe = subprocess.run([*args, "--unsafe"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PATH": env_path}, timeout=600)
    assert unsafe.returncode == 0, unsafe.stderr
    assert "WITHOUT a sandbox" in unsafe.stderr
    assert float(read_grades(tmp_path / "out")["alice"]["score"]) == expected({"test_relu"})


def test_a_failure_to_record_never_reports_a_grade(tmp_path, monkeypatch):
    """A student whose verdicts cannot be recorded is 'crashed', never 'graded' with 0; a
    feedback page that cannot be annotated costs the box, not the grade."""
    from autograder import course
    from autograder import feedback_writer as writer
    from autograder import grade as grading

    for student in ("alice", "bob", "carol"):
        write(tmp_path / "subs", student, notebook())
    record = grading._record

    def flaky(nbgrader, result):
        if result.student_id == "bob":
            raise RuntimeError("the gradebook went away")
        record(nbgrader, result)

    monkeypatch.setattr(grading, "_record", flaky)
    results = {r.student_id: r for r in grading.grade(
        CHAPTER, tmp_path / "subs", tmp_path / "out", work=tmp_path / "work", workers=1)}
    assert results["bob"].status == "crashed" and "could not be recorded" in results["bob"].message
    assert not (tmp_path / "out" / "feedback" / "bob.html").exists()
    for student in ("alice", "carol"):  # graded after bob's failure: still recorded
        assert results[student].status == "graded", results[student]
        assert results[student].score == MAX_SCORE
        assert (tmp_path / "out" / "feedback" / f"{student}.html").is_file()

    # The pages are written in another process; the box's failure, here, in this one.
    def broken_box(page, tests, site_url=None):
        raise ImportError("a check module could not be imported")

    monkeypatch.setattr(writer.feedback, "annotate", broken_box)
    nbgrader = course.Course(tmp_path / "work", CHAPTER)
    (tmp_path / "again").mkdir()
    try:
        notes = writer.write_pages(nbgrader, "alice", results["alice"].tests, tmp_path / "again")
    finally:
        nbgrader.close()
    assert notes and "What to revisit" in notes[0] and "ImportError" in notes[0]
    assert (tmp_path / "again" / "feedback" / "alice.html").is_file()
