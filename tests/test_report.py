"""The class report (autograder.report), similar submissions (autograder.similarity) and earlier
runs kept in the gradebook (autograder.history).

The report is written from a synthetic report.json (every status, misconceptions, similar
pairs, earlier runs, and hostile strings where a student controls the text), checked as HTML,
then loaded once in headless Chromium with no network: no error, nothing requested off the
machine, the tables sort, the hostile script never runs. Similarity is measured on chapter
05's answers: the model answer, an independently written correct solution, and a copy of
the model answer with renamed variables and new comments.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import random
import re
import tokenize
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa
from browser import offline_context, serve
from nbtools import ROOT, nbgrader_meta, read, solution_sources

from autograder import history, report, similarity

HOSTILE_ID = "<script>window.pwned = 'id'</script>"
HOSTILE_MESSAGE = "<img src=x onerror=\"window.pwned = 'message'\"></td></tr></table>"
HOSTILE_CODE = "x = 1  # </code></pre><script>window.pwned = 'code'</script>"

# --- a synthetic class of chapter 01 ----------------------------------------------------------

# test id -> (points, how often it fails, misconceptions its failures show)
TASKS = {
    "test_sigmoid": (1, 0.25, ["sigmoid.overflow", "sigmoid.sign-flipped"]),
    "test_sigmoid_grad": (1, 0.15, ["sigmoid.derivative-is-value", "sigmoid.derivative-of-input"]),
    "test_tanh_grad": (1, 0.15, ["tanh.missing-square", "tanh.derivative-of-input"]),
    "test_relu": (1, 0.05, ["relu.min-not-max"]),
    "test_relu_grad": (1, 0.2, ["relu.grad-at-zero", "relu.derivative-is-value"]),
    "test_elu": (1, 0.3, ["elu.missing-minus-one", "elu.overflow", "elu.alpha-on-positive-branch"]),
    "test_elu_grad": (1, 0.3, ["elu.grad-at-zero", "elu.derivative-minus-one"]),
    "test_scalar_chain_grad": (2, 0.45, ["chain.off-by-one", "chain.missing-weight",
                                         "chain.reversed", "mycourse.bias-forgotten"]),
    "test_clip_by_value": (1, 0.1, ["clipping.one-sided"]),
    "test_clip_by_global_norm": (2, 0.4, ["clipping.per-tensor-norm", "clipping.always-rescaled",
                                          "clipping.squared-norm"]),
}
NAMES = ("ada alan barbara claude dennis edsger frances grace john katherine ken leslie "
         "linus margaret niklaus radia robin shafi sophie tim tony vint whitfield yukihiro").split()
STARTED = datetime(2026, 12, 6, 7, 10, tzinfo=UTC)


def _message(tag: str | None) -> str:
    from descent.checks.misconceptions import all_misconceptions

    known = all_misconceptions().get(tag)
    why = str(known) if known else (
        f"is the bias added before the activation? [misconception: {tag}]" if tag else
        "could not broadcast input array from shape (3,) into shape (2,)")
    return ("AssertionError: the value at index (2,): expected 0.8807971, got 0.8807970 "
            f"(relative error 1.1e-07) — {why}")


def _student(rng: random.Random, name: str, hardness: float) -> dict:
    ability = rng.random()
    tests = {}
    for test_id, (points, fails, tags) in TASKS.items():
        failed = rng.random() < fails * hardness * (0.3 + 1.4 * (1 - ability))
        tag = rng.choice([*tags, None]) if failed else None
        tests[test_id] = {"notebook": "01_activations", "passed": not failed,
                          "score": 0.0 if failed else float(points), "max_score": float(points),
                          "message": _message(tag) if failed else "",
                          "misconceptions": [tag] if tag else []}
    score = sum(t["score"] for t in tests.values())
    return {"student_id": name, "status": "graded", "score": score, "max_score": 12.0,
            "message": "", "seconds": round(rng.uniform(3, 14), 1), "reused": False,
            "record_seconds": 0.9, "forbidden": [], "tests": tests}


def synthetic_class(*, seed: int = 0, hostile: bool = False, hardness: float = 1.0,
                    finished: datetime = STARTED) -> dict:
    """A report.json of chapter 01 for a class of 24: mostly graded, one of each other
    status; with ``hostile``, a student id, a message and code that try to run script."""
    rng = random.Random(seed)
    students = {name: _student(rng, name, hardness) for name in NAMES}
    own = "mycourse.bias-forgotten"  # an instructor's own tag: not in the course's registry
    students["alan"]["tests"]["test_scalar_chain_grad"].update(
        passed=False, score=0.0, message=_message(own), misconceptions=[own])
    students["alan"]["score"] = sum(t["score"] for t in students["alan"]["tests"].values())
    students["grace"].update(status="timeout", message=(
        "the submission's time limit ran out; tests not reached score 0."))
    for test_id in list(students["grace"]["tests"])[6:]:
        students["grace"]["tests"][test_id].update(
            passed=False, score=0.0, misconceptions=[],
            message="CellTimeout: the submission's time budget ran out")
    students["grace"]["score"] = sum(t["score"] for t in students["grace"]["tests"].values())
    students["tony"].update(status="forbidden", forbidden=[
        {"api": "torch.autograd", "where": "scalar_chain_grad", "how": "static",
         "notebook": "01_activations"}], message=(
        "uses what the assignment forbids: torch.autograd (the score is what the tests gave)."))
    for name, status, message in (
            ("ken", "malformed", "01_activations.ipynb has none of the graded cells of "
                                 "01_activations.ipynb (a notebook of another assignment?)"),
            ("vint", "duplicate", "duplicate: vint/ and vint.zip; keep one"),
            ("yukihiro", "crashed", "nbgrader could not record this notebook: KeyError")):
        students[name].update(status=status, message=message, tests={}, score=0.0)
    if hostile:
        students[HOSTILE_ID] = {"student_id": HOSTILE_ID, "status": "malformed", "score": 0.0,
                                "max_score": 12.0, "message": HOSTILE_MESSAGE, "tests": {}}
        students["edsger"]["tests"]["test_relu"].update(
            passed=False, score=0.0, message=HOSTILE_MESSAGE,
            misconceptions=["relu.min-not-max", "<b>bold</b>"])
    return {"assignment": "01_activations", "max_score": 12.0,
            "run": {"sandbox": "bubblewrap 0.8.0", "workers": 1, "limits": {}, "findings": [],
                    "seconds": 81.2, "finished": finished.isoformat(timespec="seconds")},
            "students": dict(sorted(students.items()))}


def class_with_history(*, hostile: bool = False) -> dict:
    """This run, two earlier ones (harder: the book improved since), and a copied pair."""
    data = synthetic_class(hostile=hostile)
    data["history"] = [
        {**history.summary(synthetic_class(seed=seed, hardness=hardness,
                                           finished=STARTED - timedelta(days=days))), "id": seed}
        for seed, hardness, days in ((1, 1.3, 365), (2, 1.6, 730))]
    chapter = "01_activations"
    model = _answers(chapter, solution_sources(_notebook(chapter)))
    data["similarity"] = similarity.similar_pairs(
        {"margaret": model, "tim": _renamed(model)}, similarity.boilerplate(_notebook(chapter)))
    if hostile:
        data["similarity"].append({
            "students": [HOSTILE_ID, "edsger"], "similarity": 0.9, "overlap": 400,
            "shares": {HOSTILE_ID: 0.9, "edsger": 0.8},
            "cells": [{"cell": "relu", "share": 0.9,
                       "code": {HOSTILE_ID: HOSTILE_CODE, "edsger": HOSTILE_CODE},
                       "matches": {HOSTILE_ID: [[0, 20]], "edsger": [[5, 40]]}}]})
    return data


# --- answers of a chapter, as students hand them in --------------------------------------------

def _notebook(chapter: str):
    return read(ROOT / "solutions" / chapter / f"{chapter}.ipynb")


def _answers(chapter: str, bodies: dict[str, str]) -> str:
    """A student's answer code: the chapter's answer cells as released, the stub of each
    answered one replaced by ``bodies[cell id]`` (a whole cell's source when it has a def)."""
    notebook = copy.deepcopy(_notebook(chapter))
    for cell in notebook.cells:
        cell_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution"):
            released = similarity.released(cell.source)
            body = bodies.get(cell_id)
            cell.source = (body if body and body.lstrip().startswith("def ") else
                           released.replace("    # YOUR CODE HERE\n    raise NotImplementedError()",
                                            body) if body else released)
    return similarity.answer_code(notebook, {nbgrader_meta(c).get("grade_id")
                                             for c in notebook.cells})


def _renamed(code: str) -> str:
    """A copy as it is disguised: every local variable renamed, every comment rewritten."""
    tree = ast.parse(code)
    parameters = {a.arg for node in ast.walk(tree) if isinstance(node, ast.arguments)
                  for a in node.args + node.kwonlyargs}
    stored = sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
                     and isinstance(node.ctx, ast.Store)} - parameters)
    names = {name: f"my_{name[::-1]}_{i}" for i, name in enumerate(stored)}
    tokens, previous = [], None
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and token.string in names and not (
                previous and previous.string == "."):
            token = token._replace(string=names[token.string])
        elif token.type == tokenize.COMMENT and "answer cell" not in token.string:
            token = token._replace(string="# worked this out myself")
        tokens.append(token)
        previous = token
    return re.sub(r"^( +)return ", r"\1# worked this out myself\n\1return ",
                  tokenize.untokenize(tokens), flags=re.M)


