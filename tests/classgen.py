"""A generated class of chapter 05: submissions with plausible mistakes, for grading tests and
for measuring how often a failed test names a misconception.

Each student starts from the model answers (solutions/, filled into the release notebook) and
gets a few mistakes from MISTAKES — textual edits of one answer, each a mistake students make
(ε inside the root, no bias correction, β's swapped, Keras's ε̂, …) — and sometimes a blind
mutation (an operator or constant changed at random) or an unfinished stub. Seeded: the same
arguments give the same class.

    python tests/classgen.py OUT --students 40 --seed 0   # OUT/<student>/05_optimizers.ipynb
"""

from __future__ import annotations

import argparse
import ast
import random
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbtools import ROOT, fill_in, read, solution_sources

CHAPTER = "05_optimizers"


@dataclass(frozen=True)
class Mistake:
    """Replace ``old`` by ``new`` in the answer ``grade_id`` (every occurrence)."""

    grade_id: str
    old: str
    new: str
    what: str


MISTAKES = [
    Mistake("momentum_step",
            "velocity = momentum * velocity + lr * grad\n    return theta - velocity",
            "velocity = momentum * velocity + grad\n    return theta - lr * velocity",
            "PyTorch's buffer convention"),
    Mistake("momentum_step", "momentum * velocity + lr * grad",
            "momentum * velocity + (1 - momentum) * lr * grad", "dampened momentum"),
    Mistake("momentum_step", "return theta - velocity", "return theta + velocity", "wrong sign"),
    Mistake("nesterov_step", "return theta - (momentum * velocity + lr * grad)",
            "return theta - velocity", "classical momentum"),
    Mistake("adagrad_step", "np.sqrt(total) + eps", "np.sqrt(total + eps)", "ε inside the root"),
    Mistake("adagrad_step", "np.sqrt(total) + eps", "total + eps", "no square root"),
    Mistake("adagrad_step",
            'np.asarray(state.get("sum", np.zeros_like(theta)), dtype=float) + grad * grad',
            "grad * grad", "the last square, not the sum"),
    Mistake("adadelta_step", "np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps)",
            "(np.sqrt(acc_delta) + eps) / (np.sqrt(square_avg) + eps)", "ε outside the roots"),
    Mistake("adadelta_step", "rho * square_avg + (1 - rho) * grad * grad",
            "(1 - rho) * square_avg + rho * grad * grad", "ρ swapped"),
    Mistake("adadelta_step", "return theta - lr * delta", "return theta - delta", "lr forgotten"),
    Mistake("rmsprop_step", "np.sqrt(square_avg) + eps", "np.sqrt(square_avg + eps)",
            "ε inside the root"),
    Mistake("rmsprop_step", "alpha * square_avg + (1 - alpha) * grad * grad",
            "(1 - alpha) * square_avg + alpha * grad * grad", "α swapped"),
    Mistake("rmsprop_step", "np.sqrt(square_avg) + eps", "np.sqrt(square_avg) + 1e-8",
            "hard-coded ε"),
    Mistake("adam_step",
            "m_hat = exp_avg / (1 - beta1**step)\n    v_hat = exp_avg_sq / (1 - beta2**step)",
            "m_hat = exp_avg\n    v_hat = exp_avg_sq", "no bias correction"),
    Mistake("adam_step", "np.sqrt(v_hat) + eps", "np.sqrt(v_hat + eps)", "ε inside the root"),
    Mistake("adam_step", "(1 - beta2) * grad * grad", "(1 - beta2) * grad", "v not squared"),
    Mistake("adam_step", "return theta - lr * m_hat", "return theta + lr * m_hat", "wrong sign"),
    Mistake("adam_step", "return theta - lr * m_hat / (np.sqrt(v_hat) + eps), new_state",
            "lr_t = lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)\n"
            "    return theta - lr_t * exp_avg / (np.sqrt(exp_avg_sq) + eps), new_state",
            "Keras's ε̂"),
    Mistake("adam_step", "beta1**step", "beta1**(step + 1)", "t off by one (m̂ only)"),
    Mistake("adam_step", '"exp_avg": exp_avg,', '"exp_avg": m_hat,', "stores m̂"),
    Mistake("adam_step", "beta1, beta2 = betas", "beta2, beta1 = betas", "β's swapped"),
    Mistake("adam_step", "np.sqrt(v_hat) + eps", "np.sqrt(v_hat) + 1e-8", "hard-coded ε"),
    Mistake("adamax_step", "np.maximum(beta2 * exp_inf, np.abs(grad) + eps)",
            "np.maximum(beta2 * exp_inf, np.abs(grad)) + eps", "ε outside the max"),
    Mistake("adamax_step", "np.abs(grad) + eps", "grad + eps", "no absolute value"),
    Mistake("adamax_step", "lr / (1 - beta1**step)", "lr", "no bias correction"),
    Mistake("nadam_step", "mu = beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))",
            "mu = beta1", "constant μ"),
    Mistake("amsgrad_step", "max_sq = np.maximum(max_sq, exp_avg_sq)", "max_sq = exp_avg_sq",
            "Adam's v"),
    Mistake("amsgrad_step", "max_sq = np.maximum(max_sq, exp_avg_sq)",
            "max_sq = np.maximum(max_sq, exp_avg_sq / (1 - beta2**step))", "max of v̂"),
    Mistake("delta_bar_delta_step", "(1 - phi) * rates", "phi * rates", "× φ"),
    Mistake("delta_bar_delta_step", "rates + kappa", "rates * (1 + kappa)",
            "multiplicative increase"),
    Mistake("delta_bar_delta_step", "(1 - decay) * grad + decay * bar_grad",
            "decay * grad + (1 - decay) * bar_grad", "decay swapped"),
    Mistake("noisy_sgd_step", "sigma = np.sqrt(eta / (1 + t) ** gamma)",
            "sigma = eta / (1 + t) ** gamma", "σ² used as σ"),
    Mistake("noisy_sgd_step", "theta - lr * (grad + noise)", "theta - lr * grad - noise",
            "noise without lr"),
    Mistake("noisy_sgd_step", "t = step - 1", "t = step", "t = step"),
    Mistake("noisy_sgd_step", "np.random.default_rng([seed, t])", "np.random.default_rng(seed)",
            "one generator"),
]

