"""nbgrader's own ``autograde``, with students' code in our sandbox: for a course on a hub.

In the course's ``nbgrader_config.py`` (``deploy/local/course_config.py`` writes it)::

    c.Autograde.autograde_preprocessors = ["autograder.sandboxed.SandboxedAutograde", ...]

and every way an instructor autogrades, the formgrader's button or ``nbgrader autograde``
in a terminal, runs the student's cells in a sandboxed worker and the tests in a judge, as
``python -m autograder grade`` does, instead of the whole notebook in a Jupyter kernel with
the grader's rights. nbgrader does everything else as usual: it has already put the
instructor's test cells back (hidden tests included) before this step, and it scores the
outputs written here by its own rules (:class:`~autograder.preprocessors.ApplyVerdicts`).

The judge runs the cells of the notebook nbgrader is about to score (so what is scored is what
ran), with the test and locked cells as the gradebook stored them at release, and the test
cells a student deleted put back, as the batch grader does. The verdict is kept in
``<course>/verdicts/<student>/<notebook>.json`` beside the autograded notebook.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path

import nbformat
from traitlets import Float, Integer

from autograder import course, judge
from autograder.grade import _judge_request, _load_assignment
from autograder.inputs import copy_regular_files
from autograder.preprocessors import ApplyVerdicts, verdict_path
from autograder.sandbox import Limits, SandboxUnavailable, check_sandbox

_one_at_a_time = threading.Lock()  # one sandbox slot: the formgrader grades one notebook at once


class SandboxedAutograde(ApplyVerdicts):
    """Grades the notebook in the sandbox, then writes its outputs as ApplyVerdicts does."""

    call_seconds = Float(Limits().call_seconds,
                         help="seconds for one cell or one call of a student's function"
                         ).tag(config=True)
    submission_seconds = Float(Limits().submission_seconds,
                               help="seconds for all of one notebook").tag(config=True)
    memory_mib = Integer(Limits().memory_bytes >> 20,
                         help="MiB of memory a student's code may use").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        # The course's config names its folder (nbgrader runs autograde from there too).
        root = Path(self.config.CourseDirectory.get("root") or Path.cwd())
        limits = Limits(call_seconds=self.call_seconds,
                        submission_seconds=self.submission_seconds,
                        memory_bytes=self.memory_mib << 20)
        try:
            check_sandbox()
        except SandboxUnavailable as error:
            raise RuntimeError(f"no sandbox for students' code ({error}); nothing was graded. "
                               "Install bubblewrap (apt-get install bubblewrap).") from None
        verdict = grade_cells(root, info["assignment"], info["student"],
                              f"{info['notebook']}.ipynb", nb, limits, info["db_url"])
        path = verdict_path(root / "verdicts", info["student"], info["notebook"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(verdict, indent=1))
        self.verdicts = str(root / "verdicts")
        return super().preprocess(nb, resources)


def grade_cells(root: Path, assignment: str, student: str, name: str, nb, limits: Limits,
                db_url: str) -> dict:
    """The verdict on ``nb`` (changed in place: deleted test cells put back)."""
    task = _load_assignment(assignment, root, limits)
    if name not in task.sources:
        raise RuntimeError(f"{name} is not a notebook of {assignment} (source/{assignment}/)")
    course.restore_test_cells(nb, task.sources[name])
    task.references[name] = course.stored_cells(db_url, assignment, name)  # AUTOTESTs made
    cells = json.loads(nbformat.writes(nb))["cells"]
    judge.preload(task.preload)
    with tempfile.TemporaryDirectory(prefix="files-") as files, _one_at_a_time:
        submitted = root / "submitted" / student / assignment
        if submitted.is_dir():
            copy_regular_files(submitted, Path(files))
        copy_regular_files(task.folder, Path(files), overwrite=True)
        log = root / "logs" / f"{student}.log"
        log.parent.mkdir(exist_ok=True)
        return judge.judge({
            **_judge_request(task, name, cells, limits, sandboxed=True), "slot": 0,
            "files": files, "log": str(log), "cwd": str(task.folder),
        }, timeout=limits.submission_seconds + 60)