# An independently written correct solution of chapter 05, in the docstrings' own notation
# (the honest submission nearest to the model answer: same idioms, same names); checked
# against the chapter's checks below.
INDEPENDENT_05 = '''
def momentum_step(theta, grad, state, lr=0.01, momentum=0.9):
    theta = np.asarray(theta, dtype=float)
    v = state.get("velocity", np.zeros_like(theta))
    v = momentum * v + lr * np.asarray(grad, dtype=float)
    return theta - v, {"velocity": v}

def nesterov_step(theta, grad, state, lr=0.01, momentum=0.9):
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    v = momentum * state.get("velocity", np.zeros_like(theta)) + lr * grad
    return theta - momentum * v - lr * grad, {"velocity": v}

def adagrad_step(theta, grad, state, lr=0.01, eps=1e-10):
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    G = state.get("sum", np.zeros_like(theta)) + grad ** 2
    return theta - lr * grad / (np.sqrt(G) + eps), {"sum": G}

def adadelta_step(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    sq = rho * state.get("square_avg", np.zeros_like(theta)) + (1 - rho) * grad ** 2
    acc = state.get("acc_delta", np.zeros_like(theta))
    delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * grad
    acc = rho * acc + (1 - rho) * delta ** 2
    return theta - lr * delta, {"square_avg": sq, "acc_delta": acc}

def rmsprop_step(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    s = alpha * state.get("square_avg", np.zeros_like(theta)) + (1 - alpha) * grad ** 2
    return theta - lr * grad / (np.sqrt(s) + eps), {"square_avg": s}

def adam_step(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    t = state.get("step", 0) + 1
    m = beta1 * state.get("exp_avg", np.zeros_like(theta)) + (1 - beta1) * grad
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(theta)) + (1 - beta2) * grad ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}

def adamax_step(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    t = state.get("step", 0) + 1
    m = beta1 * state.get("exp_avg", np.zeros_like(theta)) + (1 - beta1) * grad
    u = np.maximum(beta2 * state.get("exp_inf", np.zeros_like(theta)), np.abs(grad) + eps)
    return theta - lr / (1 - beta1 ** t) * m / u, {"step": t, "exp_avg": m, "exp_inf": u}

def nadam_step(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
               momentum_decay=4e-3):
    beta1, beta2 = betas
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    t = state.get("step", 0) + 1
    mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    prod = state.get("mu_product", 1.0) * mu_t
    m = beta1 * state.get("exp_avg", np.zeros_like(theta)) + (1 - beta1) * grad
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(theta)) + (1 - beta2) * grad ** 2
    v_hat = v / (1 - beta2 ** t)
    step1 = lr * (1 - mu_t) / (1 - prod) * grad / (np.sqrt(v_hat) + eps)
    step2 = lr * mu_next / (1 - prod * mu_next) * m / (np.sqrt(v_hat) + eps)
    return theta - step1 - step2, {"step": t, "mu_product": prod, "exp_avg": m, "exp_avg_sq": v}

def amsgrad_step(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    beta1, beta2 = betas
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    t = state.get("step", 0) + 1
    m = beta1 * state.get("exp_avg", np.zeros_like(theta)) + (1 - beta1) * grad
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(theta)) + (1 - beta2) * grad ** 2
    v_max = np.maximum(state.get("max_exp_avg_sq", np.zeros_like(theta)), v)
    m_hat = m / (1 - beta1 ** t)
    v_hat = v_max / (1 - beta2 ** t)
    new_state = {"step": t, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": v_max}
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), new_state

def delta_bar_delta_step(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    theta = np.asarray(theta, dtype=float)
    grad = np.asarray(grad, dtype=float)
    rates = state.get("lr", np.full_like(theta, lr))
    bar = state.get("bar_grad", np.zeros_like(theta))
    rates = np.where(bar * grad > 0, rates + kappa, rates)
    rates = np.where(bar * grad < 0, rates * (1 - phi), rates)
    bar = (1 - decay) * grad + decay * bar
    return theta - rates * grad, {"lr": rates, "bar_grad": bar}

def noisy_sgd_step(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    theta = np.asarray(theta, dtype=float)
    step = state.get("step", 0) + 1
    t = step - 1
    sigma = np.sqrt(eta / (1 + t) ** gamma)
    xi = np.random.default_rng([seed, t]).standard_normal(theta.shape)
    return theta - lr * (np.asarray(grad, dtype=float) + sigma * xi), {"step": step}
'''


