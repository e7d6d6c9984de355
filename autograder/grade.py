"""Grade a class's submissions of one assignment.

1. Find each student's notebook (:mod:`autograder.inputs`: folders, zips, LMS
   bulk zips) and check it is one of this assignment's notebooks.
2. Grade every notebook, ``workers`` at a time (or on a Dask cluster's workers:
   :mod:`autograder.cluster`): the student's code runs in a sandboxed worker, the
   instructor's tests in a judge beside it (:mod:`autograder.engine`).
   Each verdict is saved as soon as it is known, keyed by the notebook's and the
   assignment's contents, so a run that is stopped (Ctrl-C, SIGKILL) and started
   again only grades what is left, and a regrade of unchanged work is identical.
3. nbgrader records the verdicts in the gradebook and writes the feedback
   (:mod:`autograder.course`).

Results:

    out/grades.csv              student_id,score,max_score,status,message
    out/report.json             per-test results for every student (misconceptions named,
                                forbidden APIs used), similar pairs, earlier runs
    out/report.html             the class report (autograder.report), self-contained
    out/feedback/<student>.html nbgrader's feedback, hidden tests' code removed, what to revisit
    out/canvas_gradebook.csv    the LMS import files, when submissions came from an LMS
    out/moodle_worksheet.csv    (autograder.lms)

A status is ``graded``; ``forbidden`` (graded, but the answers use an API the assignment
forbids: :mod:`autograder.rules`); ``timeout`` (the submission's time budget ran out: the
tests reached still count); ``malformed`` (not a notebook of this assignment,
unreadable, too large, a folder name that is not an id); ``duplicate`` (two
submissions for one id); ``crashed`` (the grader could not grade or record it).
The students' files are only ever read, never moved or changed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from autograder import course, history, judge, lms, rules, similarity, warm
from autograder import report as class_report
from autograder.engine import instructor_names, reference_cells
from autograder.feedback_writer import FeedbackWriter
from autograder.inputs import gather, intake
from autograder.nbcells import grade_id, is_test, nbgrader_meta
from autograder.preprocessors import verdict_path
from autograder.sandbox import Limits, SandboxUnavailable, check_sandbox
from descent.checks.misconceptions import find as find_misconceptions
from descent.paths import repo_root

#: Changes whenever a change here could change a verdict: old verdicts are then regraded.
ENGINE_VERSION = "4"


class GraderError(Exception):
    """The grader itself cannot run (bad assignment, unreadable folder, no sandbox)."""


@dataclass
class StudentResult:
    student_id: str
    status: str  # graded | timeout | forbidden | malformed | duplicate | crashed
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    tests: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    reused: bool = False  # verdicts from an earlier run of the same files
    record_seconds: float = 0.0  # nbgrader's autograde and feedback for this student
    forbidden: list[dict] = field(default_factory=list)  # uses of APIs the rules forbid
    origin: dict = field(default_factory=dict)  # where the submission came from (an LMS)


@dataclass
class Assignment:
    name: str
    work: Path
    sources: dict[str, nbformat.NotebookNode]  # notebook file name -> instructor's version
    references: dict[str, dict]  # notebook file name -> its test and locked cells (engine)
    pushable: dict[str, set]  # notebook file name -> names its own non-test code uses
    digest: str  # of the source notebooks and files, the engine version and the limits
    preload: list[str] = field(default_factory=list)  # modules its cells import
    forbidden: dict[str, list[str]] = field(default_factory=dict)  # notebook -> APIs (rules)

    @property
    def folder(self) -> Path:
        """The instructor's copy: notebooks and the files shipped beside them."""
        return self.work / "source" / self.name

    def cell_ids(self) -> dict[str, set[str]]:
        return {name: {grade_id(c) for c in nb.cells if grade_id(c)}
                for name, nb in self.sources.items()}

    def points(self, name: str) -> dict[str, float]:
        return {grade_id(c): float(nbgrader_meta(c).get("points", 0))
                for c in self.sources[name].cells if is_test(c)}

    def max_score(self) -> float:
        return sum(float(nbgrader_meta(c).get("points", 0) or 0)
                   for nb in self.sources.values() for c in nb.cells
                   if nbgrader_meta(c).get("grade") or nbgrader_meta(c).get("task"))


