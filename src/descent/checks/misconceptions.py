"""Named misconceptions: the mistakes a check recognizes, each with a stable id.

A check that fails because the student's answer reproduces a known mistake ends its
message with the mistake's one-line explanation, its tag and where the book explains
it::

    … expected -0.1269571, got -0.1269531 (relative error 3.1e-06) — is the bias
    correction applied? m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
    [misconception: adam.no-bias-correction] (read “Adam”: book/05_adaptive.html#adam)

The grader finds the tags in test output (:func:`find`) and counts them per test and
per student in ``report.json`` and the class report. An instructor's own tests can use
the same tag in any assertion message: ``[misconception: <chapter>.<name>]``.

Ids never change once released (reports of earlier runs are compared by id); a
misconception that is no longer diagnosed keeps its id retired rather than reused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

#: The tag in a message: ``[misconception: adam.no-bias-correction]``.
TAG = re.compile(r"\[misconception: ([a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)+)\]")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)+$")

#: Every misconception the course's checks name, by id (filled as the check modules load).
REGISTRY: dict[str, Misconception] = {}


def _slug(title: str) -> str:
    """The anchor Sphinx gives a section titled ``title`` (docutils' ``make_id``)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


@dataclass(frozen=True)
class Misconception:
    """One known mistake: ``id`` (``chapter.name``), a one-line ``text`` that says what is
    wrong and what is right, and the book's ``page`` and ``section`` that explain it."""

    id: str
    text: str
    page: str
    section: str

    @property
    def link(self) -> str:
        """The section's address, relative to the site's root."""
        return f"book/{self.page}.html#{_slug(self.section)}"

    def __str__(self) -> str:
        return f"{self.text} [misconception: {self.id}] (read “{self.section}”: {self.link})"


def misconception(id: str, text: str, *, page: str, section: str) -> Misconception:
    """Define (and register) a misconception; each id is defined once in the course."""
    if not _ID.match(id):
        raise ValueError(f"misconception id {id!r}: use chapter.name, lower case and hyphens")
    if id in REGISTRY and REGISTRY[id] != (found := Misconception(id, text, page, section)):
        raise ValueError(f"misconception {id!r} is defined twice: {REGISTRY[id]} and {found}")
    REGISTRY[id] = Misconception(id, text, page, section)
    return REGISTRY[id]


def on_page(page: str, section: str | None = None) -> Callable[..., Misconception]:
    """The definer of the misconceptions one book page explains: ``mistake(id, text,
    section)``, where ``section`` (a heading of the page) defaults to ``section`` and the
    page may be another one for a mistake of an earlier chapter."""

    def mistake(id: str, text: str, section: str | None = section, page: str = page):
        return misconception(id, text, page=page, section=section)

    return mistake


def find(text: str) -> list[str]:
    """The misconception ids tagged in ``text`` (an error message, a cell's output), in order
    and without repeats."""
    return list(dict.fromkeys(TAG.findall(text or "")))


def all_misconceptions() -> dict[str, Misconception]:
    """Every misconception of the course's checks (imports every chapter's checks)."""
    import importlib
    import pkgutil

    import descent.checks

    for module in pkgutil.iter_modules(descent.checks.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"descent.checks.{module.name}")
    return dict(REGISTRY)