def _bodies(module_source: str) -> dict[str, str]:
    """function name -> its body (indented), from a module's source."""
    lines = module_source.splitlines()
    return {node.name: "\n".join(lines[node.body[0].lineno - 1:node.end_lineno])
            for node in ast.parse(module_source).body if isinstance(node, ast.FunctionDef)}


@pytest.fixture(scope="module")
def chapter_05():
    """(model answers, the independent solution, two of its shortest answers alone, the
    boilerplate), as answer code."""
    bodies = _bodies(INDEPENDENT_05)
    shortest = {k: bodies[k] for k in ("adagrad_step", "rmsprop_step")}
    return (_answers("05_optimizers", solution_sources(_notebook("05_optimizers"))),
            _answers("05_optimizers", bodies), _answers("05_optimizers", shortest),
            similarity.boilerplate(_notebook("05_optimizers")))


# --- similarity ----------------------------------------------------------------------------

def test_the_independent_solution_is_correct():
    """The honest corpus is honest work: every answer passes the chapter's checks."""
    import numpy as np

    from descent.checks import optimizers as checks

    namespace = {"np": np}
    exec(INDEPENDENT_05, namespace)  # noqa: S102 - the test's own code
    for name in _bodies(INDEPENDENT_05):
        getattr(checks, f"check_{name}")(namespace[name])


