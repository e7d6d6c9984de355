"""nbgrader preprocessors: the grader's verdicts into nbgrader, and the feedback students get."""

from __future__ import annotations

import json
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Unicode

from autograder.engine import grade_id


def verdict_path(folder: Path, student_id: str, notebook: str) -> Path:
    return Path(folder) / student_id / f"{notebook}.json"


class ApplyVerdicts(Preprocessor):
    """Stands in for nbgrader's Execute: writes the grader's verdicts as cell outputs.

    Nothing is executed here. Each test cell gets an error output when the
    sandboxed grading failed it and no output when it passed, so nbgrader's own
    rule (an error output scores 0, none scores full points) records exactly the
    grader's verdict in the gradebook; each answer cell gets what it printed and
    the error it raised, for the feedback.
    """

    enabled = Bool(True).tag(config=True)
    verdicts = Unicode(help="folder of <student>/<notebook>.json verdicts").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = verdict_path(Path(self.verdicts), info["student"], info["notebook"])
        if not path.is_file():
            raise FileNotFoundError(f"no verdict for {info['student']}/{info['notebook']}")
        cells = json.loads(path.read_text())["cells"]
        for cell in nb.cells:
            verdict = cells.get(grade_id(cell) or "")
            if cell.cell_type != "code" or verdict is None:
                continue
            cell.outputs = []
            if verdict.get("stdout"):
                cell.outputs.append(new_output("stream", name="stdout", text=verdict["stdout"]))
            error = verdict.get("error")
            if error:
                ename, evalue = str(error.get("ename")), str(error.get("evalue"))
                cell.outputs.append(new_output("error", ename=ename, evalue=evalue,
                                               traceback=[f"{ename}: {evalue}"]))
        return nb, resources


class ShortTracebacks(Preprocessor):
    """Replace every test cell's traceback with its last line, the check's message.

    A traceback would quote the lines around the failing call, i.e. the hidden
    tests; the check's own message ("clip_by_value: at g = -1.2 expected -0.5,
    got -1.2 — …") is what a student needs.
    """

    # nbconvert preprocessors are off unless enabled; this one must always run.
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: "
                                           f"{output.get('evalue', '')}"]
        return cell, resources
