"""Where the course's files are, wherever the code runs from."""

from __future__ import annotations

import os
from pathlib import Path


def _is_course_root(path: Path) -> bool:
    return (path / "_toc.yml").is_file() and (path / "solutions").is_dir()


def repo_root() -> Path:
    """Return the course repository's root folder.

    Looks, in order, at ``$DESCENT_ROOT``, the current folder and its parents
    (notebooks and book pages run from inside the repository), and the folder
    this package was installed from (an editable install).
    """
    env = os.environ.get("DESCENT_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not _is_course_root(root):
            raise FileNotFoundError(
                f"DESCENT_ROOT={env} is not the course repository (no _toc.yml and solutions/). "
                "Point it at the folder that holds _toc.yml, or unset it."
            )
        return root
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents, *Path(__file__).resolve().parents):
        if _is_course_root(candidate):
            return candidate
    raise FileNotFoundError(
        "Could not find the Descent repository (a folder with _toc.yml and solutions/). "
        "Run from inside the repository or set DESCENT_ROOT to its path."
    )


def solution_notebook(chapter: str) -> Path:
    """Path of a chapter's nbgrader source notebook, ``solutions/<id>/<id>.ipynb``."""
    return repo_root() / "solutions" / chapter / f"{chapter}.ipynb"


def release_notebook(chapter: str) -> Path:
    """Path of a chapter's student notebook, ``notebooks/<id>/<id>.ipynb``."""
    return repo_root() / "notebooks" / chapter / f"{chapter}.ipynb"