def test_a_disguised_copy_is_flagged_and_honest_work_is_not(chapter_05):
    model, independent, shortest, given = chapter_05
    copied = _renamed(model)
    assert copied != model and "my_" in copied and "# worked this out myself" in copied
    pairs = similarity.similar_pairs(
        {"model": model, "copy": copied, "honest": independent}, given)
    assert [pair["students"] for pair in pairs] == [["copy", "model"]], pairs
    pair = pairs[0]
    assert pair["similarity"] >= 0.95 and pair["overlap"] > 3 * similarity.MIN_OVERLAP
    cell = pair["cells"][0]
    assert set(cell["code"]) == {"copy", "model"} and cell["matches"]["copy"]
    start, end = cell["matches"]["model"][0]
    assert cell["code"]["model"][start:end].strip(), "a match points at code"

    # Why the defaults: the honest solution stays well under the threshold; a brief honest
    # one (two short answers alone) is more alike, but shares too little to count.
    assert not similarity.similar_pairs({"model": model, "brief": shortest}, given)
    measured = [similarity.similar_pairs({"model": model, other: code}, given,
                                         threshold=0.0, min_overlap=0)[0]
                for other, code in (("honest", independent), ("brief", shortest))]
    assert measured[0]["similarity"] < similarity.THRESHOLD - 0.1
    assert measured[1]["similarity"] >= similarity.THRESHOLD
    assert measured[1]["overlap"] < similarity.MIN_OVERLAP