def _verdict_key(assignment: Assignment, staged: bytes, files: Path) -> str:
    digest = hashlib.sha256(assignment.digest.encode() + staged)
    for path in sorted(files.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(files)).encode() + path.read_bytes())
    return digest.hexdigest()


def _to_judge(assignment: Assignment, student_id: str
              ) -> tuple[dict[str, dict], dict[str, tuple[str, list]]]:
    """A student's saved verdicts that still hold, and each notebook left to judge: its
    verdict key and its cells (plain JSON data)."""
    saved_verdicts, pending = {}, {}
    folder = assignment.work / "submitted" / student_id / assignment.name
    files = assignment.work / "files" / student_id
    for name in assignment.sources:
        if not (folder / name).is_file():
            continue  # not handed in: nbgrader scores it 0
        staged = (folder / name).read_bytes()
        key = _verdict_key(assignment, staged, files)
        path = verdict_path(assignment.work / "verdicts", student_id, Path(name).stem)
        if path.is_file():
            try:
                saved = json.loads(path.read_text())
                if saved.get("key") == key:
                    saved_verdicts[name] = saved
                    continue
            except ValueError:
                pass  # a verdict cut off mid-write is graded again
        # Plain JSON data, not nbformat's objects: unpickling those would import nbformat in
        # every judge (over a second each).
        pending[name] = (key, json.loads(nbformat.writes(nbformat.reads(staged.decode("utf-8"),
                                                                         as_version=4)))["cells"])
    return saved_verdicts, pending


def _judge_request(assignment: Assignment, name: str, cells: list, limits: Limits,
                   sandboxed: bool) -> dict:
    """What a judge needs to grade one notebook, but where it runs (slot, files, log, cwd)."""
    return {"cells": cells, "reference": assignment.references[name],
            "pushable": sorted(assignment.pushable[name]), "notebook": name,
            "limits": limits, "sandboxed": sandboxed,
            "forbidden": assignment.forbidden.get(name, [])}


def _save_verdict(assignment: Assignment, student_id: str, name: str, verdict: dict,
                  key: str) -> dict:
    verdict["key"] = key
    path = verdict_path(assignment.work / "verdicts", student_id, Path(name).stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(verdict, indent=1))
    os.replace(partial, path)  # atomic: a verdict is whole or absent
    return verdict


def _in_notebook_order(assignment: Assignment, verdicts: dict[str, dict]) -> dict[str, dict]:
    return {name: verdicts[name] for name in assignment.sources if name in verdicts}


def _grade_student(assignment: Assignment, student_id: str, limits: Limits, sandboxed: bool,
                   slots: queue.Queue, zygotes: list | None = None
                   ) -> tuple[dict[str, dict], bool]:
    """Each notebook's verdict (saved as it comes), and whether all were reused."""
    verdicts, pending = _to_judge(assignment, student_id)
    files = assignment.work / "files" / student_id
    log = assignment.work / "logs" / f"{student_id}.log"
    for name, (key, cells) in pending.items():
        log.parent.mkdir(exist_ok=True)
        slot = slots.get()
        began = time.monotonic()
        try:
            verdict = judge.judge({
                **_judge_request(assignment, name, cells, limits, sandboxed), "slot": slot,
                "files": str(files), "log": str(log), "cwd": str(assignment.folder),
                "zygote": zygotes[slot].address if zygotes else None,
            }, timeout=limits.submission_seconds + 60)
        finally:
            slots.put(slot)
        verdict["judge_seconds"] = round(time.monotonic() - began, 3)  # with the process start
        verdicts[name] = _save_verdict(assignment, student_id, name, verdict, key)
    return _in_notebook_order(assignment, verdicts), not pending


