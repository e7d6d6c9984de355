"""Small, ordinary nbgrader assignments on which our grader must agree with plain nbgrader.

Each :class:`Case` is one assignment: its source notebook(s), built here cell by
cell with nbformat (an instructor's notebook, nbgrader metadata schema 3), the
files shipped beside them, and the students' submissions. A submission is the
*release* notebook (what ``nbgrader generate_assignment`` hands students) with
its answer cells replaced, by grade id: by the model answers, except those the
submission gives (``untouched`` keeps the release's stubs), and perhaps cells or
files added.

Every case has ``correct`` (the model answers) and ``untouched`` (the release as
is); the others are honest mistakes (``wrong``, ...) or cheats, attempts to get
points without the work. Each submission says whose grade ours must give:

* ``like=None`` ("same"): what plain ``nbgrader autograde`` gives it, test by test;
* ``like="wrong"``: a cheat that fools plain nbgrader must get what the honest
  submission named there gets, since that is what its code deserves.

``plain`` states what plain nbgrader gives, where it differs from full marks on
every autograded test (and None, "needs manual grading", on manually graded
cells); the key ``"*"`` sets the default for the cells not named. Keys are the
grade ids, ``<notebook>/<grade id>`` in an assignment of several notebooks.
``shows`` is text that the graded notebook (and our feedback) must show.

Keep every notebook tiny: plain nbgrader starts a kernel for each one.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


# ---------------------------------------------------------------------------------------------
# Building notebooks


def _code(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


def _nbgrader(grade_id: str, *, grade=False, solution=False, locked=False, points=None,
              task=False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    if task:
        meta["task"] = True
    return {"nbgrader": meta}


def text(source: str):
    """A markdown cell of instructions (no nbgrader role)."""
    return new_markdown_cell(_code(source))


def setup(grade_id: str, source: str):
    """A locked code cell (imports, data, helpers): nbgrader restores it before grading."""
    return new_code_cell(_code(source), metadata=_nbgrader(grade_id, locked=True))


def answer(grade_id: str, solution: str):
    """An autograded answer cell: the model answer between the solution markers."""
    return new_code_cell(f"{BEGIN}\n{_code(solution)}\n{END}",
                         metadata=_nbgrader(grade_id, solution=True))


def test(grade_id: str, source: str = "", points: float = 1, hidden: str = ""):
    """An autograder test cell, with hidden tests (removed from the release) if given."""
    parts = [_code(source)] if source.strip() else []
    if hidden:
        parts.append(f"{BEGIN_HIDDEN}\n{_code(hidden)}\n{END_HIDDEN}")
    return new_code_cell("\n".join(parts), metadata=_nbgrader(
        grade_id, grade=True, locked=True, points=points))


def manual_code(grade_id: str, solution: str, points: float):
    """A manually graded code answer (solution and grade cell)."""
    return new_code_cell(f"{BEGIN}\n{_code(solution)}\n{END}", metadata=_nbgrader(
        grade_id, grade=True, solution=True, points=points))


def manual_text(grade_id: str, solution: str, points: float):
    """A manually graded written answer (markdown; the release shows "YOUR ANSWER HERE")."""
    return new_markdown_cell(_code(solution), metadata=_nbgrader(
        grade_id, grade=True, solution=True, points=points))


def task(grade_id: str, source: str, points: float):
    """A task cell: markdown describing work graded by hand, anywhere in the notebook."""
    return new_markdown_cell(_code(source), metadata=_nbgrader(
        grade_id, locked=True, points=points, task=True))


def notebook(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def model_answers(nb) -> dict[str, str]:
    """grade id -> the model answer of every answer cell, markers removed."""
    answers = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        lines = [line for line in cell.source.splitlines() if line.strip() not in (BEGIN, END)]
        answers[meta["grade_id"]] = "\n".join(lines)
    return answers


# ---------------------------------------------------------------------------------------------
# Cases and submissions


@dataclass(frozen=True)
class Submission:
    #: grade id -> the student's source for that cell; the other answer cells hold the model
    #: answers (or, with ``release``, the release's stubs)
    answers: dict[str, str] = field(default_factory=dict)
    #: grade id -> code cells the student inserted before that cell ("" for the notebook's end)
    added: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: files the student hands in beside the notebook(s)
    files: dict[str, bytes] = field(default_factory=dict)
    #: notebooks (names without .ipynb) the student did not hand in
    omit: tuple[str, ...] = ()
    #: None: ours must give what plain nbgrader gives; else the submission whose grade it deserves
    like: str | None = None
    why: str = ""
    #: plain nbgrader's scores where they differ from the defaults (see the module's doc)
    plain: dict[str, float | None] = field(default_factory=dict)
    #: text the graded notebook must show (printed output)
    shows: tuple[str, ...] = ()
    #: start from the release as is, not from the model answers
    release: bool = False


@dataclass(frozen=True)
class Case:
    id: str
    about: str
    notebooks: dict[str, nbformat.NotebookNode]  # file name without .ipynb -> source notebook
    submissions: dict[str, Submission]
    files: dict[str, bytes] = field(default_factory=dict)  # shipped beside the notebooks


ZERO = {"*": 0}  # plain nbgrader gives nothing


def case(case_id: str, about: str, notebooks, files=None, **submissions: Submission) -> Case:
    """A case; ``correct`` (the model answers) and ``untouched`` are added unless given."""
    if isinstance(notebooks, nbformat.NotebookNode):
        notebooks = {case_id: notebooks}
    model = {k: v for nb in notebooks.values() for k, v in model_answers(nb).items()}
    submissions = {
        "correct": submissions.pop("correct", Submission(why="the model answers")),
        "untouched": submissions.pop(
            "untouched", Submission(release=True, why="the release as is", plain=ZERO)),
        **submissions,
    }
    for name, sub in submissions.items():
        if not sub.release:
            submissions[name] = replace(sub, answers={**model, **sub.answers})
    return Case(case_id, about, notebooks, submissions, files or {})


def _csv(source: str) -> bytes:
    return (_code(source) + "\n").encode()


def _npy(values) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(values, dtype=float))
    return buffer.getvalue()


def _default_autotests() -> bytes:
    """The autotests.yml nbgrader's documentation ships (templates for AUTOTEST)."""
    import nbgrader

    path = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide" / "autotests.yml"
    return path.read_bytes()