def test_what_everyone_was_given_or_writes_does_not_count():
    """The boilerplate is left out; so is, in a class, code that most of it shares."""
    def own(i: int) -> str:
        return "".join(f"    v{k} = v{k} * {i * 50 + k} + {k + 3 * i} - q[{i}]\n"
                       for k in range(30))

    common = "".join(f"    w = np.where(w > {k}, w * {k}, w + {k})\n" for k in range(20))
    answers = {f"s{i}": f"def f(w, q):\n{common}{own(i)}    return w\n" for i in range(6)}
    answers["s5"] = answers["s4"].replace("v", "u")  # a disguised copy of s4
    assert [p["students"] for p in similarity.similar_pairs(answers, [])] == [["s4", "s5"]]
    # Without the class's common part left out, every pair would be alike.
    assert len(similarity.similar_pairs(answers, [], threshold=0.4, crowd=100)) == 15
    # In a class of two, the common part is the whole story, unless it was given.
    pair = {s: answers[s] for s in ("s0", "s1")}
    assert similarity.similar_pairs(pair, [], threshold=0.4)
    assert not similarity.similar_pairs(pair, [f"def f(w, q):\n{common}"], threshold=0.4)


def test_class_pairs_reads_the_staged_notebooks(tmp_path):
    """As the grader calls it: the class's staged notebooks against the instructor's."""
    source = _notebook("01_activations")
    model = solution_sources(source)
    renamed = {cell: _renamed(code) for cell, code in model.items()}
    for student, answers in (("ada", model), ("alan", renamed), ("grace", {})):
        notebook = copy.deepcopy(source)
        for cell in notebook.cells:
            if nbgrader_meta(cell).get("solution"):
                cell_id = nbgrader_meta(cell)["grade_id"]
                cell.source = answers.get(cell_id) or similarity.released(cell.source)
        folder = tmp_path / "submitted" / student / "01_activations"
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / "01_activations.ipynb")
    sources = {"01_activations.ipynb": source}
    pairs = similarity.class_pairs(tmp_path, "01_activations", sources, ["ada", "alan", "grace"])
    assert [pair["students"] for pair in pairs] == [["ada", "alan"]]
    (tmp_path / "submitted" / "grace" / "01_activations" / "01_activations.ipynb").write_text("{")
    assert similarity.class_pairs(tmp_path, "01_activations", sources, ["ada", "grace"]) == []


@pytest.mark.parametrize("answers", [
    {}, {"alone": "x = 1\n" * 50}, {"a": "", "b": "   "}, {"a": "def (:::\n" * 40, "b": "if"},
    {"a": None, "b": 3, 4: "x"}, "not a dict",
])
def test_odd_input_gives_no_pairs(answers):
    assert similarity.similar_pairs(answers, ["", None]) == []


def test_answer_code_takes_the_answer_cells_in_order():
    notebook = _notebook("01_activations")
    code = similarity.answer_code(notebook, {"relu", "sigmoid"})
    assert code.index("answer cell sigmoid") < code.index("answer cell relu")
    assert "def relu" in code and "def elu" not in code
    assert similarity.answer_code(None, {"relu"}) == ""
    given = "\n".join(similarity.boilerplate(notebook))
    assert "raise NotImplementedError()" in given and "### BEGIN SOLUTION" not in given


# --- earlier runs --------------------------------------------------------------------------

