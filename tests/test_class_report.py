"""A class of chapter 05 graded end to end, as an instructor gets it from Canvas: correct work,
stubs, plausible mistakes, a disguised copy, an answer built on the forbidden torch.optim, a
submission that runs out of time and a garbled file. What the instructor reads afterwards:
report.json's misconceptions, the feedback's "What to revisit", the class report in Chromium,
the similar pair, the forbidden status, the Canvas import file, and the comparison with an
earlier run kept in the gradebook."""

from __future__ import annotations

import csv
import json
import re
import zipfile

import nbformat
import pytest
from browser import offline_context, serve
from classgen import CHAPTER, MISTAKES, apply
from nbtools import ROOT, fill_in, grade_command, read, read_grades, run_tool, solution_sources

from descent.checks.misconceptions import all_misconceptions

# Each student's mistakes, by the description in classgen.MISTAKES.
PLANNED = {
    "carol": ["no bias correction", "ε inside the root", "PyTorch's buffer convention"],
    "erin": ["Keras's ε̂", "ε outside the max", "hard-coded ε"],
}
FORBIDDEN_ADAM = '''def adam_step(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    import torch
    param = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([param], lr=lr, betas=betas, eps=eps)
    param.grad = torch.tensor(grad, dtype=torch.float64)
    optimizer.step()
    return param.detach().numpy(), dict(state)
'''
# Carol's own way of writing four rules (right answers, not the model's): what a copy of her
# notebook carries besides her mistakes.
CAROL_OWN = {
    "nesterov_step": '''def nesterov_step(theta, grad, state, lr=0.01, momentum=0.9):
    x, g = np.array(theta, dtype=float), np.array(grad, dtype=float)
    v = momentum * np.array(state.get("velocity", 0.0 * x), dtype=float) + lr * g
    return x - momentum * v - lr * g, {"velocity": v}
''',
    "adadelta_step": '''def adadelta_step(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    x = np.array(theta, dtype=float)
    g = np.array(grad, dtype=float)
    Eg2 = state["square_avg"] if "square_avg" in state else np.zeros(x.shape)
    Edx2 = state["acc_delta"] if "acc_delta" in state else np.zeros(x.shape)
    Eg2 = rho * Eg2 + (1.0 - rho) * g ** 2
    update = g * np.sqrt(Edx2 + eps) / np.sqrt(Eg2 + eps)
    Edx2 = rho * Edx2 + (1.0 - rho) * update ** 2
    return x - lr * update, dict(square_avg=Eg2, acc_delta=Edx2)
''',
    "amsgrad_step": '''def amsgrad_step(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    x, g = np.array(theta, dtype=float), np.array(grad, dtype=float)
    t = state.get("step", 0) + 1
    zeros = np.zeros(x.shape)
    m = b1 * state.get("exp_avg", zeros) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", zeros) + (1 - b2) * g ** 2
    vmax = np.maximum(state.get("max_exp_avg_sq", zeros), v)
    denom = np.sqrt(vmax / (1 - b2 ** t)) + eps
    x = x - lr / (1 - b1 ** t) * m / denom
    return x, {"step": t, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": vmax}
''',
    "delta_bar_delta_step": '''def delta_bar_delta_step(theta, grad, state, lr=0.01, kappa=1e-3,
                         phi=0.1, decay=0.7):
    x, g = np.array(theta, dtype=float), np.array(grad, dtype=float)
    rates = np.array(state.get("lr", lr * np.ones(x.shape)), dtype=float)
    avg = np.array(state.get("bar_grad", np.zeros(x.shape)), dtype=float)
    sign = np.sign(avg * g)
    rates[sign > 0] += kappa
    rates[sign < 0] *= 1.0 - phi
    avg = (1.0 - decay) * g + decay * avg
    return x - rates * g, {"lr": rates, "bar_grad": avg}
''',
}
# Canvas's bulk download: <name>_[LATE_]<user id>_<attachment id>_<file name>.
CANVAS_IDS = {"alice": 101, "bob": 102, "carol": 103, "dave": 104, "erin": 105, "frank": 106,
              "gina": 107, "hana": 108, "ivan": 109}


def _renamed(source: str) -> str:
    """A copy in disguise: other names, other comments."""
    for old, new in (("exp_avg_sq", "second"), ("exp_avg", "first"), ("square_avg", "sq"),
                     ("velocity", "vel"), ("theta", "params"), ("grad", "g")):
        source = source.replace(old, new)
    return source.replace("# ", "# note: ")


def _chosen(what: list[str]) -> list:
    """The mistakes described, each in a function not used by the ones before."""
    chosen = []
    for description in what:
        chosen.append(next(m for m in MISTAKES if m.what == description
                           and m.grade_id not in {c.grade_id for c in chosen}))
    return chosen


def _mistaken(answers: dict[str, str], what: list[str]) -> dict[str, str]:
    for mistake in _chosen(what):
        answers = apply(answers, mistake)  # (none in a function of CAROL_OWN)
    return answers