ALWAYS_EQUAL = _code("""
    class _Anything:
        def __eq__(self, other):
            return True
""")


# ---------------------------------------------------------------------------------------------
# The cases

CASES: list[Case] = []
add = CASES.append

add(case(
    "p01_raises", "tests expecting the student's function to raise (try/except, pytest.raises)",
    notebook(
        text("Write `safe_sqrt(x)`: the square root of `x`, raising `ValueError` "
             "when `x` is not positive."),
        setup("imports", "import math"),
        answer("safe_sqrt", """
            def safe_sqrt(x):
                if x <= 0:
                    raise ValueError(f"x must be positive, got {x}")
                return math.sqrt(x)
        """),
        test("test_value", """
            assert safe_sqrt(9) == 3
            assert safe_sqrt(2) == math.sqrt(2)
        """),
        test("test_raises_try", """
            try:
                safe_sqrt(0)
            except ValueError:
                pass
            else:
                raise AssertionError("safe_sqrt(0) should raise ValueError")
        """),
        test("test_raises_pytest", """
            import pytest

            with pytest.raises(ValueError):
                safe_sqrt(-1)
        """, points=2, hidden="""
            with pytest.raises(ValueError):
                safe_sqrt(0)
        """),
    ),
    wrong=Submission(
        {"safe_sqrt": _code("""
            def safe_sqrt(x):
                if x <= 0:
                    raise RuntimeError("not positive")
                return math.sqrt(x)
        """)},
        why="raises RuntimeError, not ValueError",
        plain={"test_raises_try": 0, "test_raises_pytest": 0}),
    returns_none=Submission(
        {"safe_sqrt": _code("""
            def safe_sqrt(x):
                if x <= 0:
                    return None
                return math.sqrt(x)
        """)},
        why="never raises: pytest.raises fails with pytest's Failed, a BaseException",
        plain={"test_raises_try": 0, "test_raises_pytest": 0}),
    cheat_own_valueerror=Submission(
        {"safe_sqrt": _code("""
            class ValueError(Exception):
                pass

            def safe_sqrt(x):
                if x <= 0:
                    raise ValueError("not positive")
                return math.sqrt(x)
        """)},
        like="wrong",
        why="raises its own class named ValueError; the tests' `ValueError` finds it",
        plain={}),
))

add(case(
    "p02_namespace", "tests that change the student's namespace (del a helper, set a global)",
    notebook(
        text("Write `helper(x)` (x squared) and `scaled(x)`, which returns `SCALE * helper(x)`: "
             "it must call `helper` and read `SCALE` when it is called."),
        setup("constants", "SCALE = 2"),
        answer("functions", """
            def helper(x):
                return x * x


            def scaled(x):
                return SCALE * helper(x)
        """),
        test("test_scaled", "assert scaled(3) == 18"),
        test("test_reads_scale", """
            SCALE = 3
            assert scaled(2) == 12
            SCALE = 2
        """),
        test("test_uses_helper", """
            del helper
            try:
                scaled(2)
            except NameError:
                pass
            else:
                raise AssertionError("scaled must call helper")
        """),
    ),
    wrong=Submission(
        {"functions": _code("""
            def helper(x):
                return x * x


            def scaled(x):
                return 2 * helper(x)
        """)},
        why="a constant 2 where SCALE belongs",
        plain={"test_reads_scale": 0}),
    no_helper=Submission(
        {"functions": _code("""
            def helper(x):
                return x * x


            def scaled(x):
                return SCALE * x * x
        """)},
        why="right values without calling helper",
        plain={"test_uses_helper": 0}),
    fakes_the_nameerror=Submission(
        {"functions": _code("""
            def helper(x):
                return x * x


            def scaled(x):
                if "helper" not in globals():
                    raise NameError("name 'helper' is not defined")
                return SCALE * x * x
        """)},
        why="does not call helper but fails without it: to this test (which only observes a "
            "NameError) that is using it; no grader can tell, so both give the points",
        plain={}),
))