def _summary(assignment: Assignment, verdicts: dict[str, dict]
             ) -> tuple[str, str, dict, list[dict]]:
    """(status, message, per-test details, forbidden uses) from one student's verdicts; the
    scores are nbgrader's, read back from the gradebook once recorded. A test's
    ``misconceptions`` are the ids tagged in what it printed or raised."""
    status, problems, tests, forbidden = "graded", [], {}, []
    for name, verdict in verdicts.items():
        points = assignment.points(name)
        if verdict.get("out_of_time"):
            status = "timeout"
        problems += verdict.get("problems", [])
        forbidden += [{**use, "notebook": Path(name).stem} for use in verdict.get("forbidden", [])]
        for cell_id, cell in verdict["cells"].items():
            error = cell.get("error") or {}
            if error.get("ename") in ("CellTimeout", "WorkerDied", "CallFailed"):
                problems.append(f"{cell_id}: {error.get('evalue')}")
            if cell["kind"] == "test":
                stderr = any(o.get("name") == "stderr" for o in cell.get("outputs", []))
                passed = not error and not stderr
                message = f"{error.get('ename')}: {error.get('evalue')}" if error else (
                    "printed on stderr (nbgrader scores such a test 0)" if stderr else "")
                printed = "".join(str(o.get("text", "")) for o in cell.get("outputs", []))
                tests[cell_id] = {
                    "notebook": Path(name).stem, "passed": passed,
                    "score": points.get(cell_id, 0.0) if passed else 0.0,
                    "max_score": points.get(cell_id, 0.0), "message": message,
                    "misconceptions": [] if passed else find_misconceptions(
                        f"{error.get('evalue', '')}\n{printed}"),
                }
    message = "; ".join(problems)
    if status == "timeout":
        message = "the submission's time limit ran out; tests not reached score 0. " + message
    if forbidden:
        apis = ", ".join(dict.fromkeys(use["api"] for use in forbidden))
        message = (f"uses what the assignment forbids: {apis} (the score is what the tests "
                   f"gave). " + message)
        status = "forbidden" if status == "graded" else status
    return status, message[:2000], tests, forbidden


def _load_assignment(name: str, work: Path, limits: Limits) -> Assignment:
    source_dir = work / "source" / name
    sources = {p.name: nbformat.read(p, as_version=4) for p in sorted(source_dir.glob("*.ipynb"))}
    digest = hashlib.sha256(ENGINE_VERSION.encode() + repr(limits).encode())
    for path in sorted(source_dir.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(source_dir)).encode() + path.read_bytes())
    references = {n: reference_cells(nb) for n, nb in sources.items()}
    pushable = {n: instructor_names(nb) for n, nb in sources.items()}
    try:
        forbidden = {n: rules.declared(nb) for n, nb in sources.items()}
    except ValueError as error:
        raise GraderError(f"{name}: {error}") from None
    return Assignment(name, work, sources, references, pushable, digest.hexdigest(),
                      _imports(sources.values()), forbidden)


def _imports(notebooks) -> list[str]:
    """Modules the instructor's locked and test cells import: every judge is forked from a
    server that imported them once (one that fails to import there is skipped)."""
    import ast

    found = set()
    for notebook in notebooks:
        for cell in notebook.cells:
            if cell.cell_type != "code" or not nbgrader_meta(cell).get("locked"):
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module)  # and `from package import module`'s modules:
                    found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return sorted(name for name in found if _installed(name.split(".")[0]))


def _installed(package: str) -> bool:
    """Whether ``package`` is installed (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _findings(source: Path) -> list:
    """``python -m autograder check``'s findings, said once before grading."""
    from autograder.check import check_assignment

    try:
        findings = check_assignment(source)
    except Exception as error:  # noqa: BLE001 - the check is advice; grading goes on
        print(f"autograder: could not check the assignment ({error})", file=sys.stderr)
        return []
    forgeable = [f for f in findings if f.severity == "forgeable"]
    if forgeable:
        print(f"autograder: WARNING: {len(forgeable)} test(s) a student could forge "
              f"({', '.join(sorted({f.cell_id for f in forgeable}))}); see `python -m "
              "autograder check` and report.json", file=sys.stderr)
    return findings


def _has_autotests(task: Assignment) -> bool:
    return any("AUTOTEST" in cell.source for nb in task.sources.values() for cell in nb.cells
               if cell.cell_type == "code")


