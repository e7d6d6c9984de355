"""Time the book build: clean (empty execution cache) and cached rebuild, side by side.

    .venv/bin/python benchmarks/book_build.py

Budgets (CONTRIBUTING.md): clean build of the whole book <= ~4 min on 2 cores,
unchanged rebuild <= ~20 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


def build(out: Path) -> float:
    env = {**os.environ, "DESCENT_STATIC": "1"}
    started = time.perf_counter()
    subprocess.run(
        [str(JUPYTER_BOOK), "build", str(ROOT), "--path-output", str(out), "-W", "-n",
         "--keep-going", "-q"],
        check=True, env=env, capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        clean = build(out)
        cached = build(out)
    print(f"clean build   {clean:7.1f} s")
    print(f"cached build  {cached:7.1f} s")
    print(f"ratio         {clean / cached:7.1f} x")


if __name__ == "__main__":
    main()
