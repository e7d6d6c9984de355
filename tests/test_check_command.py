"""autograder.check: each rule on a cell that triggers it and on a look-alike that must not.

The notebooks are built here (no kernel, no grading); the course's own chapters must come
out with no forgeable test.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbtools import ROOT

from autograder.check import Finding, check_assignment, check_notebook, format_findings

FLAGS = {  # kind -> (grade, solution, locked)
    "locked": (False, False, True),
    "unlocked": (False, False, False),
    "solution": (False, True, False),
    "test": (True, False, True),
}


def notebook(*cells: tuple) -> nbformat.NotebookNode:
    """A notebook of (kind, grade_id, source[, points]) code cells with nbgrader metadata."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# A problem set"))
    for kind, grade_id, source, *points in cells:
        grade, solution, locked = FLAGS[kind]
        meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id,
                "schema_version": 3, "task": False}
        if grade:
            meta["points"] = points[0] if points else 1
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta}))
    return nb


ANSWER = ("solution", "answer", "def f(x):\n    return x * x\n\n"
          "class Shape:\n    def __init__(self, n):\n        self.n = n\n")
SETUP = ("locked", "setup", "import numpy as np\nfrom mychecks import check_answer\n")


def findings(*cells: tuple) -> dict[str, list[Finding]]:
    """grade_id -> its findings, for a notebook of SETUP, ANSWER and cells."""
    found: dict[str, list[Finding]] = {}
    for finding in check_notebook(notebook(SETUP, ANSWER, *cells), "ps.ipynb"):
        found.setdefault(finding.cell_id, []).append(finding)
    return found


def severities(found: dict[str, list[Finding]], cell_id: str) -> list[str]:
    return sorted(f.severity for f in found.get(cell_id, []))


def test_clean_notebook_has_no_findings():
    found = findings(("test", "t", "check_answer(f)\nassert f(2) == 4"))
    assert found == {}
    assert format_findings([]) == "no findings"


def test_rule1_checker_bound_in_an_unlocked_cell():
    found = findings(
        ("unlocked", "helpers", "from otherchecks import check_square\n"
                                "def check_cube(g):\n    assert g(2) == 8\nEXPECTED = 4\n"),
        ("test", "imported", "check_square(f)"),
        ("test", "defined", "check_cube(f)\nassert f(2) == EXPECTED"),
        ("test", "locked_import", "check_answer(f)"),  # look-alike: imported in a locked cell
        ("test", "local", "def check_square(g):\n    assert g(3) == 9\ncheck_square(f)"),
    )
    assert severities(found, "imported") == ["forgeable"]
    assert "check_square (helpers)" in found["imported"][0].message
    assert severities(found, "defined") == ["forgeable"]
    assert "EXPECTED" in found["defined"][0].message and "check_cube" in found["defined"][0].message
    assert "locked_import" not in found and "local" not in found


def test_rule1_locked_helper_built_on_an_unlocked_name():
    found = findings(
        ("unlocked", "tolerance", "TOL = 1e-6\n"),
        ("locked", "helper", "def close(a, b):\n    return abs(a - b) < TOL\n"),
        ("locked", "helper2", "def close2(a, b):\n    return abs(a - b) < 1e-6\n"),
        ("test", "t", "assert close(f(2), 4)\nassert close2(f(3), 9)"),
    )
    assert severities(found, "helper") == ["forgeable"]
    assert "helper2" not in found
    assert "t" not in found  # the locked cell is what must change
    assert "close" in found["helper"][0].message


def test_rule2_last_expression_computed_by_the_student():
    found = findings(
        ("test", "bare_call", "f(3)"),
        ("test", "via_name", "r = f(3)\nr"),
        ("test", "via_float", "float(np.sum(f(3)))"),
        ("test", "comparisons", "score = 0.5 * (f(1) == 1) + 0.5 * (f(2) == 4)\nscore"),
        ("test", "checker", "check_answer(f)"),
        ("test", "rebound", "r = f(3)\nr = 1.0 * (r == 9)\nr"),
        ("test", "listed", "[f(3)]"),  # a list is no score: nbgrader gives full points
    )
    assert severities(found, "bare_call") == ["forgeable"]
    assert "`f(3)`" in found["bare_call"][0].message
    assert severities(found, "via_name") == ["forgeable"]
    assert severities(found, "via_float") == ["forgeable"]
    for cell_id in ("comparisons", "checker", "rebound", "listed"):
        assert cell_id not in found, cell_id


def test_rule3_methods_of_the_students_objects():
    found = findings(
        ("test", "equals", "result = Shape(3)\nassert result.equals(Shape(3))"),
        ("test", "is_valid", "assert Shape(3).is_valid()"),
        ("test", "eq", "s = Shape(3)\nassert s == Shape(3)"),
        ("test", "accessor", "s = Shape(3)\nassert s.get_sides() == 3"),
        ("test", "attribute", "s = Shape(3)\nassert s.n == 3"),
        ("test", "plain", "out = f(np.arange(3))\nassert np.allclose(out.sum(), 5)"),
        ("test", "trusted", "r = np.zeros(3)\nassert r.all() == 0"),
    )
    assert severities(found, "equals") == ["forgeable"]
    assert "result.equals" in found["equals"][0].message
    assert severities(found, "is_valid") == ["forgeable"]
    assert severities(found, "eq") == ["warning"]  # == on their object is identity here
    assert severities(found, "accessor") == ["warning"]
    assert severities(found, "attribute") == ["warning"]
    assert "plain" not in found and "trusted" not in found