def find_source(assignment: str, source: Path | None = None) -> Path:
    """The instructor's folder of an assignment: ``source``, else ``solutions/<assignment>``."""
    if source is not None:
        source = Path(source)
        if not source.is_dir() or not list(source.glob("*.ipynb")):
            raise GraderError(f"--source {source} is not a folder holding the assignment's "
                              "notebooks")
        return source.resolve()
    source = repo_root() / "solutions" / assignment
    if not source.is_dir():
        known = sorted(p.name for p in (repo_root() / "solutions").iterdir() if p.is_dir())
        raise GraderError(f"no assignment {assignment!r} in solutions/ (known: "
                          f"{', '.join(known)}); give its folder with --source")
    return source


def grade(assignment: str, submissions: Path, out: Path, *, work: Path | None = None,
          db_url: str | None = None, workers: int | None = None, limits: Limits | None = None,
          unsafe: bool = False, source: Path | None = None, site_url: str | None = None,
          canvas_gradebook: Path | None = None, moodle_worksheet: Path | None = None,
          canvas_column: str | None = None, cluster: str | None = None) -> list[StudentResult]:
    """Grade every submission found in ``submissions``; return one result per student.

    ``site_url``: the course website's address, for links from feedback and the class report
    to the book's sections. ``canvas_gradebook``, ``moodle_worksheet``, ``canvas_column``: how
    to write the LMS import files (:mod:`autograder.lms`). ``cluster``: a Dask scheduler's
    address: the students' code is graded on its workers (:mod:`autograder.cluster`)."""
    started = time.monotonic()
    limits = limits or Limits()
    submissions = Path(submissions)
    if not submissions.exists():
        raise GraderError(f"submissions {submissions} does not exist")
    source = find_source(assignment, source)
    exports = {"canvas_gradebook": canvas_gradebook, "moodle_worksheet": moodle_worksheet,
               "canvas_column": canvas_column}
    try:
        lms.check_files(assignment, **exports)  # now, rather than after grading the class
    except lms.LmsError as error:
        raise GraderError(str(error)) from None
    dask = None
    if cluster is not None:  # reached, and its workers checked, before any work is done
        from autograder.cluster import connect

        dask, sandbox = connect(cluster, sandboxed=not unsafe)
    if unsafe:
        sandbox = "NONE: --unsafe, students' code ran with the grader's rights"
        print("autograder: WARNING: --unsafe: students' code runs WITHOUT a sandbox, with "
              "your user's rights (it can read solutions/ and write the gradebook)",
              file=sys.stderr)
    elif dask is None:  # (on a cluster, the workers' sandboxes were checked by connect)
        try:
            sandbox = check_sandbox()
        except SandboxUnavailable as error:
            raise GraderError(f"no sandbox: {error}") from None
    # One judge per core: the recording (autograde, a tenth of a second a student) and the
    # feedback pages (another process) fit beside them; on 2 cores two grade faster than one.
    workers = max(1, workers or os.cpu_count() or 2)
    work = Path(work or repo_root() / ".grading" / assignment).resolve()
    out = Path(out).resolve()
    db_url = db_url or f"sqlite:///{work / 'gradebook.db'}"
    course.prepare(source, assignment, work, db_url)
    out.mkdir(parents=True, exist_ok=True)
    # What takes seconds to start, started side by side now: the process that writes the
    # feedback pages, nbgrader for the recorder (a thread), the judges' fork server (below).
    pages = FeedbackWriter(work, assignment, out, site_url,
                           processes=1 if (os.cpu_count() or 2) < 4 else 2)
    opening = ThreadPoolExecutor(max_workers=1)
    recorder_course = opening.submit(course.Course, work, assignment)
    opening.shutdown(wait=False)
    try:
        task = _load_assignment(assignment, work, limits)
        judge.preload(task.preload, start=True)
        generated = _has_autotests(task)
        if generated:
            # nbgrader instantiates AUTOTEST cells when it generates the assignment: the tests
            # to run are the ones it stores in its gradebook (hidden tests included).
            nbgrader = recorder_course.result()
            try:
                nbgrader.generate()
            except course.CourseError as error:
                raise GraderError(str(error)) from None
            for name in task.sources:
                task.references[name] = nbgrader.stored_cells(name)
        findings = _findings(source)
        max_score = task.max_score()
        try:
            entries = gather(submissions, work / "inbox")
        except (ValueError, OSError) as error:
            raise GraderError(f"cannot read {submissions}: {error}") from None

        staged, refused = intake(entries, task)  # student id -> note about their notebooks
        results = {student_id: StudentResult(student_id, status, 0.0, max_score, message)
                   for student_id, status, message in refused}

        results.update(_grade_all(task, staged, limits, not unsafe, workers, generated,
                                  recorder_course, pages, cluster=dask))
    except BaseException:
        pages.stop()
        if recorder_course.done() and not recorder_course.exception():
            recorder_course.result().close()
        raise
    ordered = [results[student_id] for student_id in sorted(results)]
    origins = lms.origins_of(entries)
    for result in ordered:
        result.max_score = result.max_score or max_score
        result.origin = origins.get(result.student_id, {})
    scored = [r.student_id for r in ordered if r.status in history.SCORED]
    # Leads for the instructor, never a change to a grade; found while the last pages are written.
    pairs = similarity.class_pairs(work, assignment, task.sources, scored)
    for student_id, (notes, seconds) in pages.finish().items():
        result = results[student_id]
        result.message = _joined(result.message, *notes)
        result.record_seconds = round(result.record_seconds + seconds, 3)
    report = _write_results(out, assignment, max_score, ordered, {
        "sandbox": sandbox, "workers": workers, "limits": asdict(limits),
        "findings": [asdict(finding) for finding in findings],
        "seconds": round(time.monotonic() - started, 2),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "site_url": site_url},
        {"similarity": pairs})
    # The class beside the earlier runs of this assignment kept in the gradebook.
    report["history"] = history.record(db_url, report)
    _write_report_json(out, report)
    class_report.write_report(out, site_url)
    try:
        written = lms.write_lms_files(out, assignment, ordered, **exports)
    except lms.LmsError as error:  # the export changed since the check: grades.csv stands
        print(f"autograder: no LMS file written: {error}", file=sys.stderr)
    else:
        for note in written.notes:
            print(f"autograder: {note}", file=sys.stderr)
        for path in written.paths:
            print(f"autograder: {path.name} is ready for the LMS's import", file=sys.stderr)
    return ordered