add(case(
    "p03_shared_names", "locked and test cells define or import names later test cells use",
    notebook(
        text("Write `area(r)`, the area of a circle of radius `r`."),
        setup("setup", """
            import math


            def close(a, b):
                return abs(a - b) < 1e-9
        """),
        answer("area", """
            def area(r):
                return math.pi * r ** 2
        """),
        test("test_area_one", """
            from math import pi as PI

            expected = PI
            assert close(area(1), expected)
        """),
        setup("radii", "radii = [0.5, 2, 3]"),
        test("test_area_many", """
            for r in radii:
                expected = PI * r * r
                assert close(area(r), expected)
        """),
        test("test_area_scales", """
            expected = 4 * area(1)
            assert close(area(2), expected)
        """),
    ),
    wrong=Submission({"area": "def area(r):\n    return 2 * math.pi * r"},
                     why="the circumference", plain=ZERO),
    borrows_test_import=Submission(
        {"area": "def area(r):\n    return PI * r ** 2"},
        why="honest but sloppy: uses PI, which a test cell imported before calling area",
        plain={}),
    cheat_reads_expected=Submission(
        {"area": "def area(r):\n    return globals()['expected']"},
        like="wrong", why="returns the test's own `expected` variable", plain={}),
    cheat_redefines_close=Submission(
        {"area": "def area(r):\n    return 2 * math.pi * r\n\n\nclose = lambda a, b: True"},
        like="wrong", why="circumference, and replaces the tests' helper `close`", plain={}),
))

add(case(
    "p04_answer_imports", "modules imported only in the student's answer, used by the tests",
    notebook(
        text("Write `normalize(v)` with NumPy (import it yourself) and `hypot(a, b)` with math."),
        answer("normalize", """
            import numpy as np


            def normalize(v):
                v = np.asarray(v, dtype=float)
                return v / np.linalg.norm(v)
        """),
        answer("hypot", """
            import math


            def hypot(a, b):
                return math.sqrt(a * a + b * b)
        """),
        test("test_normalize", """
            assert np.allclose(normalize([3, 4]), [0.6, 0.8])
            assert np.isclose(np.linalg.norm(normalize([1, 2, 2])), 1)
        """),
        test("test_hypot", """
            assert math.isclose(hypot(3, 4), 5)
            assert math.isclose(hypot(5, 12), 13)
        """),
    ),
    wrong=Submission(
        {"normalize": "import numpy as np\n\n\ndef normalize(v):\n    return np.divide(v, sum(v))",
         "hypot": "import math\n\n\ndef hypot(a, b):\n    return a + b"},
        why="divides by the sum; adds", plain=ZERO),
    no_numpy=Submission(
        {"normalize": _code("""
            def normalize(v):
                length = sum(x * x for x in v) ** 0.5
                return [x / length for x in v]
        """)},
        why="right values without NumPy: the test's `np` is then undefined",
        plain={"test_normalize": 0}),
    cheat_patches_comparisons=Submission(
        {"normalize": _code("""
            import numpy as np


            def normalize(v):
                return np.divide(v, sum(v))


            np.allclose = lambda *args, **kwargs: True
            np.isclose = lambda *args, **kwargs: True
        """),
         "hypot": _code("""
            import math


            def hypot(a, b):
                return a + b


            math.isclose = lambda *args, **kwargs: True
        """)},
        like="wrong", why="wrong answers, and np.allclose, np.isclose, math.isclose say yes",
        plain={}),
))

add(case(
    "p05_builtin_values", "str, bytes, set, frozenset, nested containers, complex, None",
    notebook(
        text("Write the functions below; each test names what it expects."),
        answer("text", """
            def greet(name):
                return f"Hello, {name}!"


            def encode(text):
                return text.encode("utf-8")
        """),
        answer("collections", """
            def vowels(word):
                return {c for c in word if c in "aeiou"}


            def distinct(items):
                return frozenset(items)


            def group(pairs):
                groups = {}
                for key, value in pairs:
                    groups.setdefault(key, []).append((key, value))
                return groups
        """),
        answer("numbers", """
            import cmath


            def root(d):
                return cmath.sqrt(d)


            def log_only(message, log):
                log.append(message)
        """),
        test("test_str", 'assert greet("Ada") == "Hello, Ada!"'),
        test("test_bytes", r'assert encode("hé") == b"h\xc3\xa9"'),
        test("test_set", """
            assert vowels("banana") == {"a"}
            assert vowels("education") == set("aeiou")
        """),
        test("test_frozenset", """
            result = distinct([3, 1, 3])
            assert isinstance(result, frozenset)
            assert result == {1, 3}
        """),
        test("test_nested", """
            assert group([("a", 1), ("b", 2), ("a", 3)]) == {
                "a": [("a", 1), ("a", 3)], "b": [("b", 2)]}
        """),
        test("test_complex", "assert root(-4) == 2j\nassert isinstance(root(4), complex)"),
        test("test_none", 'log = []\nassert log_only("hi", log) is None\nassert log == ["hi"]'),
    ),
    wrong=Submission(
        {"text": _code("""
            def greet(name):
                return f"Hello {name}"


            def encode(text):
                return text.encode("latin-1")
        """),
         "collections": _code("""
            def vowels(word):
                return [c for c in word if c in "aeiou"]


            def distinct(items):
                return set(items)


            def group(pairs):
                groups = {}
                for key, value in pairs:
                    groups.setdefault(key, []).append(value)
                return groups
        """),
         "numbers": _code("""
            def root(d):
                return d ** 0.5


            def log_only(message, log):
                log.append(message)
                return log
        """)},
        why="a wrong value or type from every function", plain=ZERO),
    cheat_always_equal=Submission(
        {"text": ALWAYS_EQUAL + "\n\n\ngreet = encode = lambda *args: _Anything()",
         "collections": "vowels = distinct = group = lambda *args: _Anything()",
         "numbers": "root = log_only = lambda *args: _Anything()"},
        like="wrong", why="returns an object equal to everything",
        plain={"test_frozenset": 0, "test_complex": 0, "test_none": 0}),
))