def test_rule4_dynamic_lookups():
    found = findings(
        ("test", "globals", "assert globals()['f'](2) == 4"),
        ("test", "eval", "assert eval('f(2)') == 4"),
        ("test", "sys_modules", "import sys\nassert 'numpy' in sys.modules"),
        ("test", "magic", "%time assert f(2) == 4"),
        ("test", "look_alike", "assert f(2) == 4  # not eval('f(2)')"),
    )
    for cell_id in ("globals", "eval", "sys_modules", "magic"):
        assert severities(found, cell_id) == ["warning"], cell_id
    assert "look_alike" not in found


def test_rule5_test_variables_and_module_patches():
    found = findings(
        ("solution", "scaled", "def g(x):\n    return x * SCALE\n"),
        ("test", "shared", "SCALE = 2\nassert g(1) == 2"),
        ("test", "private", "OFFSET = 2\nassert f(1) + OFFSET == 3"),
        ("test", "patch_value", "np.pi = 3\nassert f(1) == 1"),
        ("test", "patch_none", "np.linalg.solve = None\nnp.linalg.inv = lambda a: a\n"
                               "assert f(1) == 1"),
    )
    assert severities(found, "shared") == ["info"]
    assert "SCALE" in found["shared"][0].message
    assert severities(found, "patch_value") == ["warning"]
    assert "private" not in found and "patch_none" not in found


def test_rule6_setup_cell_calling_an_answer():
    found = findings(
        ("locked", "uses_answer", "TABLE = [f(i) for i in range(3)]\n"),
        ("locked", "defines_only", "def table(g):\n    return [g(i) for i in range(3)]\n"),
    )
    assert severities(found, "uses_answer") == ["info"]
    assert "defines_only" not in found


def test_rule7_tests_that_cannot_fail_or_score_nothing():
    found = findings(
        ("test", "inert", "x = 1\n# TODO: check f"),
        ("test", "unasserted", "f(2) == 4"),
        ("test", "zero", "assert f(2) == 4", 0),
        ("test", "stderr", "import sys\nprint('checking', file=sys.stderr)\nassert f(2) == 4"),
        ("test", "asserted", "x = 2\nassert f(x) == 4"),
    )
    assert severities(found, "inert") == ["warning"]
    assert severities(found, "unasserted") == ["warning"]
    assert severities(found, "zero") == ["warning"]
    assert severities(found, "stderr") == ["warning"]
    assert "asserted" not in found


def test_rule8_autotest_cells():
    found = findings(
        ("test", "autotest", "### AUTOTEST f(2); f(3)\n"),
        ("test", "hashed", "### HASHED AUTOTEST f(2)\n"),
        ("test", "mention", "assert f(2) == 4  # no autotest here"),
    )
    assert severities(found, "autotest") == ["info"]
    assert severities(found, "hashed") == ["info"]
    assert "mention" not in found


def test_a_cell_that_does_not_parse_is_a_warning():
    found = findings(("test", "broken", "assert f(2) == = 4"))
    assert severities(found, "broken") == ["warning"]
    assert "does not parse" in found["broken"][0].message


def test_check_assignment_and_report(tmp_path: Path):
    nbformat.write(notebook(SETUP, ANSWER, ("test", "t", "f(3)"), ("test", "z", "f(1) == 1", 0)),
                   tmp_path / "b.ipynb")
    nbformat.write(notebook(SETUP, ANSWER, ("test", "t", "assert f(2) == 4")),
                   tmp_path / "a.ipynb")
    found = check_assignment(tmp_path)
    assert {f.notebook for f in found} == {"b.ipynb"}
    report = format_findings(found)
    assert report.index("  forgeable  t:") < report.index("  warning    z:")
    assert report.splitlines()[0] == "b.ipynb"
    assert report.endswith("3 findings: 1 forgeable, 2 warning, 0 info")


CHAPTERS = sorted(p for p in (ROOT / "solutions").iterdir() if list(p.glob("*.ipynb")))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_the_course_has_no_forgeable_test(chapter: Path):
    forgeable = [f for f in check_assignment(chapter) if f.severity == "forgeable"]
    assert not forgeable, format_findings(forgeable)


def test_the_rules_of_an_assignment_are_reported(tmp_path):
    notebook = nbformat.v4.new_notebook(metadata={"autograder": {"forbidden": ["torch.optim"]}})
    nbformat.write(notebook, tmp_path / "hw.ipynb")
    (info,) = check_assignment(tmp_path)
    assert info.severity == "info" and "torch.optim" in info.message
    notebook.metadata["autograder"]["forbidden"] = "torch.optim"  # not a list
    nbformat.write(notebook, tmp_path / "hw.ipynb")
    (warning,) = check_assignment(tmp_path)
    assert warning.severity == "warning" and "list of dotted names" in warning.message