_OPERATORS = {" + ": " - ", " - ": " + ", " * ": " / ", " / ": " * "}


def apply(answers: dict[str, str], mistake: Mistake) -> dict[str, str]:
    source = answers[mistake.grade_id]
    if mistake.old not in source:
        raise ValueError(f"{mistake.what}: {mistake.old!r} is not in {mistake.grade_id}")
    return {**answers, mistake.grade_id: source.replace(mistake.old, mistake.new)}


def _body_lines(source: str) -> list[int]:
    """Indexes of the lines of a function's code after its docstring."""
    function = ast.parse(source).body[0]
    first = function.body[1].lineno if len(function.body) > 1 else function.body[0].lineno
    return list(range(first - 1, len(source.split("\n"))))


def blind_mutation(answers: dict[str, str], rng: random.Random) -> tuple[dict[str, str], str]:
    """One operator swapped or one constant changed, somewhere in one answer's code."""
    grade_id = rng.choice(sorted(answers))
    lines = answers[grade_id].split("\n")
    spots = [(i, m.start(), m.group()) for i in _body_lines(answers[grade_id])
             for m in re.finditer(r" [-+*/] |\b\d+\.?\d*\b", lines[i])
             if not lines[i].lstrip().startswith("def ")]
    i, start, found = rng.choice(spots)
    replacement = _OPERATORS.get(found) or repr(float(found) * rng.choice([0.5, 2.0]) + 1)
    lines[i] = lines[i][:start] + replacement + lines[i][start + len(found):]
    return {**answers, grade_id: "\n".join(lines)}, f"blind: {grade_id} line {i}"


def generate(students: int, seed: int = 0, *, mistakes_each: int = 2, blind_share: float = 0.5,
             stub_share: float = 0.2) -> dict[str, tuple[nbformat.NotebookNode, list[str]]]:
    """student id -> (notebook, what was changed)."""
    rng = random.Random(seed)
    source = read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb")
    release = read(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb")
    model = solution_sources(source)
    stubs = solution_sources(release)
    made = {}
    for number in range(students):
        answers, changes = dict(model), []
        for mistake in rng.sample(MISTAKES, mistakes_each):
            if answers[mistake.grade_id] != model[mistake.grade_id]:
                continue  # one mistake per function
            answers = apply(answers, mistake)
            changes.append(f"{mistake.grade_id}: {mistake.what}")
        if rng.random() < blind_share:
            answers, change = blind_mutation(answers, rng)
            changes.append(change)
        if rng.random() < stub_share:
            unfinished = rng.choice(sorted(answers))
            answers[unfinished] = stubs[unfinished]
            changes.append(f"{unfinished}: left as the stub")
        made[f"student{number:03d}"] = (fill_in(release, answers), changes)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for student, (notebook, changes) in generate(args.students, args.seed).items():
        (args.out / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, args.out / student / f"{CHAPTER}.ipynb")
        print(student, "; ".join(changes) or "correct")


if __name__ == "__main__":
    main()