add(case(
    "p06_numpy_values", "NumPy string and boolean arrays, a numpy.polynomial.Polynomial",
    notebook(
        setup("setup", "import numpy as np\nfrom numpy.polynomial import Polynomial"),
        text("`labels(x)`: \"pos\"/\"neg\" per element; `positive(x)`: a boolean array; "
             "`derivative(coef)`: the derivative of the polynomial with these coefficients."),
        answer("arrays", """
            def labels(x):
                return np.where(np.asarray(x) > 0, "pos", "neg")


            def positive(x):
                return np.asarray(x) > 0
        """),
        answer("derivative", """
            def derivative(coef):
                return Polynomial(coef).deriv()
        """),
        test("test_labels", """
            out = labels([2, -1, 0])
            assert out.dtype.kind == "U"
            assert out.tolist() == ["pos", "neg", "neg"]
        """),
        test("test_positive", """
            out = positive([2, -1, 0])
            assert out.dtype == bool
            assert np.array_equal(out, [True, False, False])
        """),
        test("test_derivative", """
            d = derivative([1, 2, 3])
            assert isinstance(d, Polynomial)
            assert np.allclose(d.coef, [2, 6])
            assert d(1) == 8
        """),
    ),
    wrong=Submission(
        {"arrays": _code("""
            def labels(x):
                return np.where(np.asarray(x) >= 0, "pos", "neg")


            def positive(x):
                return (np.asarray(x) > 0).astype(int)
        """),
         "derivative": "def derivative(coef):\n    return Polynomial(coef).integ()"},
        why="0 is 'pos'; an int array; the integral", plain=ZERO),
))

SALES = _csv("""
    region,product,units,price
    north,apple,3,1.5
    south,apple,5,1.5
    north,pear,2,2.0
    south,pear,4,2.0
    north,apple,1,1.5
""")

WRONG_SALES = _code("""
    def load(path="sales.csv"):
        df = pd.read_csv(path)
        df["revenue"] = df["units"] * df["price"]
        return df


    def units_by_region(df):
        return df.groupby("region")["units"].count()


    def summary(df):
        return df.pivot_table(index="region", columns="product", values="revenue")
""")

add(case(
    "p07_pandas", "a pandas Series and DataFrame (index, columns, dtypes) from a CSV file",
    notebook(
        setup("setup", "import pandas as pd"),
        text("`load()` reads sales.csv and adds `revenue = units * price`; "
             "`units_by_region(df)` and `summary(df)` (revenue per region and product)."),
        answer("answers", """
            def load(path="sales.csv"):
                df = pd.read_csv(path)
                df["revenue"] = df["units"] * df["price"]
                return df


            def units_by_region(df):
                return df.groupby("region")["units"].sum()


            def summary(df):
                return df.pivot_table(index="region", columns="product", values="revenue",
                                      aggfunc="sum")
        """),
        test("test_load", """
            df = load()
            assert list(df.columns) == ["region", "product", "units", "price", "revenue"]
            assert df["revenue"].dtype == "float64"
            assert df["revenue"].sum() == 25.5
        """),
        test("test_units", """
            expected = pd.Series({"north": 6, "south": 9}, name="units")
            expected.index.name = "region"
            pd.testing.assert_series_equal(units_by_region(load()), expected)
        """),
        test("test_summary", """
            table = summary(load())
            assert list(table.index) == ["north", "south"]
            assert list(table.columns) == ["apple", "pear"]
            assert (table.dtypes == "float64").all()
            expected = pd.DataFrame({"apple": [6.0, 7.5], "pear": [4.0, 8.0]},
                                    index=pd.Index(["north", "south"], name="region"))
            pd.testing.assert_frame_equal(table, expected, check_names=False)
        """),
    ),
    files={"sales.csv": SALES},
    wrong=Submission({"answers": WRONG_SALES}, why="counts rows; the mean revenue",
                     plain={"test_units": 0, "test_summary": 0}),
    cheat_patches_testing=Submission(
        {"answers": WRONG_SALES + "\n\n\n" + _code("""
            pd.testing.assert_series_equal = lambda *args, **kwargs: None
            pd.testing.assert_frame_equal = lambda *args, **kwargs: None
        """)},
        like="wrong", why="the wrong answers, and pandas' assert_*_equal do nothing", plain={}),
))