def _grade_all(task: Assignment, staged: dict[str, str], limits, sandboxed, workers,
               generated: bool, recorder_course, pages: FeedbackWriter,
               cluster=None) -> dict[str, StudentResult]:
    """Grade the staged students in parallel; record each through nbgrader as it is done.

    One recorder thread owns nbgrader (and so every write to the gradebook): it
    registers the assignment while the first submissions are graded, then takes
    each graded student in turn: autograde (verdicts into the gradebook), scores
    read back. Their feedback pages are written meanwhile by a process of their own
    (:mod:`feedback_writer`).
    """
    slots: queue.Queue = queue.Queue()
    for slot in range(workers):
        slots.put(slot)
    results: dict[str, StudentResult] = {}
    graded: queue.Queue = queue.Queue()
    failure: list[BaseException] = []

    recorded: set[str] = set()

    def record() -> None:
        try:
            nbgrader = recorder_course.result()  # (``recorder_course``: a future Course)
            if not generated:
                nbgrader.generate()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failure.append(error)
            while graded.get() is not None:  # keep draining so the graders never block
                pass
            return
        while (student_id := graded.get()) is not None:
            began = time.monotonic()
            result = results[student_id]
            try:
                _record(nbgrader, result)
                recorded.add(student_id)
                if result.status != "crashed":
                    pages.submit(student_id, result.tests)
            except Exception as error:  # noqa: BLE001 - one student's record, never the batch
                # Their scores never reached the gradebook: no grade is reported for them.
                result.status, result.score = "crashed", 0.0
                result.message = _joined(result.message, (
                    f"graded, but could not be recorded: {type(error).__name__}: {error}"
                    )[:500])
            result.record_seconds = round(time.monotonic() - began, 3)
        nbgrader.close()

    def accept(student_id: str, verdicts: dict | None = None, reused: bool = False,
               seconds: float = 0.0, error: Exception | None = None) -> None:
        """A student's verdicts (or why there are none) into their result; to the recorder."""
        result = results[student_id] = StudentResult(student_id, "crashed",
                                                      message=staged[student_id], reused=reused)
        if error is not None:
            result.message = f"could not be graded: {type(error).__name__}: {error}"
            return
        result.status, problems, result.tests, result.forbidden = _summary(task, verdicts)
        result.message = _joined(result.message, problems)
        result.seconds = round(seconds, 2)
        graded.put(student_id)

    def one(student_id: str) -> None:
        began = time.monotonic()
        try:
            verdicts, reused = _grade_student(task, student_id, limits, sandboxed, slots,
                                              zygotes)
        except Exception as error:  # noqa: BLE001 - one student, never the batch
            accept(student_id, error=error)
            return
        accept(student_id, verdicts, reused, time.monotonic() - began)

    zygotes: list = []
    recorder = threading.Thread(target=record, name="nbgrader", daemon=True)
    recorder.start()
    if cluster is not None:  # each student a Dask task; their verdicts come back here
        from autograder.cluster import grade_on_cluster

        grade_on_cluster(cluster, task, sorted(staged), limits, sandboxed, accept)
    else:
        # Workers forked warm, one zygote a slot (as root: autograder.warm), when any is due.
        zygotes = warm.start(workers, limits, task.work / "logs") if staged and warm.usable(
            sandboxed) else []
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = [pool.submit(one, student_id) for student_id in sorted(staged)]
            while not all(future.done() for future in futures):
                time.sleep(0.1)  # (not a blocking wait: Ctrl-C reaches this thread at once)
            for future in futures:
                future.result()
        except BaseException:
            # Ctrl-C: stop at once (the caller exits); saved verdicts make the next run resume.
            pool.shutdown(wait=False, cancel_futures=True)
            pages.stop()
            raise
        finally:
            warm.stop(zygotes)
        pool.shutdown()
    graded.put(None)
    recorder.join()
    if failure:
        raise GraderError(f"nbgrader could not set up the course: {failure[0]}")
    for student_id, result in results.items():
        if result.status != "crashed" and student_id not in recorded:  # never a grade unsaved
            result.status, result.score = "crashed", 0.0
            result.message = _joined(result.message,
                                     "graded, but not recorded in the gradebook: grade again")
    return results


