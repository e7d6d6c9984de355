"""Imports the grader pays for only when they are used.

jsonschema (imported by nbformat, so by every grading run) imports ``rfc3987_syntax`` when it
is installed (jupyter-events wants it) to check the "iri" string formats, and that import
builds a parser for the RFC's grammar: a second of every ``python -m autograder`` start, for
formats that no schema of nbformat's or nbgrader's uses. :func:`defer_iri_grammar` puts a
stand-in in its place that imports the real module the first time it is used, so a check of
an "iri" string still gets the real answer.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

IRI_GRAMMAR = "rfc3987_syntax"


def defer_iri_grammar() -> None:
    """Before jsonschema is first imported: ``rfc3987_syntax`` is imported on first use."""
    if IRI_GRAMMAR in sys.modules or importlib.util.find_spec(IRI_GRAMMAR) is None:
        return
    stand_in = types.ModuleType(IRI_GRAMMAR, "Imports rfc3987_syntax when first used.")

    def real() -> types.ModuleType:
        if sys.modules.get(IRI_GRAMMAR) is stand_in:
            del sys.modules[IRI_GRAMMAR]
        return importlib.import_module(IRI_GRAMMAR)

    def is_valid_syntax(*args, **kwargs):  # the one name jsonschema imports from it
        return real().is_valid_syntax(*args, **kwargs)

    stand_in.is_valid_syntax = is_valid_syntax
    def attribute(name: str):
        if name.startswith("__"):  # the import system's questions (__path__ ...): not a package
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.__getattr__ = attribute
    sys.modules[IRI_GRAMMAR] = stand_in