add(case(
    "p08_class", "an instance of the student's class, used through attributes and methods",
    notebook(
        setup("setup", "import numpy as np"),
        text("Write `Model`: `fit(x, y)` fits a line, stores `coef = [intercept, slope]` and "
             "returns the model; `predict(x)`."),
        answer("model", """
            class Model:
                def fit(self, x, y):
                    slope, intercept = np.polyfit(x, y, 1)
                    self.coef = np.array([intercept, slope])
                    return self

                def predict(self, x):
                    return self.coef[0] + self.coef[1] * np.asarray(x)
        """),
        test("test_fit", """
            x = np.array([0.0, 1.0, 2.0, 3.0])
            y = 1 + 2 * x
            m = Model()
            m.fit(x, y)
            assert np.allclose(m.coef, [1, 2])
        """),
        test("test_predict", "assert np.allclose(m.predict(np.array([10.0, -1.0])), [21, -1])"),
        test("test_chained", hidden="""
            m2 = Model().fit([0, 1], [5, 7])
            assert np.allclose(m2.predict([2]), [9])
        """),
    ),
    wrong=Submission(
        {"model": _code("""
            class Model:
                def fit(self, x, y):
                    self.coef = np.polyfit(x, y, 1)

                def predict(self, x):
                    return self.coef[1] + self.coef[0] * np.asarray(x)
        """)},
        why="coef as [slope, intercept]; fit returns None",
        plain={"test_fit": 0, "test_chained": 0}),
))

add(case(
    "p09_locked_calls", "locked cells that call the student's code or use a test's variable",
    notebook(
        text("Write `square(x)`."),
        answer("square", "def square(x):\n    return x * x"),
        setup("uses_answer", "result = square(3)"),
        test("test_result", "assert result == 9"),
        test("test_table", "table = [square(i) for i in range(3)]\nassert table == [0, 1, 4]"),
        setup("uses_test_variable", "total = sum(table)"),
        test("test_total", "assert total == 5"),
    ),
    wrong=Submission({"square": "def square(x):\n    return 2 * x"}, why="doubles",
                     plain=ZERO),
    raises_at_3=Submission(
        {"square": _code("""
            def square(x):
                if x == 3:
                    raise ValueError("3 is unlucky")
                return x * x
        """)},
        why="the locked cell's call fails, so `result` is never set",
        plain={"test_result": 0}),
))

add(case(
    "p10_ipython", "IPython syntax: %matplotlib, %time, !shell, ?-help, a cell magic",
    notebook(
        setup("setup", "%matplotlib inline"),
        text("Write `increment(x)`."),
        answer("increment", "def increment(x):\n    return x + 1"),
        setup("shell", "!echo hi\n%time total = sum(range(10))"),
        test("test_magic_first", "%time assert increment(2) == 3"),
        test("test_increment", "assert increment(1) == 2"),
        test("test_time_magic", "%time value = increment(41)\nassert value == 42"),
        test("test_shell", "listing = !echo {increment(1)}\nassert listing == ['2']"),
    ),
    correct=Submission({"increment": _code("""
        %time warmup = [i for i in range(5)]
        !echo defining increment
        len?
        def increment(x):
            return x + 1
    """)}, why="the model answer, with IPython syntax around it"),
    wrong=Submission({"increment": "def increment(x):\n    return x + 2"}, why="adds 2",
                     plain=ZERO),
    cell_magic=Submission({"increment": "%%time\ndef increment(x):\n    return x + 1"},
                          why="the answer under the %%time cell magic"),
))

add(case(
    "p11_prints", "test cells that print: the output is feedback, the score is unaffected",
    notebook(
        text("Write `double(x)`."),
        answer("double", "def double(x):\n    return 2 * x"),
        test("test_prints", 'print("checking double(2) ->", double(2))\nassert double(2) == 4'),
        test("test_negative", "assert double(-1) == -2"),
    ),
    correct=Submission(shows=("checking double(2) -> 4",)),
    wrong=Submission({"double": "def double(x):\n    return x + 2"},
                     why="right for 2 only", plain={"test_negative": 0},
                     shows=("checking double(2) -> 4",)),
    chatty=Submission(
        {"double": 'print("defining double")\n\n\ndef double(x):\n'
                   '    print("double of", x)\n    return 2 * x'},
        why="prints as it goes (stdout)", shows=("double of -1",)),
))

