"""The grader's private nbgrader course: gradebook, autograded notebooks, feedback.

Each run keeps a course folder (``--work``, by default ``.grading/<assignment>``)::

    work/source/<assignment>/      copy of solutions/<assignment>/
    work/release/...               nbgrader generate_assignment
    work/submitted/<student>/<assignment>/<notebook>.ipynb
    work/verdicts/<student>/<notebook>.json   the sandboxed grading's results (kept: resume)
    work/autograded/...  work/feedback/...  work/gradebook.db (unless --db)

nbgrader's ``autograde`` runs with :class:`~autograder.preprocessors.ApplyVerdicts`
in place of its Execute step, so it executes nothing: it records the verdicts
in the gradebook (any SQLAlchemy URL) where formgrader and manual grading see them.
The test cells a student deleted are put back (from the instructor's version)
first, so that a deleted test cell does not cost a correct answer its points.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from autograder.nbcells import grade_id, nbgrader_meta

COURSE_ID = "descent"


class CourseError(Exception):
    """nbgrader itself failed (not a student's notebook)."""


def write_config(work: Path, db_url: str) -> None:
    (work / "nbgrader_config.py").write_text(config_text(work, db_url))


def config_text(work: Path, db_url: str,
                first_step: str = "autograder.preprocessors.ApplyVerdicts") -> str:
    """An nbgrader_config.py for a course at ``work`` whose autograde runs nothing in a kernel:
    ``first_step`` writes the sandboxed grading's outputs (saved verdicts, or a fresh grading:
    :mod:`autograder.sandboxed`), and feedback hides the hidden tests."""
    return (
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.root = {str(work)!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
        "# Nothing runs in nbgrader's kernel: the sandboxed grading's verdicts become outputs.\n"
        "c.Autograde.autograde_preprocessors = [\n"
        f"    {first_step!r},\n"
        "    'nbgrader.preprocessors.IgnorePattern',\n"
        "    'nbconvert.preprocessors.ClearMetadataPreprocessor',\n"
        "    'nbgrader.preprocessors.LimitOutput',\n"
        "    'nbgrader.preprocessors.SaveAutoGrades',\n"
        "    'nbgrader.preprocessors.AssignLatePenalties',\n"
        "]  # (CheckCellMetadata: its sanitizing step checked them already)\n"
        f"c.ApplyVerdicts.verdicts = {str(work / 'verdicts')!r}\n"
        "# Feedback goes to students: strip the hidden tests' code, in cells and tracebacks.\n"
        "c.GenerateFeedback.preprocessors = [\n"
        "    'nbgrader.preprocessors.GetGrades',\n"
        "    'nbgrader.preprocessors.ClearHiddenTests',\n"
        "    'autograder.preprocessors.ShortTracebacks',\n"
        "    'nbconvert.preprocessors.CSSHTMLHeaderPreprocessor',\n"
        "]\n"
    )


def prepare(source: Path, assignment: str, work: Path, db_url: str) -> None:
    """A fresh copy of the assignment in the course folder (gradebook and verdicts kept)."""
    for step in ("source", "release", "submitted", "autograded", "feedback", "files"):
        shutil.rmtree(work / step, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, work / "source" / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    write_config(work, db_url)


def _compile_templates_once() -> None:
    """Keep nbconvert's compiled templates for the whole run. nbconvert builds a new template
    environment for every student's feedback and compiled its templates each time (a quarter
    of a second, half the cost of a student's feedback); a jinja2 bytecode cache in memory,
    keyed as jinja2 keys it (template name and source checksum), is handed to each one."""
    from jinja2 import BytecodeCache
    from nbconvert.exporters.templateexporter import TemplateExporter

    if getattr(TemplateExporter, "_descent_cached", False):
        return

    class InMemory(BytecodeCache):
        def __init__(self):
            self.code: dict[str, bytes] = {}

        def load_bytecode(self, bucket) -> None:
            if bucket.key in self.code:
                bucket.bytecode_from_string(self.code[bucket.key])

        def dump_bytecode(self, bucket) -> None:
            self.code[bucket.key] = bucket.bytecode_to_string()

    cache, create = InMemory(), TemplateExporter._create_environment

    def create_with_cache(self):
        environment = create(self)
        environment.bytecode_cache = cache
        return environment

    TemplateExporter._create_environment = create_with_cache
    TemplateExporter._descent_cached = True


_engines_lock = threading.Lock()
_engines: dict[tuple, object] = {}  # (gradebook URL, options) -> its SQLAlchemy engine


def _reuse_gradebook_engines() -> None:
    """One SQLAlchemy engine per gradebook for the whole run. nbgrader opens a new
    ``Gradebook``, and so a new engine, eleven times per student (autograde, its scores,
    feedback); an engine keeps the SQL it compiled, so each new one compiled every statement
    again: 0.1 s of a student's recording. The same statements reach the same database."""
    import nbgrader.api
    from sqlalchemy import create_engine

    if getattr(nbgrader.api, "_descent_engines", False):
        return

    def shared_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        with _engines_lock:
            if key not in _engines:
                _engines[key] = create_engine(url, **options)
            return _engines[key]

    nbgrader.api.create_engine = shared_engine
    nbgrader.api._descent_engines = True


def _release_engines(db_url: str) -> None:
    """Close the pooled connections to ``db_url`` (a PostgreSQL server may then be stopped)."""
    with _engines_lock:
        stale = [key for key in _engines if key[0] == db_url]
        engines = [_engines.pop(key) for key in stale]
    for engine in engines:
        engine.dispose()


def _check_metadata_schema_once() -> None:
    """nbgrader checks each cell's nbgrader metadata with ``jsonschema.validate``, which first
    checks the schema itself against its meta-schema and builds a validator, for every cell:
    0.09 s of a student's recording. Here both are made once per schema; each cell is then
    checked, and an invalid one reported, exactly as ``jsonschema.validate`` does."""
    import json

    import jsonschema
    import nbgrader.nbgraderformat.common as common

    if isinstance(common.jsonschema, _SchemaCheckedOnce):
        return
    common.jsonschema = _SchemaCheckedOnce(jsonschema, json.dumps)


class _SchemaCheckedOnce:
    """Stands in for the ``jsonschema`` module in nbgrader's metadata validator."""

    def __init__(self, jsonschema, dumps):
        self.jsonschema, self.dumps = jsonschema, dumps
        self.validators: dict[str, object] = {}
        self.lock = threading.Lock()

    def validate(self, instance, schema) -> None:
        key = self.dumps(schema, sort_keys=True)
        with self.lock:
            validator = self.validators.get(key)
            if validator is None:
                cls = self.jsonschema.validators.validator_for(schema)
                cls.check_schema(schema)
                validator = self.validators[key] = cls(schema)
        error = self.jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name):
        return getattr(self.jsonschema, name)


def _alembic_head_in_process() -> None:
    """nbgrader stamps a new gradebook with its schema's alembic revision, which it finds by
    running ``alembic heads`` in a subprocess (3 s: a Python that imports nbgrader). The same
    revision is read here from nbgrader's own migration scripts."""
    import nbgrader.api
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    if getattr(nbgrader.api, "_descent_alembic", False):
        return
    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    nbgrader.api.get_alembic_version = lambda: head
    nbgrader.api._descent_alembic = True


class GradebookLock:
    """One writer at a time on a gradebook, across processes: two graders sharing one
    gradebook (two halves of a class on two machines, one PostgreSQL) must not interleave
    nbgrader's steps. ``generate_assignment`` removes and re-adds a notebook that has no
    submission yet; run while the other grader records a student, it deleted that
    student's submitted notebook (a graded student missing from the gradebook).

    PostgreSQL: a session-level advisory lock keyed by the course and assignment. SQLite:
    an exclusive ``flock`` on a file beside the database. Other databases: a file lock in
    the course folder, which serializes the graders of one machine only."""

    def __init__(self, db_url: str, work: Path, assignment: str):
        self.db_url, self.assignment = db_url, assignment
        digest = hashlib.sha256(f"{COURSE_ID}/{assignment}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)  # a bigint, as Postgres wants
        self._connection = None
        if db_url.startswith("sqlite:///"):
            self.path = Path(db_url.removeprefix("sqlite:///")).with_suffix(".lock")
        else:
            self.path = work / "gradebook.lock"

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.db_url.startswith(("postgresql", "postgres")):
            connection = self._postgres()
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({self.key})")
            try:
                yield
            finally:
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({self.key})")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _postgres(self):
        if self._connection is None:
            from sqlalchemy import create_engine

            engine = create_engine(self.db_url, isolation_level="AUTOCOMMIT")
            self._connection = engine.connect()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def venv_first_path() -> str:
    """``$PATH`` with this interpreter's ``bin`` first: nbgrader shells out to ``alembic``
    (gradebook migrations), which must be this environment's."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


class Course:
    """nbgrader's API on the course folder, in this process (one import for the whole run).

    Use it from one thread: that thread is the only writer of the gradebook in this
    process, and :class:`GradebookLock` keeps other graders of the same gradebook out
    while it writes.
    """

    def __init__(self, work: Path, assignment: str):
        os.environ["PATH"] = venv_first_path()
        from nbgrader.apps import NbGraderAPI
        from traitlets.config.loader import PyFileConfigLoader

        # A known, harmless SQLAlchemy warning from nbgrader's gradebook code.
        warnings.filterwarnings("ignore", message=".*not in session, add operation along")
        config = PyFileConfigLoader("nbgrader_config.py", path=str(work)).load_config()
        config.NbGraderAPI.log_level = "CRITICAL"  # failures are read from each result
        self.api, self.work, self.assignment = NbGraderAPI(config=config), work, assignment
        self.lock = GradebookLock(self.api.coursedir.db_url, work, assignment)
        _compile_templates_once()
        _reuse_gradebook_engines()
        _check_metadata_schema_once()
        _alembic_head_in_process()

    def close(self) -> None:
        self.lock.close()
        _release_engines(self.api.coursedir.db_url)


    def generate(self) -> None:
        """Release the assignment into the gradebook (test cells, points)."""
        for attempt in range(3):
            # Two graders creating one new gradebook at once (PostgreSQL) race on its
            # tables: the loser finds them made when it tries again.
            with self.lock.held():
                result = self.api.generate_assignment(self.assignment, force=True)
            if result["success"]:
                return
            time.sleep(1 + attempt)
        raise CourseError("nbgrader generate_assignment failed:\n"
                          + (result.get("error") or result.get("log") or "")[-3000:])

    def stored_cells(self, notebook: str) -> dict[str, dict]:
        return stored_cells(self.api.coursedir.db_url, self.assignment, notebook)

    def autograde(self, student_id: str) -> str:
        """Record one student's verdicts; "" when done, else nbgrader's explanation."""
        with self.lock.held():
            result = self.api.autograde(self.assignment, student_id, force=True)
        if result["success"] and self.is_autograded(student_id):
            return ""
        log = (result.get("log") or "") + (result.get("error") or "")
        errors = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
        return "nbgrader could not record this notebook: " + (
            errors[-1] if errors else log.strip()[-300:])

    def is_autograded(self, student_id: str) -> bool:
        return (self.work / "autograded" / student_id / self.assignment).is_dir()

    def scores(self, student_id: str) -> tuple[float, float, dict]:
        """(score, max_score, {test id: score details}) as the gradebook holds them."""
        from nbgrader.api import Gradebook

        tests = {}
        with Gradebook(self.api.coursedir.db_url, COURSE_ID) as gradebook:
            submission = gradebook.find_submission(self.assignment, student_id)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    tests[grade.name] = {
                        "notebook": notebook.name,
                        "score": float(grade.score),
                        "max_score": float(grade.max_score),
                        "passed": float(grade.score) == float(grade.max_score),
                    }
            return float(submission.score), float(submission.max_score), tests

    def feedback(self, student_id: str, out: Path) -> bool:
        self.api.generate_feedback(self.assignment, student_id, force=True)
        return copy_feedback(self.work, out, student_id, self.assignment)


def stored_cells(db_url: str, assignment: str, notebook: str) -> dict[str, dict]:
    """The test and locked code cells as nbgrader stored them when it generated the
    assignment (AUTOTESTs instantiated, hidden tests kept), by grade_id."""
    from nbgrader.api import Gradebook

    cells = {}
    with Gradebook(db_url, COURSE_ID) as gradebook:
        stored = gradebook.find_notebook(Path(notebook).stem, assignment)
        graded = {cell.name for cell in stored.grade_cells}
        answers = {cell.name for cell in stored.solution_cells}
        for cell in stored.source_cells:
            if cell.cell_type != "code" or cell.name in answers:
                continue
            if cell.name in graded:
                cells[cell.name] = {"kind": "test", "source": cell.source}
            elif cell.locked:
                cells[cell.name] = {"kind": "locked", "source": cell.source}
    return cells


def restore_test_cells(notebook, reference) -> list[str]:
    """Put back, in ``notebook``, the test cells a student deleted; return their ids.

    nbgrader overwrites the test cells it finds (hidden tests included) but scores
    a deleted one as failed, which would cost a correct answer its points. Each
    missing cell goes back after the nearest earlier cell of ``reference`` (the
    instructor's notebook) that the submission still has. Only the grader's copy
    is changed, never the student's file.
    """
    restored = []
    for index, cell in enumerate(reference.cells):
        test_id = grade_id(cell)
        if not nbgrader_meta(cell).get("grade"):
            continue
        present = [grade_id(c) for c in notebook.cells]
        if test_id in present:
            continue
        position = 0
        for earlier in reversed(reference.cells[:index]):
            if grade_id(earlier) in present:
                position = present.index(grade_id(earlier)) + 1
                break
        notebook.cells.insert(position, cell)
        restored.append(test_id)
    return restored


def copy_feedback(work: Path, out: Path, student_id: str, assignment: str) -> bool:
    pages = sorted((work / "feedback" / student_id / assignment).glob("*.html"))
    (out / "feedback").mkdir(exist_ok=True)
    if len(pages) == 1:
        shutil.copyfile(pages[0], out / "feedback" / f"{student_id}.html")
    for page in pages if len(pages) > 1 else []:
        (out / "feedback" / student_id).mkdir(exist_ok=True)
        shutil.copyfile(page, out / "feedback" / student_id / page.name)
    return bool(pages)