SOURCE = read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory, sandbox):
    folder = tmp_path_factory.mktemp("class")
    release = read(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb")
    model, stubs = solution_sources(SOURCE), solution_sources(release)
    carol = _mistaken({**model, **CAROL_OWN}, PLANNED["carol"])
    notebooks = {
        "alice": fill_in(release, model),
        "bob": release,
        "carol": fill_in(release, carol),
        "dave": fill_in(release, {k: _renamed(v) for k, v in carol.items()}),
        "erin": fill_in(release, _mistaken(dict(model), PLANNED["erin"])),
        "frank": fill_in(release, {**model, "adam_step": FORBIDDEN_ADAM}),
        # A cheat: Adam left undone, and the check it will meet replaced by one that passes.
        "ivan": fill_in(release, {**model, "adam_step": stubs["adam_step"] +
                                  "\n\nchecks.check_adam_step = lambda *args, **kwargs: None\n"}),
        "gina": fill_in(release, {k: v.replace('    theta = np.asarray(theta, dtype=float)',
                                                '    while True:\n        pass') for k, v in
                                  model.items()}),
    }
    bulk = folder / "canvas.zip"
    with zipfile.ZipFile(bulk, "w") as archive:
        for student, notebook in notebooks.items():
            late = "LATE_" if student == "dave" else ""
            number = CANVAS_IDS[student]
            name = f"{student}_{late}{number}_{9000 + number}_{CHAPTER}.ipynb"
            archive.writestr(name, nbformat.writes(notebook))
        archive.writestr(f"hana_108_9108_{CHAPTER}.ipynb", "{ not a notebook")
    out, work = folder / "out", folder / "work"
    command = grade_command(CHAPTER, bulk, out, work, "--timeout", "5",
                            "--submission-timeout", "40", "--site-url", "https://course.example")
    first = run_tool(command)
    assert first.returncode == 0, first.stdout + first.stderr
    # The same class graded again (verdicts reused): the gradebook now holds an earlier run.
    again = run_tool(command)
    assert again.returncode == 0, again.stdout + again.stderr
    return out


def _points(test_id: str) -> float:
    return next(float(c.metadata["nbgrader"]["points"]) for c in SOURCE.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == test_id)


def test_statuses_and_scores(graded):
    grades = read_grades(graded)
    max_score = float(grades["alice"]["max_score"])
    assert float(grades["alice"]["score"]) == max_score and grades["alice"]["status"] == "graded"
    assert float(grades["bob"]["score"]) == 0.0
    assert grades["frank"]["status"] == "forbidden", grades["frank"]
    assert "torch.optim" in grades["frank"]["message"]
    assert float(grades["frank"]["score"]) < max_score  # the blocked Adam fails its test
    assert grades["gina"]["status"] == "timeout", grades["gina"]
    assert grades["hana"]["status"] == "malformed"
    # The cheat earns what leaving Adam undone earns.
    assert float(grades["ivan"]["score"]) == max_score - _points("test_adam_step")
    for student in ("carol", "erin"):
        assert grades[student]["status"] == "graded"
        assert 0 < float(grades[student]["score"]) < max_score


def test_each_planned_mistake_is_named(graded):
    report = json.loads((graded / "report.json").read_text())
    known = all_misconceptions()
    for student, planned in PLANNED.items():
        failed = {t: r for t, r in report["students"][student]["tests"].items()
                  if not r["passed"]}
        functions = {m.grade_id for m in _chosen(planned)}
        assert {f"test_{name}" for name in functions} <= set(failed), (student, set(failed))
        for test, result in failed.items():
            assert result["misconceptions"], f"{student}: {test} names no misconception: " \
                                             f"{result['message'][:300]}"
            assert set(result["misconceptions"]) <= set(known), result["misconceptions"]
    uses = report["students"]["frank"]["forbidden"]
    assert {(u["api"], u["how"]) for u in uses} >= {("torch.optim", "static")}
    assert any(u["how"] == "run time" for u in uses), uses


def test_feedback_says_what_to_revisit(graded):
    page = (graded / "feedback" / "carol.html").read_text()
    assert "What to revisit" in page
    assert re.search(r'href="https://course\.example/book/05_(optimizers|adaptive)\.html#', page)


def test_similar_pair_and_earlier_run(graded):
    report = json.loads((graded / "report.json").read_text())
    pairs = {tuple(sorted(p["students"])) for p in report["similarity"]}
    assert ("carol", "dave") in pairs, report["similarity"]
    assert not any("alice" in pair and "erin" in pair for pair in pairs)
    assert report["history"], "the first run should be in the gradebook"


def test_canvas_import_file(graded):
    with open(graded / "canvas_gradebook.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    header, points, *students = rows
    assert header[:2] == ["Student", "ID"] and "Points Possible" in points[0]
    by_id = {row[1]: row for row in students}
    grades = read_grades(graded)
    for student in ("alice", "carol", "frank", "gina"):
        assert float(by_id[str(CANVAS_IDS[student])][-1]) == float(grades[student]["score"])
    assert str(CANVAS_IDS["hana"]) not in by_id  # malformed: no grade is invented


def test_class_report_in_a_browser(browser, graded):
    html = (graded / "report.html").read_text()
    assert "carol" in html and "forbidden" in html
    context, traffic = offline_context(browser, viewport={"width": 1280, "height": 900})
    try:
        with serve(graded) as base_url:
            tab = context.new_page()
            errors = []
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.goto(base_url + "report.html", wait_until="load")
            assert not traffic.problems(), traffic.problems()
            assert not errors, errors
            assert tab.get_by_text("carol").first.is_visible()
    finally:
        context.close()
