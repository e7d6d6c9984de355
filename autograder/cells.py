"""Run one instructor's cell in the judge as a kernel would, and keep what it outputs.

The judge runs test cells (and the instructor's locked cells) in an IPython shell
of its own, so ``%magics``, ``!commands`` and ``?`` work as in a kernel. What a
cell outputs is kept in nbformat's shapes, because nbgrader scores a test cell
from its outputs: an error scores 0, anything on stderr scores 0 (a warning
too), and a last value that is a number is the cell's partial credit (its
``text/plain`` form, as IPython's formatter writes it — ``np.float64(0.5)`` is
not a number to nbgrader, here as there).
"""

from __future__ import annotations

import ast
import io
import signal
import sys
import time
from contextlib import contextmanager

OUTPUT_LIMIT = 100_000


class Outputs:
    """One cell's outputs, in order: streams (merged), its last value, its error."""

    def __init__(self):
        self.items: list[dict] = []
        self.size = 0

    def stream(self, name: str, text: str) -> None:
        text = text[:max(OUTPUT_LIMIT - self.size, 0)]
        if not text:
            return
        self.size += len(text)
        last = self.items[-1] if self.items else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def result(self, data: dict) -> None:
        self.items.append({"output_type": "execute_result", "data": data, "metadata": {},
                           "execution_count": None})

    def error(self, ename: str, evalue: str) -> None:
        self.items.append({"output_type": "error", "ename": ename, "evalue": evalue,
                           "traceback": [f"{ename}: {evalue}"]})

    def first_error(self) -> dict | None:
        for item in self.items:
            if item["output_type"] == "error":
                return {"ename": item["ename"], "evalue": item["evalue"]}
        return None


class _Stream(io.TextIOBase):
    def __init__(self, outputs: Outputs, name: str):
        self.outputs, self.name = outputs, name

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        self.outputs.stream(self.name, str(text))
        return len(text)


class CellDeadline(Exception):
    """The submission's time ran out while the judge ran an instructor's cell."""


def _alarm(signum, frame):
    raise CellDeadline


@contextmanager
def capturing(outputs: Outputs):
    """What is printed here (and the student's warnings, shown here) goes to ``outputs``."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(outputs, "stdout"), _Stream(outputs, "stderr")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def parse(shell, source: str, label: str = "<cell>") -> ast.Module:
    """A cell as Python (IPython's syntax turned into its calls), parsed once: the judge
    reads the names in it, then runs it. Raises SyntaxError."""
    return ast.parse(shell.transform_cell(source), filename=label)


def run_cell(shell, tree: ast.Module, outputs: Outputs, deadline: float, label: str = "<cell>"):
    """Run a parsed cell in ``shell``'s namespace; outputs into ``outputs``; the error raised,
    or None.

    :class:`CellDeadline` (the submission's budget) and the session's OutOfTime
    propagate: the caller stops grading this notebook."""
    from autograder.session import OutOfTime

    namespace = shell.user_ns
    body = tree.body
    last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
    module = ast.Module(body=body[:-1] if last is not None else body, type_ignores=[])
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
    try:
        with capturing(outputs):
            _execute(shell, module, last, namespace, outputs, label)
    except (CellDeadline, OutOfTime):
        raise
    except BaseException as error:  # noqa: BLE001 - the test's verdict, or a broken test
        outputs.error(type(error).__name__, _message(error))
        return error
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return None


def _execute(shell, tree, last, namespace, outputs, label) -> None:
    exec(compile(tree, label, "exec"), namespace)  # the instructor's code
    if last is not None:
        value = eval(compile(ast.Expression(last.value), label, "eval"), namespace)
        if value is not None:
            data, _ = shell.display_formatter.format(value)
            outputs.result({"text/plain": data.get("text/plain", repr(value))})


def _message(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:  # noqa: BLE001
        text = f"<unprintable {type(error).__name__}>"
    if isinstance(error, NameError):
        text += (" — your notebook does not define it: was its cell deleted or renamed, "
                 "or did it raise an error?")
    return text[:5000]
