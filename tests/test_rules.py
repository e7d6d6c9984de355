"""Forbidden APIs: declared in the notebook, seen in the code, blocked at run time."""

from __future__ import annotations

import time

import nbformat
import pytest

from autograder import rules
from autograder.sandbox import Limits, Worker

OPTIM = ["torch.optim"]
BATCH_NORM = ["torch.nn.functional.batch_norm", "torch.nn.BatchNorm1d"]


@pytest.mark.parametrize("source, forbidden, expected", [
    ("import torch\nopt = torch.optim.SGD([], lr=0.1)", OPTIM, ["torch.optim"]),
    ("import torch.optim as o\no.Adam", OPTIM, ["torch.optim"]),
    ("from torch import optim\noptim.Adam", OPTIM, ["torch.optim"]),
    ("from torch.optim import Adam", OPTIM, ["torch.optim"]),
    ("import importlib\nimportlib.import_module('torch.optim')", OPTIM, ["torch.optim"]),
    ("import torch.nn.functional as F\ny = F.batch_norm(x, m, v)", BATCH_NORM,
     ["torch.nn.functional.batch_norm"]),
    ("from torch.nn import functional as fn\nfn.batch_norm", BATCH_NORM,
     ["torch.nn.functional.batch_norm"]),
    ("from torch import nn\nlayer = nn.BatchNorm1d(3)", BATCH_NORM, ["torch.nn.BatchNorm1d"]),
    # Not uses: another attribute, a look-alike name, a docstring that mentions the API.
    ("import torch.nn.functional as F\nF.relu(x)", BATCH_NORM, []),
    ("import torch\ntorch.optimize = 1\nclass A(torch.nn.Module): pass", OPTIM, []),
    ('def f():\n    """Like torch.optim.Adam, by hand."""\n    return 1', OPTIM, []),
    ("optim = 3\noptim.real", OPTIM, []),
    ("this is not python (", OPTIM, []),
])
def test_static_uses_resolve_import_aliases(source, forbidden, expected):
    assert rules.static_uses(source, forbidden) == expected


def test_an_import_in_an_earlier_cell_counts():
    aliases = {}
    assert rules.static_uses("import torch.optim as o", [], aliases) == []
    assert rules.static_uses("o.SGD", OPTIM, aliases) == ["torch.optim"]


@pytest.mark.parametrize("metadata", [
    {"autograder": {"forbidden": "torch.optim"}},
    {"autograder": {"forbidden": ["torch optim"]}},
    {"autograder": {"forbidden": [3]}},
])
def test_a_malformed_declaration_is_refused(metadata):
    notebook = nbformat.v4.new_notebook(metadata=metadata)
    with pytest.raises(ValueError, match="list of dotted names"):
        rules.declared(notebook)


def test_declarations_are_read_in_order_without_repeats():
    notebook = nbformat.v4.new_notebook(
        metadata={"autograder": {"forbidden": ["torch.optim", "torch.nn.init", "torch.optim"]}})
    assert rules.declared(notebook) == ["torch.optim", "torch.nn.init"]
    assert rules.declared(nbformat.v4.new_notebook()) == []


@pytest.fixture(scope="module")
def worker(sandbox):
    worker = Worker(5, Limits(call_seconds=60, memory_bytes=4 << 30, processes=16))
    worker.start()
    yield worker
    worker.kill()


def _run(worker, source: str) -> dict:
    return worker.request({"op": "exec", "source": source}, time.monotonic() + 60)


def test_the_worker_blocks_and_records_a_forbidden_api(worker):
    reply = worker.request({"op": "forbid", "apis": [*OPTIM, *BATCH_NORM, "not_installed.x"]},
                           time.monotonic() + 60)
    assert reply["op"] == "done"
    # Guarded when first imported, not before: a student who never imports PyTorch never
    # waits for it (about a second per worker).
    assert _run(worker, "import sys\nprint('torch' in sys.modules)")["stdout"] == "False\n"
    # A library that uses the API inside itself is not the student's use.
    ok = _run(worker, "import torch\nlayer = torch.nn.LayerNorm(3)\n"
                      "y = torch.nn.functional.relu(torch.ones(2))\nimport torch.nn as nn")
    assert ok["error"] is None and ok["forbidden"] == []
    for source, api in [
        ("import torch\ntorch.optim.SGD", "torch.optim"),
        ("from torch.optim import SGD", "torch.optim.SGD"),
        ("import torch.optim as o\no.Adam", "torch.optim"),
        ("import sys\nvars(sys.modules['torch.optim'])['SGD']", "torch.optim"),
        ("import torch.nn.functional as F\nF.batch_norm", "torch.nn.functional.batch_norm"),
        ("import torch\nl = torch.nn.BatchNorm1d(3)", "torch.nn.BatchNorm1d"),
    ]:
        reply = _run(worker, source)
        assert reply["error"] is not None, source
        assert "ForbiddenAPI" in reply["error"]["mro"][0], reply["error"]
        assert "not allowed in this assignment" in reply["error"]["evalue"]
        assert reply["forbidden"] == [api], (source, reply["forbidden"])
    # Caught by the student's own try/except: still recorded.
    caught = _run(worker, "try:\n    import torch.optim as o\n    o.SGD\nexcept Exception:\n"
                          "    pass")
    assert caught["error"] is None and caught["forbidden"] == ["torch.optim"]


def test_a_guard_waits_for_its_module_however_it_is_loaded(sandbox):
    """Guarded on first import: a built-in or extension module (math), a pure-Python module
    nothing has imported yet (colorsys), a module imported inside a library's own import
    (torch.func, by ``import torch``), and one already imported when the guards go up (json)."""
    worker = Worker(6, Limits(call_seconds=60, memory_bytes=4 << 30, processes=16))
    worker.start()
    try:
        apis = ["math.fsum", "colorsys.rgb_to_hsv", "torch.func", "json.dumps"]
        assert worker.request({"op": "forbid", "apis": apis},
                              time.monotonic() + 60)["op"] == "done"
        assert _run(worker, "import math\nmath.sqrt(4.0)")["error"] is None
        for source, api in [("import math\nmath.fsum([1.0])", "math.fsum"),
                            ("from colorsys import rgb_to_hsv", "colorsys.rgb_to_hsv"),
                            ("import torch\ntorch.func.grad", "torch.func"),
                            ("import json\njson.dumps(1)", "json.dumps")]:
            reply = _run(worker, source)
            assert reply["error"] is not None and reply["forbidden"] == [api], (source, reply)
    finally:
        worker.kill()
