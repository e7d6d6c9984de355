"""Execute one book page as the strict build would, without building the whole book.

    DESCENT_STATIC=1 .venv/bin/python scripts/run_page.py book/05_optimizers.md

Runs the page's code cells in a fresh kernel from the page's folder (as myst-nb does) and
exits non-zero when a cell raises or prints to stderr: the two things that fail
`jupyter-book build -W`. Prints each cell's time, so that a slow page shows where.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="a MyST page, e.g. book/05_optimizers.md")
    parser.add_argument("--timeout", type=int, default=180, help="seconds per cell")
    args = parser.parse_args()
    page = args.page.resolve()
    notebook = jupytext.read(page)
    client = NotebookClient(notebook, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(page.parent)}})
    started = time.perf_counter()
    failed = False
    try:
        client.execute()
    except Exception as error:  # noqa: BLE001 - the page's own exception, reported below
        print(f"{page.name}: a cell raised: {str(error)[-3000:]}", file=sys.stderr)
        failed = True
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        timing = cell.metadata.get("execution", {})
        began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        seconds = ""
        if began and ended:
            from datetime import datetime

            seconds = (datetime.fromisoformat(ended.rstrip("Z"))
                       - datetime.fromisoformat(began.rstrip("Z"))).total_seconds()
            seconds = f"{seconds:6.1f} s"
        print(f"cell {index:3d} {seconds}")
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                print(f"  stderr: {output.get('text', '')[:2000]}", file=sys.stderr)
                failed = True
    print(f"{page.name}: {time.perf_counter() - started:.1f} s, "
          f"{'FAILED' if failed else 'clean'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