def _joined(*notes: str) -> str:
    """A result's message: its notes that say something, in order."""
    return "; ".join(note for note in notes if note)


def _record(nbgrader: course.Course, result: StudentResult) -> None:
    """One graded student into the gradebook; their scores as it holds them."""
    problem = nbgrader.autograde(result.student_id)
    if problem:
        result.status, result.message = "crashed", problem
        return
    try:
        result.score, result.max_score, recorded = nbgrader.scores(result.student_id)
    except Exception as error:  # noqa: BLE001 - one student's gradebook entry, not the batch
        result.status = "crashed"
        result.message = f"graded, but the gradebook could not be read back ({error})"
        return
    for test_id, entry in recorded.items():
        result.tests.setdefault(test_id, {}).update(entry)


def _write_results(out: Path, assignment: str, max_score: float, results, run: dict,
                   extra: dict | None = None) -> dict:
    """grades.csv now; the run's report as a dict, written (once) when its history is in."""
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "score", "max_score", "status", "message"])
        for r in results:
            writer.writerow([r.student_id, f"{r.score:g}", f"{r.max_score:g}", r.status, r.message])
    report = {
        "assignment": assignment,
        "max_score": max_score,
        "run": run,
        "students": {r.student_id: asdict(r) for r in results},
        **(extra or {}),
    }
    return report


def _write_report_json(out: Path, report: dict) -> None:
    partial = out / "report.json.partial"
    partial.write_text(json.dumps(report, indent=2))
    os.replace(partial, out / "report.json")