def _round_trip(db_url: str, assignment: str) -> None:
    first = history.summary(synthetic_class(seed=1, finished=STARTED - timedelta(days=2)))
    second = history.summary(synthetic_class(seed=2, finished=STARTED - timedelta(days=1)))
    assert history.earlier_runs(db_url, assignment) == []
    history.save_run(db_url, assignment, first)
    history.save_run(db_url, assignment, second)
    history.save_run(db_url, assignment + "-other", first)
    runs = history.earlier_runs(db_url, assignment)
    assert [run["finished"] for run in runs] == [second["finished"], first["finished"]]
    assert {k: v for k, v in runs[1].items() if k != "id"} == json.loads(json.dumps(first))
    assert len(history.earlier_runs(db_url, assignment, limit=1)) == 1
    now = synthetic_class(seed=3)
    now["assignment"] = assignment
    assert [r["id"] for r in history.record(db_url, now)] == [r["id"] for r in runs]
    assert history.earlier_runs(db_url, assignment)[0]["finished"] == now["run"]["finished"]


def test_earlier_runs_in_sqlite_beside_nbgrader_tables(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:  # a table of nbgrader's, to be left alone
        connection.execute(sa.text("CREATE TABLE assignment (id TEXT PRIMARY KEY)"))
        connection.execute(sa.text("INSERT INTO assignment VALUES ('01_activations')"))
    _round_trip(db_url, "01_activations")
    assert set(sa.inspect(engine).get_table_names()) == {"assignment", history.TABLE}
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id FROM assignment")).all() == [
            ("01_activations",)]
    engine.dispose()


def test_earlier_runs_in_postgresql(postgres_url):
    _round_trip(postgres_url, f"report-test-{datetime.now(UTC).timestamp()}")


def test_summary_counts_what_the_report_shows():
    data = synthetic_class()
    kept = history.summary(data)
    scored = [s for s in data["students"].values() if s["status"] in history.SCORED]
    assert kept["students"] == 24 and len(kept["scores"]) == len(scored) == 21
    assert kept["statuses"]["malformed"] == kept["statuses"]["crashed"] == 1
    test = kept["tests"]["test_relu"]
    assert test["passed"] + test["failed"] == 21
    tagged = {s["student_id"] for s in scored for t in s["tests"].values()
              if "chain.off-by-one" in t["misconceptions"]}
    assert kept["misconceptions"].get("chain.off-by-one", 0) == len(tagged) > 0


def test_a_database_that_cannot_be_used_costs_only_the_comparison(tmp_path, capsys):
    assert history.record(f"sqlite:///{tmp_path / 'missing' / 'gradebook.db'}",
                          synthetic_class()) == []
    assert "earlier runs not kept" in capsys.readouterr().err


# --- the report as HTML --------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A grader's output folder: report.json (hostile strings included), feedback pages."""
    out = tmp_path_factory.mktemp("graded")
    data = class_with_history(hostile=True)
    (out / "report.json").write_text(json.dumps(data))
    (out / "feedback").mkdir()
    for student, result in data["students"].items():
        if result["status"] in history.SCORED:
            (out / "feedback" / f"{student}.html").write_text(f"<p>feedback of {student}</p>")
    report.write_report(out)
    return out


def test_report_is_one_self_contained_file(graded):
    html = (graded / "report.html").read_text()
    loads = re.findall(r"""\b(?:src|href|action|data|poster)\s*=\s*["']?([^"' >]+)""", html)
    assert not [url for url in loads if re.match(r"(?i)(https?:)?//", url)], loads
    assert not re.search(r"(?i)<(link|iframe|object|embed|img)\b", html)
    assert not re.search(r"(?i)url\(", html), "CSS that could load something"
    assert html.count("<script") == 1 and re.search(r"<script>\s*\(\(\) =>", html)
    assert "Content-Security-Policy" in html
    for hostile in (HOSTILE_ID, HOSTILE_MESSAGE, HOSTILE_CODE, "<b>bold</b>"):
        assert hostile not in html
    assert "&lt;script&gt;window.pwned = &#x27;id&#x27;&lt;/script&gt;" in html


