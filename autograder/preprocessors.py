"""nbgrader preprocessors: the grader's verdicts into nbgrader, and the feedback students get."""

from __future__ import annotations

import json
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Unicode

from autograder.nbcells import grade_id


def verdict_path(folder: Path, student_id: str, notebook: str) -> Path:
    return Path(folder) / student_id / f"{notebook}.json"


class ApplyVerdicts(Preprocessor):
    """Stands in for nbgrader's Execute: writes the grader's outputs into the cells.

    Nothing is executed here. Each cell gets the outputs it had when the judge and
    the worker ran it (streams, its last value, its error), so nbgrader's own rule
    scores each test cell exactly as if its kernel had run it: an error or output
    on stderr scores 0, a last value that is a number is partial credit, anything
    else full points.
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
            cell.outputs = [_output(item) for item in verdict.get("outputs", [])
                            if isinstance(item, dict)]
        return nb, resources


def _output(item: dict):
    kind = item.get("output_type")
    if kind == "stream":
        name = "stderr" if item.get("name") == "stderr" else "stdout"
        return new_output("stream", name=name, text=str(item.get("text", "")))
    if kind == "execute_result":
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        return new_output("execute_result", data={"text/plain": str(data.get("text/plain", ""))},
                          execution_count=None)
    ename, evalue = str(item.get("ename")), str(item.get("evalue"))
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


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
