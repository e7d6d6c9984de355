"""The grader's start skips the IRI grammar's import until an "iri" string is checked."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from autograder.lazy_imports import defer_iri_grammar
defer_iri_grammar()
import jsonschema, nbformat
print('rfc3987_syntax.syntax_helpers' in sys.modules)
checker = jsonschema.FormatChecker()
print(checker.conforms('http://example.org/a b', 'iri'), checker.conforms('http://é.org/ab', 'iri'))
print('rfc3987_syntax.syntax_helpers' in sys.modules)
"""


def test_the_iri_grammar_is_imported_when_first_used_and_answers_as_itself():
    lines = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert lines[0] == "False"  # nbformat and jsonschema imported without it
    assert lines[1] == "False True"  # a space is no IRI; a non-ASCII host is one
    assert lines[2] == "True"