def test_report_content(graded):
    html = (graded / "report.html").read_text()
    assert "Class report: 01_activations" in html
    for status in ("graded", "timeout", "forbidden", "malformed", "duplicate", "crashed"):
        assert f'class="status-{status}"' in html
    # Misconceptions: the course's with their explanation and section, an instructor's own
    # with the message that carried it.
    from descent.checks.misconceptions import all_misconceptions

    known = all_misconceptions()["chain.off-by-one"]
    assert f"{escape(known.text)} <span" in html
    assert f"read “{escape(known.section)}”: <code>{escape(known.link)}</code>" in html
    assert "mycourse.bias-forgotten" in html and "is the bias added before" in html
    assert 'href="https://' not in html  # no site address given: the book is named, not linked
    # Earlier runs: three histograms and the pass-rate change of each task.
    assert html.count('role="img" aria-label="Score distribution') == 3
    assert re.search(r"[+−-]\d+ pp", html)
    # Feedback links (relative), only where the page exists; the similar pair and its code.
    assert 'href="feedback/ada.html"' in html and 'href="feedback/ken.html"' not in html
    assert "margaret and tim:" in html and "<mark>" in html and "never changes a grade" in html
    assert "torch.autograd" in html and "time limit ran out" in html


def test_book_links_use_the_site_address(graded):
    data = json.loads((graded / "report.json").read_text())
    html = report.render(data, site_url="https://example.org/descent")
    from descent.checks.misconceptions import all_misconceptions

    link = all_misconceptions()["chain.off-by-one"].link
    assert f'href="https://example.org/descent/{escape(link)}"' in html


@pytest.mark.parametrize("data", [
    {}, {"students": {}, "history": [], "similarity": []},
    {"max_score": 33.5, "students": {"a": {"status": "graded", "score": 17.25},
                                     "b": {"status": "?", "score": None, "tests": None}}},
    {"students": {"a": {"status": "graded", "tests": {"t": {"misconceptions": ["q.r", 3]}}}},
     "history": [{"finished": "yesterday", "scores": [1, "x"], "tests": {"t": {"passed": 2}}},
                 "junk"],
     "similarity": [{"students": ["a"]}, {"students": ["a", "b"], "cells": [
         {"cell": "c", "code": {"a": "abc"}, "matches": {"a": [[2, 1], [0, "z"], [1, 99]]},
          "given": {"a": [[0, 3]]}}]}]},
])
def test_odd_reports_still_render(data):
    html = report.render(data, known={})
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_command_line(graded, tmp_path, capsys):
    assert report.main([str(graded)]) == 0
    assert report.main([str(tmp_path)]) == 2
    assert "grade the class first" in capsys.readouterr().err


def test_report_in_a_browser(browser, graded):
    """One load, served on loopback with the network blocked: no error, no request off the
    machine, the hostile strings stay text, and a table sorts by a header (mouse and
    keyboard); then the same file opened from disk."""
    context, traffic = offline_context(browser, viewport={"width": 1280, "height": 900})
    dialogs = []
    context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        with serve(graded) as base_url:
            tab = context.new_page()
            tab.set_default_timeout(10_000)
            tab.goto(base_url + "report.html", wait_until="load")
            assert not traffic.problems(), traffic.problems()
            assert tab.evaluate("window.pwned") is None and not dialogs
            assert tab.get_by_text(HOSTILE_ID).first.is_visible()

            table = tab.locator("#students ~ table")
            scores = lambda: [float(s) for s in table.locator(  # noqa: E731
                "tbody tr td:nth-child(3)").all_inner_texts()]
            button = table.get_by_role("button", name="Score", exact=True)
            button.click()
            assert scores() == sorted(scores()) and scores()[0] < scores()[-1]
            button.focus()
            tab.keyboard.press("Enter")
            assert scores() == sorted(scores(), reverse=True)
            assert table.locator("th").nth(2).get_attribute("aria-sort") == "descending"
            assert not traffic.problems(), traffic.problems()

        tab.goto((graded / "report.html").as_uri(), wait_until="load")
        table.get_by_role("button", name="Student", exact=True).click()
        assert not traffic.problems(), traffic.problems()
        assert tab.evaluate("window.pwned") is None and not dialogs
    finally:
        context.close()
