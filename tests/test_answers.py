"""The loader of model answers and the repository paths: right objects, clear errors."""

from __future__ import annotations

import nbformat
import pytest

from descent.answers import load
from descent.paths import repo_root, solution_notebook


def test_load_returns_working_functions():
    sigmoid, relu = load("01_activations", "sigmoid", "relu")
    assert float(sigmoid(0.0)) == 0.5 and float(relu(-2.0)) == 0.0
    assert load("01_activations", "relu") is relu  # one name: the object itself


def test_load_runs_setup_and_solution_cells_only(monkeypatch, tmp_path):
    def cell(source, **nbgrader):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader})

    notebook = nbformat.v4.new_notebook(cells=[
        cell("base = 10", grade_id="setup_constants", locked=True),
        cell("def answer():\n    return base + 1", grade_id="answer", solution=True),
        cell("raise AssertionError('a test cell ran')", grade_id="test_answer", grade=True),
        cell("raise AssertionError('a plain cell ran')"),
    ])
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "solutions" / "00_demo").mkdir(parents=True)
    nbformat.write(notebook, tmp_path / "solutions" / "00_demo" / "00_demo.ipynb")
    monkeypatch.setenv("DESCENT_ROOT", str(tmp_path))
    assert load("00_demo", "answer")() == 11


def test_unknown_chapter_and_name_say_what_exists():
    with pytest.raises(FileNotFoundError, match="folder names under solutions/"):
        load("99_nothing")
    with pytest.raises(AttributeError, match="It defines: .*sigmoid"):
        load("01_activations", "softmax")


def test_descent_root_must_be_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("DESCENT_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not the course repository"):
        repo_root()
    monkeypatch.delenv("DESCENT_ROOT")
    assert solution_notebook("01_activations").is_file()