add(case(
    "p12_data_files", "data files beside the notebook (csv module, np.load), student and tests",
    notebook(
        setup("setup", "import csv\nimport numpy as np"),
        text("`mean_score()`: the mean of scores.csv's score column; "
             "`weighted_total()`: weights.npy dotted with 1, 2, 3, ..."),
        answer("loaders", """
            def mean_score(path="scores.csv"):
                with open(path, newline="") as handle:
                    rows = list(csv.DictReader(handle))
                return sum(float(row["score"]) for row in rows) / len(rows)


            def weighted_total(path="weights.npy"):
                w = np.load(path)
                return float(w @ np.arange(1, len(w) + 1))
        """),
        test("test_mean_score", """
            with open("scores.csv", newline="") as handle:
                scores = [float(row["score"]) for row in csv.DictReader(handle)]
            assert mean_score() == sum(scores) / len(scores)
            assert abs(mean_score() - 82.333) < 1e-3
        """),
        test("test_weighted", """
            w = np.load("weights.npy")
            assert w.shape == (3,)
            assert np.isclose(weighted_total(), w[0] + 2 * w[1] + 3 * w[2])
        """),
    ),
    files={"scores.csv": _csv("name,score\nada,90\nbob,72\ncy,85"),
           "weights.npy": _npy([0.5, 0.25, 0.25])},
    wrong=Submission(
        {"loaders": _code("""
            def mean_score(path="scores.csv"):
                with open(path, newline="") as handle:
                    rows = list(csv.DictReader(handle))
                return sum(float(row["score"]) for row in rows) / (len(rows) + 1)


            def weighted_total(path="weights.npy"):
                return float(np.load(path).sum())
        """)},
        why="off-by-one count; forgets the weights", plain=ZERO),
    tampered_data=Submission(
        files={"scores.csv": _csv("name,score\nada,100\nbob,100"),
               "weights.npy": _npy([1.0, 1.0])},
        why="model answers, but hands in its own data files: the instructor's are used"),
))

add(case(
    "p13_partial_credit", "partial credit (a test's last expression is its score); odd results",
    notebook(
        text("Write `square(x)`."),
        answer("square", "def square(x):\n    return x * x"),
        test("test_halves", """
            score = 0
            if square(1) == 1:
                score += 0.5
            if square(2) == 4:
                score += 0.5
            score
        """),
        test("test_count", "sum(square(x) == x * x for x in range(1, 4))", points=3),
        test("test_bool_result", "square(3) == 9"),
        test("test_numpy_scalar",
             "import numpy as np\n\nnp.mean([square(1) == 1, square(2) == 4])"),
    ),
    wrong=Submission(
        {"square": "def square(x):\n    return 2 * x"},
        why="right for 2 only: half of test_halves, 1 of test_count's 3; test_bool_result and "
            "test_numpy_scalar print False and np.float64(0.5), which nbgrader reads as full marks",
        plain={"test_halves": 0.5, "test_count": 1}),
    cheat_patches_sum=Submission(
        {"square": _code("""
            import builtins


            def square(x):
                return 2 * x


            builtins.sum = lambda *args, **kwargs: 3
        """)},
        like="wrong", why="the wrong answer, and the builtin sum always says 3",
        plain={"test_halves": 0.5}),
))

add(case(
    "p14_autotest", "nbgrader's ### AUTOTEST and ### HASHED AUTOTEST (autotests.yml shipped)",
    notebook(
        text("Write `square(x)`, and set `words` to the words of \"the quick brown fox\"."),
        answer("answers", """
            def square(x):
                return x * x


            words = "the quick brown fox".split()
        """),
        test("test_square", "### AUTOTEST square(2); square(-3)"),
        test("test_words", "### HASHED AUTOTEST words", points=2),
        test("test_mixed", "assert square(0) == 0\n### AUTOTEST len(words)"),
    ),
    files={"autotests.yml": _default_autotests()},
    wrong=Submission(
        {"answers": 'def square(x):\n    return 2 * x\n\n\nwords = ["the", "quick"]'},
        why="doubles; two words only", plain=ZERO),
    cheat_patches_sha1=Submission(
        {"answers": ALWAYS_EQUAL + "\n\n\n" + _code("""
            class _Digest:
                def __init__(self, *args):
                    pass

                def hexdigest(self):
                    return _Anything()


            import hashlib

            hashlib.sha1 = _Digest


            def square(x):
                return 2 * x


            words = ["the", "quick"]
        """)},
        like="wrong", why="the wrong answers, and hashlib.sha1's digests equal any hash",
        plain={"test_square": 0, "test_mixed": 0}),
))

add(case(
    "p15_tests_only", "a notebook of test cells only: the student adds cells of their own",
    notebook(
        text("In a new code cell right below, define `cube(x)`."),
        test("test_cube", "assert cube(2) == 8"),
        test("test_cube_negative", "assert cube(-3) == -27"),
    ),
    correct=Submission(added={"test_cube": ("def cube(x):\n    return x ** 3",)},
                       why="defines cube in a new cell above the tests"),
    wrong=Submission(added={"test_cube": ("def cube(x):\n    return abs(x) ** 3",)},
                     why="loses the sign", plain={"test_cube_negative": 0}),
    after_the_tests=Submission(added={"": ("def cube(x):\n    return x ** 3",)},
                               why="right, but below the tests", plain=ZERO),
))

add(case(
    "p16_two_notebooks", "an assignment of two notebooks, graded each in its own kernel",
    {
        "part1": notebook(
            text("Write `add(a, b)`."),
            answer("add", "def add(a, b):\n    return a + b"),
            test("test_add", "assert add(2, 3) == 5"),
        ),
        "part2": notebook(
            setup("setup2", "import math"),
            text("Write `mul(a, b)`."),
            answer("mul", "def mul(a, b):\n    return a * b"),
            test("test_mul", "assert mul(2, 3) == 6"),
            test("test_mul_float", "assert math.isclose(mul(0.1, 3), 0.3)"),
        ),
    },
    wrong=Submission({"mul": "def mul(a, b):\n    return a + b"}, why="adds in part 2",
                     plain={"part2/test_mul": 0, "part2/test_mul_float": 0}),
    only_part1=Submission(omit=("part2",), why="hands in part 1 only",
                          plain={"part2/test_mul": 0, "part2/test_mul_float": 0}),
))

