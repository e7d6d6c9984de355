"""Every chapter's assignment, end to end through nbgrader.

For each chapter in solutions/:
1. the solution notebook passes all its tests (visible and hidden);
2. the release notebook as shipped fails every graded test: a stub never earns a point;
3. notebooks/ is exactly what `make release` generates from solutions/;
4. a fabricated class (correct, all stubs, one wrong function, deleted and edited test
   cells, malformed files, a cell that never ends or ends the process) is graded by
   `python -m autograder grade` with full, zero and the exact partial scores.
   (tests/test_grading.py holds the hostile corpus, resumed runs, LMS inputs, PostgreSQL.)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import nbformat
import pytest
from nbgrader.validator import Validator
from nbtools import (
    CHAPTERS,
    ROOT,
    fill_in,
    grade_cells,
    grade_command,
    read,
    read_grades,
    run_tool,
    solution_sources,
)


@dataclass(frozen=True)
class WrongAnswer:
    """A plausible mistake in one solution cell, and the test cells it must fail."""

    grade_id: str
    source: str
    fails: tuple[str, ...]


# One deliberate mistake per chapter: add an entry when you add a chapter.
WRONG_ANSWERS = {
    "01_activations": WrongAnswer(
        "clip_by_value",
        "def clip_by_value(grads, clip_value):\n"
        "    # forgets the lower bound -clip_value\n"
        "    return [np.minimum(np.asarray(g, dtype=float), clip_value) for g in grads]\n",
        ("test_clip_by_value",),
    ),
    "02_initialization": WrongAnswer(
        "kaiming_uniform",
        "def kaiming_uniform(fan_in, fan_out, mode='fan_in', gain=2**0.5, seed=0):\n"
        "    # the lecture's sqrt(6/fan) times the gain: twice He's variance\n"
        "    fan = fan_in if mode == 'fan_in' else fan_out\n"
        "    bound = gain * np.sqrt(6.0 / fan)\n"
        "    return np.random.default_rng(seed).uniform(-bound, bound, (fan_out, fan_in))\n",
        ("test_kaiming_uniform",),
    ),
    "03_regularization": WrongAnswer(
        "adamw_step",
        "def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999),\n"
        "               eps=1e-8, weight_decay=1e-2):\n"
        "    # Adam + L2: the decay is coupled into the gradient instead of decoupled\n"
        "    grad = np.asarray(grad, dtype=float) + weight_decay * np.asarray(param, dtype=float)\n"
        "    m = betas[0] * exp_avg + (1 - betas[0]) * grad\n"
        "    v = betas[1] * exp_avg_sq + (1 - betas[1]) * grad**2\n"
        "    m_hat, v_hat = m / (1 - betas[0]**step), v / (1 - betas[1]**step)\n"
        "    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m, v\n",
        ("test_adamw_step",),
    ),
    "04_gradient_descent": WrongAnswer(
        "minibatch_sgd",
        "def minibatch_sgd(X, y, theta0, lr, batch_size, epochs, seed):\n"
        "    # a new generator every epoch: every epoch repeats the same order\n"
        "    theta = np.array(theta0, dtype=float)\n"
        "    path = [theta]\n"
        "    for _ in range(epochs):\n"
        "        order = np.random.default_rng(seed).permutation(len(y))\n"
        "        for start in range(0, len(y), batch_size):\n"
        "            b = order[start:start + batch_size]\n"
        "            theta = theta - lr * X[b].T @ (X[b] @ theta - y[b]) / len(b)\n"
        "        path.append(theta)\n"
        "    return np.array(path)\n",
        ("test_minibatch_sgd",),
    ),
    "05_optimizers": WrongAnswer(
        "adam_step",
        "def adam_step(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
        "    # no bias correction: m and v are used as they are\n"
        "    step = state.get('step', 0) + 1\n"
        "    m = betas[0] * state.get('exp_avg', 0.0) + (1 - betas[0]) * grad\n"
        "    v = betas[1] * state.get('exp_avg_sq', 0.0) + (1 - betas[1]) * grad**2\n"
        "    new_state = {'step': step, 'exp_avg': m, 'exp_avg_sq': v}\n"
        "    return theta - lr * m / (np.sqrt(v) + eps), new_state\n",
        ("test_adam_step",),
    ),
    "06_schedules": WrongAnswer(
        "step_lr",
        "def step_lr(step, lr0, step_size, gamma=0.1):\n"
        "    # off by one: the first decay comes at step step_size - 1\n"
        "    return lr0 * gamma ** ((step + 1) // step_size)\n",
        ("test_step_lr",),
    ),
    "07_polyak_averaging": WrongAnswer(
        "ema_debiased",
        "def ema_debiased(ema, step, decay=0.999):\n"
        "    # off by one: the power of the next step, 1 - decay**(step + 1)\n"
        "    return np.asarray(ema, dtype=float) / (1 - decay ** (step + 1))\n",
        ("test_ema_debiased",),
    ),
    "08_batch_norm": WrongAnswer(
        "batchnorm_backward",
        "def batchnorm_backward(dout, cache):\n"
        "    # the gradient stops at A_hat: no path through the batch mean and deviation\n"
        "    A_hat, sigma, gamma = cache['A_hat'], cache['sigma'], cache['gamma']\n"
        "    dA = dout * gamma / sigma\n"
        "    return dA, np.sum(dout * A_hat, axis=0), np.sum(dout, axis=0)\n",
        ("test_batchnorm_backward",),
    ),
    "09_lenet_lab": WrongAnswer(
        "evaluate",
        "def evaluate(model, X, y, batch_size=1000):\n"
        "    # forgets model.eval(): dropout and batch norm stay in training mode\n"
        "    total_loss, correct = 0.0, 0\n"
        "    with torch.no_grad():\n"
        "        for start in range(0, len(X), batch_size):\n"
        "            logits = model(X[start:start + batch_size])\n"
        "            labels = y[start:start + batch_size]\n"
        "            total_loss += float(F.cross_entropy(logits, labels, reduction='sum'))\n"
        "            correct += int((logits.argmax(dim=1) == labels).sum())\n"
        "    return total_loss / len(X), correct / len(X)\n",
        ("test_evaluate",),
    ),
}


def grade_class(chapter, submissions, out, work, timeout=300) -> dict[str, dict]:
    """Run the grading command; return grades.csv as student_id -> row."""
    result = run_tool(grade_command(chapter, submissions, out, work, "--timeout", str(timeout)))
    assert result.returncode == 0, result.stdout + result.stderr
    return read_grades(out)


def points_after(notebook, grade_id: str) -> float:
    """Points of the test cells that come after the solution cell ``grade_id``."""
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]
    later = {i for i in ids[ids.index(grade_id) + 1:] if i}
    return sum(points for test, points in grade_cells(notebook).items() if test in later)


def solution_path(chapter):
    return ROOT / "solutions" / chapter / f"{chapter}.ipynb"


def release_path(chapter):
    return ROOT / "notebooks" / chapter / f"{chapter}.ipynb"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """notebooks/ as `make release` would write it now, in a scratch folder."""
    out = tmp_path_factory.mktemp("release")
    for chapter in CHAPTERS:
        result = run_tool(
            [sys.executable, "-m", "nbgrader", "generate_assignment", chapter, "--force",
             f"--CourseDirectory.release_directory={out}",
             f"--CourseDirectory.db_url=sqlite:///{out / 'gradebook.db'}"],
            cwd=ROOT / "autograder",
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_every_chapter_has_a_wrong_answer():
    assert CHAPTERS, "no chapter found under solutions/"
    missing = sorted(set(CHAPTERS) - set(WRONG_ANSWERS))
    assert not missing, f"add a WrongAnswer for {missing} in tests/test_assignments.py"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_is_in_sync(chapter, regenerated):
    fresh = read(regenerated / chapter / f"{chapter}.ipynb")
    assert release_path(chapter).is_file(), f"notebooks/{chapter} is missing: run make release"
    shipped = read(release_path(chapter))
    assert nbformat.writes(shipped) == nbformat.writes(fresh), (
        f"notebooks/{chapter}/{chapter}.ipynb differs from what solutions/ generates: "
        "run `make release` and commit (never edit notebooks/ by hand)"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_passes_all_tests(chapter):
    results = Validator().validate(str(solution_path(chapter)))
    failures = "\n\n".join(f["source"] + "\n" + f.get("raw_error", "")
                           for f in results.get("failed", []))
    assert results == {}, f"solution notebook fails:\n{failures or results}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_stubs_fail_every_test(chapter):
    release = read(release_path(chapter))
    graded = grade_cells(release)
    assert graded, f"{chapter}: the release has no graded test cell"
    results = Validator().validate(str(release_path(chapter)))
    assert "changed" not in results and "type_changed" not in results, results
    assert len(results.get("failed", [])) == len(graded), (
        f"{chapter}: {len(graded)} graded cells but only "
        f"{len(results.get('failed', []))} fail on the stubs"
    )
    assert Validator(invert=True).validate(str(release_path(chapter))) == {}


@pytest.mark.usefixtures("sandbox")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_grading_a_class(chapter, tmp_path):
    source, release = read(solution_path(chapter)), read(release_path(chapter))
    points = grade_cells(source)
    answers = solution_sources(source)
    wrong = WRONG_ANSWERS[chapter]
    assert wrong.grade_id in answers, f"{wrong.grade_id} is not a solution cell of {chapter}"

    submissions = tmp_path / "submissions"
    class_ = {
        "correct": fill_in(release, answers),
        "stubs": release,
        "one_wrong": fill_in(release, {**answers, wrong.grade_id: wrong.source}),
    }
    for student, notebook in class_.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / f"{chapter}.ipynb")
    # A student who deleted a test cell: the grader puts it back, the answers count.
    class_["deleted_a_test"] = fill_in(release, answers)
    first_test = next(iter(points))
    class_["deleted_a_test"].cells = [
        c for c in class_["deleted_a_test"].cells
        if c.metadata.get("nbgrader", {}).get("grade_id") != first_test
    ]
    for student, notebook in class_.items():
        if not (submissions / student).exists():
            (submissions / student).mkdir(parents=True)
            nbformat.write(notebook, submissions / student / f"{chapter}.ipynb")
    (submissions / "empty").mkdir()
    (submissions / "other_course").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                   submissions / "other_course" / "homework.ipynb")
    # Its test cell edited to pass: nbgrader runs the real test regardless.
    class_["edited_a_test"] = fill_in(release, {**answers, wrong.grade_id: wrong.source})
    for cell in class_["edited_a_test"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in wrong.fails:
            cell.source = "pass"
    (submissions / "edited_a_test").mkdir()
    nbformat.write(class_["edited_a_test"], submissions / "edited_a_test" / f"{chapter}.ipynb")
    odd_name = os.fsdecode(b"bad\xffname")  # not UTF-8: must not break the CSV
    (submissions / odd_name).mkdir()
    (submissions / "garbled").mkdir()
    (submissions / "garbled" / f"{chapter}.ipynb").write_text("{ not a notebook")

    out = tmp_path / "out"
    grades = grade_class(chapter, submissions, out, tmp_path / "work")
    max_score = sum(points.values())
    expected = {
        "correct": max_score,
        "stubs": 0.0,
        "one_wrong": max_score - sum(points[test] for test in wrong.fails),
        "deleted_a_test": max_score,
        "edited_a_test": max_score - sum(points[test] for test in wrong.fails),
    }
    for student, score in expected.items():
        row = grades[student]
        assert row["status"] == "graded", row
        assert float(row["max_score"]) == max_score, row
        assert float(row["score"]) == score, f"{student}: expected {score}, got {row}"
    for student in ("garbled", "empty", "other_course"):
        assert grades[student]["status"] == "malformed", grades[student]
        assert float(grades[student]["max_score"]) == max_score
    assert "another assignment" in grades["other_course"]["message"]
    assert first_test in grades["deleted_a_test"]["message"]
    assert grades["bad\\xffname"]["status"] == "malformed"
    assert float(grades["garbled"]["score"]) == 0.0

    report = json.loads((out / "report.json").read_text())
    failed = {t for t, r in report["students"]["one_wrong"]["tests"].items() if not r["passed"]}
    assert failed == set(wrong.fails)

    feedback = (out / "feedback" / "one_wrong.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in feedback
    assert "AssertionError: " in feedback, "feedback should show each failing check's message"
    assert "most recent call last" not in feedback, "tracebacks would quote the hidden tests' code"


@pytest.mark.usefixtures("sandbox")
def test_grader_survives_notebooks_that_hang_or_crash(tmp_path):
    """A cell that never ends, or ends the process, costs only what it defines."""
    chapter = CHAPTERS[0]
    source, release = read(solution_path(chapter)), read(release_path(chapter))
    answers = solution_sources(source)
    last_answer = list(answers)[-1]
    bad = {
        "looper": fill_in(release, {**answers, last_answer: "while True:\n    pass\n"}),
        "killer": fill_in(release, {**answers, last_answer: "import os\nos._exit(1)\n"}),
    }
    for student, notebook in bad.items():
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "subs" / student / f"{chapter}.ipynb")
    grades = grade_class(chapter, tmp_path / "subs", tmp_path / "out", tmp_path / "work",
                         timeout=5)
    max_score = sum(grade_cells(source).values())
    for student in bad:
        assert grades[student]["status"] == "graded", grades[student]
        assert float(grades[student]["score"]) == max_score - points_after(source, last_answer)
        assert float(grades[student]["max_score"]) == max_score
    assert "did not finish within 5 s" in grades["looper"]["message"]
    assert "exited with code 1" in grades["killer"]["message"]
