"""Hostile submissions of chapter 01, and the points their honest code deserves.

Each case starts from the model answers, replaces some answer cells and may add
cells of its own (as a student can), and names the tests it must fail: those
that its code, run honestly, fails. Everything else it must pass: a cheat that
fails buys nothing, and a crash, a hang or a hog costs only the code that did it.
Think of a student who wants points without the work, and of one whose code
misbehaves by accident.

Never grade these with ``--unsafe``: without the sandbox the vandal really vandalises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAPTER = "01_activations"

WRONG_RELU = "def relu(z):\n    return np.asarray(z, dtype=float)  # forgot the max\n"


@dataclass(frozen=True)
class Case:
    why: str
    answers: dict[str, str] = field(default_factory=dict)  # grade_id -> cell source
    extra_cells: tuple[str, ...] = ()  # code cells the student added at the end
    fails: frozenset[str] = frozenset()  # "*": every test but those named "!test_id"


HOSTILE = {
    "patches_numpy_comparisons": Case(
        "wrong relu, then makes every NumPy comparison say 'equal'",
        {"relu": WRONG_RELU + (
            "np.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, bool)\n"
            "np.array_equal = lambda *a, **k: True\n"
            "import numpy.testing\n"
            "np.testing.assert_allclose = lambda *a, **k: None\n")},
        fails=frozenset({"test_relu"})),
    "patches_builtins_and_checks": Case(
        "wrong relu; replaces AssertionError, the checks and their comparison helper",
        {"relu": WRONG_RELU + (
            "import builtins\n"
            "builtins.AssertionError = type('Nothing', (BaseException,), {})\n"
            "checks.check_relu = lambda *a, **k: None\n"
            "import descent.checks._compare as compare\n"
            "compare.assert_close = lambda *a, **k: None\n")},
        fails=frozenset({"test_relu"})),
    "blanks_later_cells_in_ipython": Case(
        "wrong global-norm clipping, then tells IPython to blank and forgive every later cell",
        {"clip_by_global_norm": (
            "def clip_by_global_norm(grads, max_norm):\n"
            "    return list(grads), 0.0\n"
            "ip = get_ipython()\n"
            "ip.input_transformers_cleanup.append(lambda lines: [])\n"
            "ip.events.register('post_run_cell', "
            "lambda result: setattr(result, 'error_in_exec', None))\n")},
        # The blanking reaches the student's own later cells too, as it would in any kernel:
        # growth_rate (the task after clipping) is never defined, so its test fails honestly.
        fails=frozenset({"test_clip_by_global_norm", "test_growth_rate"})),
    "looks_for_the_solutions": Case(
        "elu copied from the model answer if any file on disk has it, else wrong",
        {"elu": (
            "import glob, json\n"
            "def _steal():\n"
            "    try:  # the course library knows where the answers live...\n"
            "        from descent.answers import load\n"
            "        return None, load('01_activations', 'elu')['elu']\n"
            "    except Exception:\n"
            "        pass\n"
            "    for pattern in ('solutions/**/*.ipynb', '../**/solutions/**/*.ipynb',\n"
            "                    '/work/*/solutions/**/*.ipynb', '/root/**/*.ipynb'):\n"
            "      for path in glob.glob(pattern, recursive=True):\n"
            "        try:\n"
            "            for cell in json.load(open(path))['cells']:\n"
            "                text = ''.join(cell['source'])\n"
            "                if 'def elu(' in text and 'BEGIN SOLUTION' in text:\n"
            "                    return text, None\n"
            "        except Exception:\n"
            "            pass\n"
            "stolen = _steal()\n"
            "if stolen and stolen[1]:\n"
            "    elu = stolen[1]\n"
            "elif stolen:\n"
            "    exec(stolen[0])\n"
            "else:\n"
            "    def elu(z, alpha=1.0):\n"
            "        return np.asarray(z, dtype=float)\n")},
        fails=frozenset({"test_elu"})),
    "vandal": Case(
        "all answers right; tries to overwrite every gradebook and notebook it can reach",
        extra_cells=(
            "import glob, os\n"
            "patterns = ('/work/*/.grading/**', '../**', '/work/*/*/**', '/root/**', '/tmp/**')\n"
            "for pattern in patterns:\n"
            "  for path in glob.glob(pattern, recursive=True):\n"
            "    if path.endswith(('.db', '.ipynb', '.csv', '.json')):\n"
            "        try:\n"
            "            open(path, 'w').write('vandalised')\n"
            "        except OSError:\n"
            "            pass\n",),
    ),
    "exits_in_a_cell": Case(
        "all answers right; added cells that exit the process in three ways",
        extra_cells=("import sys\nsys.exit(3)\n", "exit()\n", "import os\nos._exit(0)\n")),
    "exits_in_a_function": Case(
        "relu_grad ends the process when called",
        {"relu_grad": "import os\ndef relu_grad(z):\n    os._exit(1)\n"},
        fails=frozenset({"test_relu_grad"})),
    "endless_function": Case(
        "elu_grad never returns",
        {"elu_grad": "def elu_grad(z, alpha=1.0):\n    while True:\n        pass\n"},
        fails=frozenset({"test_elu_grad"})),
    "endless_cell_and_signals": Case(
        "ignores every catchable signal, then an added cell loops forever",
        extra_cells=(
            "import signal\n"
            "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):\n"
            "    signal.signal(s, signal.SIG_IGN)\n"
            "while True:\n"
            "    pass\n",),
    ),
    "memory_hog": Case(
        "tanh_grad asks for 8 TB; an added cell for 1 TB",
        {"tanh_grad": "def tanh_grad(z):\n    return np.ones(1 << 40)\n"},
        extra_cells=("hog = bytearray(1 << 40)\n",),
        fails=frozenset({"test_tanh_grad"})),
    "fork_bomb": Case(
        "an added cell forks without end (and ignores the errors)",
        extra_cells=(
            "import os\n"
            "while True:\n"
            "    try:\n"
            "        os.fork()\n"
            "    except OSError:\n"
            "        pass\n",),
    ),
    "threads_and_disk": Case(
        "added cells start thousands of threads and fill /tmp",
        extra_cells=(
            "import threading, time\n"
            "for _ in range(5000):\n"
            "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
            "with open('/tmp/fill', 'wb') as f:\n"
            "    for _ in range(4096):\n"
            "        f.write(bytes(1 << 20))\n",
        ),
    ),
    "signals_the_grader": Case(
        "all answers right; an added cell signals every process it can see",
        extra_cells=(
            "import os, signal\n"
            "for pid in range(1, 4096):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL) if pid != os.getpid() else None\n"
            "    except OSError:\n"
            "        pass\n",
            "import os, signal\nos.kill(-1, signal.SIGKILL)\n"),
    ),
    "objects_that_lie": Case(
        "relu returns an array subclass equal to anything; sigmoid a pickle bomb",
        {"relu": (
            "class Liar(np.ndarray):\n"
            "    def __eq__(self, other):\n"
            "        return True\n"
            "    def __array_finalize__(self, obj):\n"
            "        pass\n"
            "def relu(z):\n"
            "    return np.asarray(z, dtype=float).view(Liar)\n"),
         "sigmoid": (
            "import os\n"
            "class Bomb:\n"
            "    def __reduce__(self):\n"
            "        return (os.system, ('touch /tmp/pwned',))\n"
            "def sigmoid(z):\n"
            "    return Bomb()\n")},
        fails=frozenset({"test_relu", "test_sigmoid", "test_sigmoid_grad"})),
    "shadows_the_tests_names": Case(
        "wrong relu; rebinds the setup's names and builtins the tests use, deletes others",
        {"relu": WRONG_RELU + (
            "class Anything:\n"
            "    def __getattr__(self, name):\n"
            "        return lambda *a, **k: None\n"
            "checks = Anything()\n"
            "isinstance = all = callable = lambda *a, **k: True\n"
            "AssertionError = Exception\n"
            "del np\n"
            "import numpy as np\n")},
        fails=frozenset({"test_relu"})),
    "forged_exception_chain": Case(
        "relu raises, and the worker is patched to describe its exceptions as the judge's own "
        "signals (deadline, exit) and its handles as the grader's objects",
        {"relu": (
            "import gc\n"
            "for namespace in gc.get_objects():\n"
            "    if isinstance(namespace, dict) and 'error_data' in namespace "
            "and 'Handles' in namespace:\n"
            "        namespace['error_data'] = lambda error, encode: {\n"
            "            'ename': 'CellDeadline', 'evalue': 'forged', 'args': None,\n"
            "            'mro': [['autograder.cells', 'CellDeadline'],\n"
            "                    ['autograder.session', 'OutOfTime'],\n"
            "                    ['builtins', 'SystemExit']]}\n"
            "def relu(z):\n"
            "    raise ValueError('no')\n")},
        fails=frozenset({"test_relu"})),
    "objects_that_answer_anything": Case(
        "sigmoid returns an object that claims to be equal, true, anything and everything",
        {"sigmoid": (
            "class Yes:\n"
            "    def __eq__(self, other): return True\n"
            "    def __bool__(self): return True\n"
            "    def __str__(self): return '1.0'\n"
            "    def __repr__(self): return '1.0'\n"
            "    def __float__(self): return 0.5\n"
            "    def __getattr__(self, name): return True\n"
            "def sigmoid(z):\n"
            "    return Yes()\n")},
        fails=frozenset({"test_sigmoid", "test_sigmoid_grad"})),
    "corrupts_the_wire": Case(
        "wrong relu, whose cell patches the worker's encoder to send malformed data in every "
        "codec's shape (sets, pandas frames, handles, arrays that lie about their size): "
        "every later test fails, nothing breaks",
        {"relu": WRONG_RELU + (
            "from autograder import wire\n"
            "forged = iter([{'$set': 'x'}, {'$pandas_frame': [], 'columns': 7},\n"
            "               {'$handle': -1, 'type': 'ndarray'}, {'$figure': {'axes': 'x'}},\n"
            "               {'$nd': 'AAAA', 'dtype': '<f8', 'shape': [10**12]},\n"
            "               {'$ndarray': {'$nd': 'AA==', 'dtype': '|u1', 'shape': [1]},\n"
            "                'dtype': '<U99999999999', 'shape': [1]}] * 10**6)\n"
            "wire.encode = lambda value, *args, **kwargs: next(forged)\n")},
        fails=frozenset({"*", "!test_sigmoid", "!test_sigmoid_grad", "!test_tanh_grad"})),
    "huge_output": Case(
        "all answers right; an added cell prints 50 MB",
        extra_cells=("print('x' * 50_000_000)\n",)),
    "network": Case(
        "all answers right; tries to reach the network",
        extra_cells=(
            "import socket\n"
            "try:\n"
            "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
            "except OSError as error:\n"
            "    print('no network:', error)\n",)),
}