SLUGIFY = b'def slugify(title):\n    return "-".join(title.lower().split())\n'

add(case(
    "p17_student_files", "files the student hands in beside the notebook (their own module)",
    notebook(
        text("Write `slugify(title)` in a module `mytools.py` next to this notebook, "
             "hand it in, and import it below."),
        answer("imports", "from mytools import slugify"),
        test("test_slugify", 'assert slugify("Hello World") == "hello-world"'),
        test("test_spaces", 'assert slugify("  A  b ") == "a-b"'),
    ),
    correct=Submission(files={"mytools.py": SLUGIFY}, why="hands in mytools.py"),
    wrong=Submission(
        files={"mytools.py": b'def slugify(title):\n    return title.lower().replace(" ", "-")\n'},
        why="one dash per space", plain={"test_spaces": 0}),
    forgot_module=Submission(why="imports a module it did not hand in", plain=ZERO),
))

add(case(
    "p18_forbid_solve", "a hidden test that forbids np.linalg.solve by patching NumPy",
    notebook(
        setup("setup", "import numpy as np"),
        text("Write `my_solve(A, b)` without `np.linalg.solve`."),
        answer("solve", """
            def my_solve(A, b):
                A = np.array(A, dtype=float)
                b = np.array(b, dtype=float)
                n = len(b)
                for i in range(n):
                    p = i + np.argmax(np.abs(A[i:, i]))
                    A[[i, p]] = A[[p, i]]
                    b[[i, p]] = b[[p, i]]
                    for j in range(i + 1, n):
                        f = A[j, i] / A[i, i]
                        A[j] -= f * A[i]
                        b[j] -= f * b[i]
                x = np.zeros(n)
                for i in reversed(range(n)):
                    x[i] = (b[i] - A[i, i + 1:] @ x[i + 1:]) / A[i, i]
                return x
        """),
        test("test_solve", """
            A = np.array([[2.0, 1.0], [1.0, 3.0]])
            b = np.array([3.0, 5.0])
            x = np.array([0.8, 1.4])
            assert np.allclose(my_solve(A, b), x)
        """),
        test("test_no_solve", "# my_solve must not use np.linalg.solve", points=2, hidden="""
            import numpy as np
            _solve = np.linalg.solve
            np.linalg.solve = None
            try:
                assert np.allclose(my_solve(A, b), x)
            finally:
                np.linalg.solve = _solve
        """),
    ),
    uses_solve=Submission({"solve": "def my_solve(A, b):\n    return np.linalg.solve(A, b)"},
                          why="calls np.linalg.solve", plain={"test_no_solve": 0}),
    uses_inv=Submission({"solve": "def my_solve(A, b):\n    return np.linalg.inv(A) @ b"},
                        why="np.linalg.inv is allowed"),
    cheat_bound_solve=Submission(
        {"solve": "from numpy.linalg import solve\n\n\ndef my_solve(A, b):\n"
                  "    return solve(A, b)"},
        like="uses_solve", why="np.linalg.solve under another name, out of the patch's reach",
        plain={}),
    returns_nothing=Submission({"solve": "def my_solve(A, b):\n    return None"},
                               why="not done", plain={"*": 0}),
    cheat_reads_x=Submission(
        {"solve": "def my_solve(A, b):\n    return globals().get('x')"},
        like="returns_nothing", plain={},
        why="returns the tests' expected `x` from the namespace (the model answer's own local "
            "`x` must not make the tests' `x` visible to student code)"),
))

add(case(
    "p22_unrestored_patch", "a test that patches NumPy and never restores it: the patch must "
    "not reach the next student (the students are graded one after the other)",
    notebook(
        setup("setup", "import numpy as np"),
        text("Write `norm2(v)`, the Euclidean norm, without `np.linalg.norm`."),
        answer("norm", """
            def norm2(v):
                v = np.asarray(v, dtype=float)
                return float(np.sqrt(np.sum(v * v)))
        """),
        test("test_norm", "assert abs(norm2([3.0, 4.0]) - 5.0) < 1e-12"),
        test("test_no_norm", "# norm2 must not use np.linalg.norm", hidden="""
            np.linalg.norm = None
            assert abs(norm2([6.0, 8.0]) - 10.0) < 1e-12
        """),
        test("test_after", "assert abs(np.sqrt(2.0) ** 2 - 2.0) < 1e-12\nassert norm2([1.0]) == 1"),
    ),
    a_uses_norm=Submission({"norm": "def norm2(v):\n    return float(np.linalg.norm(v))"},
                         why="calls np.linalg.norm: fails the hidden test and, the patch left in "
                             "place, the test after it", plain={"test_no_norm": 0,
                                                                "test_after": 0}),
    also_correct=Submission(why="graded after a_uses_norm: untouched by its patch"),
))

