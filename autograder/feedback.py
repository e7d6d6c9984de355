"""nbgrader preprocessors for the feedback students receive."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool


class ShortTracebacks(Preprocessor):
    """Replace every test cell's traceback with its last line, the check's message.

    IPython's traceback quotes the lines around the failing call, which would show
    the hidden tests' code; the check's own message ("clip_by_value: at g = -1.2
    expected -0.5, got -1.2 — …") is what a student needs.
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