add(case(
    "p19_plots", "tests on the student's figure: a returned Axes, and plt.gca()",
    notebook(
        setup("setup", "%matplotlib inline\nimport matplotlib.pyplot as plt\nimport numpy as np"),
        text("`plot_line(x, y)` returns an Axes titled \"Line\" with axis labels x and y; "
             "`scatter(x, y)` draws a scatter plot titled \"Points\"."),
        answer("plot_line", """
            def plot_line(x, y):
                fig, ax = plt.subplots()
                ax.plot(x, y)
                ax.set_title("Line")
                ax.set_xlabel("x")
                ax.set_ylabel("y")
                return ax
        """),
        answer("scatter", """
            def scatter(x, y):
                plt.figure()
                plt.scatter(x, y, color="red")
                plt.title("Points")
        """),
        test("test_line", """
            x = np.linspace(0, 1, 5)
            ax = plot_line(x, 2 * x)
            lines = ax.get_lines()
            assert len(lines) == 1
            assert np.allclose(lines[0].get_xdata(), x)
            assert np.allclose(lines[0].get_ydata(), 2 * x)
        """),
        test("test_labels", """
            assert ax.get_title() == "Line"
            assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
        """),
        test("test_scatter", """
            scatter([1, 2, 3], [3, 1, 2])
            ax = plt.gca()
            assert ax.get_title() == "Points"
            assert len(ax.collections) == 1
            assert np.allclose(ax.collections[0].get_offsets(), [[1, 3], [2, 1], [3, 2]])
        """),
    ),
    wrong=Submission(
        {"plot_line": _code("""
            def plot_line(x, y):
                fig, ax = plt.subplots()
                ax.plot(y, x)
                ax.set_title("Line")
                ax.set_xlabel("x")
                return ax
        """),
         "scatter": 'def scatter(x, y):\n    plt.plot(x, y, "o")\n    plt.title("Points")'},
        why="swapped axes, no y label; points drawn as a line", plain=ZERO),
    no_return=Submission(
        {"plot_line": _code("""
            def plot_line(x, y):
                plt.plot(x, y)
                plt.title("Line")
                plt.xlabel("x")
                plt.ylabel("y")
        """)},
        why="draws the right plot but returns None",
        plain={"test_line": 0, "test_labels": 0}),
))

add(case(
    "p20_manual", "manual grading: a code answer, a written answer, a task cell",
    notebook(
        text("Write `fib(n)`, the n-th Fibonacci number (fib(0) = 0)."),
        answer("fib", """
            def fib(n):
                return n if n < 2 else fib(n - 1) + fib(n - 2)
        """),
        test("test_fib", "assert [fib(i) for i in range(7)] == [0, 1, 1, 2, 3, 5, 8]", points=2),
        text("Now write `fib_fast(n)`, in time linear in n (graded by hand, and tested)."),
        manual_code("fib_fast", """
            def fib_fast(n):
                a, b = 0, 1
                for _ in range(n):
                    a, b = b, a + b
                return a
        """, points=2),
        test("test_fib_fast", "assert fib_fast(30) == 832040"),
        text("Why is `fib_fast` linear?"),
        manual_text("explain", "One loop of n steps, each of constant work.", points=1),
        task("plot_task", "Plot `fib(n)` for n up to 20 in new cells and describe its growth.",
             points=1),
    ),
    untouched=Submission(release=True, why="the release as is: a task always needs grading",
                         plain={"*": 0, "plot_task": None}),
    wrong=Submission(
        {"fib": "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 3)",
         "fib_fast": "def fib_fast(n):\n    return fib(n)"},
        why="a wrong recurrence, used by fib_fast too",
        plain={"test_fib": 0, "test_fib_fast": 0}),
))

add(case(
    "p21_stderr", "anything a test cell writes to stderr costs it its points in nbgrader",
    notebook(
        setup("setup", "import sys\nimport warnings"),
        text("Write `mean(xs)`: None and a warning for an empty list."),
        answer("mean", """
            def mean(xs):
                if not xs:
                    warnings.warn("mean of an empty list")
                    return None
                return sum(xs) / len(xs)
        """),
        test("test_mean", "assert mean([1, 2, 3]) == 2\nassert mean([1.5]) == 1.5"),
        test("test_empty_warns", """
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert mean([]) is None
            assert len(caught) == 1
        """),
        test("test_mean_again", "assert mean([2, 4]) == 3"),
    ),
    noisy_print=Submission(
        {"mean": _code("""
            def mean(xs):
                print("debug:", xs, file=sys.stderr)
                if not xs:
                    warnings.warn("mean of an empty list")
                    return None
                return sum(xs) / len(xs)
        """)},
        why="right, but prints debugging output to stderr", plain=ZERO),
    noisy_warning=Submission(
        {"mean": _code("""
            def mean(xs):
                if not xs:
                    warnings.warn("mean of an empty list")
                    return None
                warnings.warn("debug: mean called")
                return sum(xs) / len(xs)
        """)},
        why="right, but warns on every call (Python shows a warning once per place)",
        plain={"test_mean": 0, "test_mean_again": 0}),
))

BY_ID = {c.id: c for c in CASES}
