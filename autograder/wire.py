"""The data that may cross between the grader and a sandboxed worker.

Only plain data travels: ``None``, booleans, numbers, strings, lists, tuples,
string-keyed dicts and numeric arrays (NumPy arrays, NumPy scalars and tensors'
values, sent as raw bytes with their dtype and shape); value types beyond those
(``set``, ``complex``, ``bytes``, string arrays, pandas objects, NumPy
polynomials, dates, ...) through :mod:`codecs`, and matplotlib figures through
:mod:`figures`, each rebuilt from data by a fixed list of known types.

Two kinds of reference cross too, never the object itself:

* a function of the grader's (say the activation a check hands to a chain)
  travels as a numbered **callback**: the worker calls it back through the grader;
* an object of the student's that is not data (an instance of their class, a
  function, a generator) stays in the worker and travels as a numbered
  **handle**: the grader reads it only through requests that return data again
  (``autograder/remote.py``). Without a handle factory it arrives as
  :class:`Unsupported`, which no check accepts.

Nothing is ever pickled, so no object of the student's is rebuilt on the grader's
side. This module is imported by both sides and needs only the standard library
and NumPy: the worker (``autograder/worker.py``) runs it inside the sandbox.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct

import numpy as np

from autograder import codecs, figures

#: Largest message either side accepts (bytes of JSON).
MAX_MESSAGE = 64 << 20
#: Deepest nesting of lists/tuples/dicts that is encoded.
MAX_DEPTH = 32
_HEADER = struct.Struct(">Q")
# Byte order, then bool, signed/unsigned int, float or complex, then item size.
_NUMERIC_DTYPE = re.compile(r"^[<>|=](b1|[iu][1248]|f[248]|c(8|16|32))$")


class WireError(Exception):
    """A message that is not plain data, or too large, or not a message at all."""


class Unsupported:
    """Stands for a value that cannot travel (a student's own object, a module, ...)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object, which is not numbers>"


def _array(value: np.ndarray) -> dict:
    raw = np.ascontiguousarray(value).tobytes()  # (makes a 0-d array 1-d: shape kept apart)
    return {"$nd": base64.b64encode(raw).decode("ascii"),
            "dtype": value.dtype.str, "shape": list(value.shape)}


def _tensor_values(value):
    """A torch tensor's values as a NumPy array, or None when ``value`` is not a tensor."""
    if type(value).__module__.split(".")[0] != "torch" or not hasattr(value, "detach"):
        return None
    return value.detach().cpu().numpy()


def _is_duck_array(value) -> bool:
    kind = type(value)
    return any(hasattr(kind, name) for name in ("__array__", "__array_interface__"))


def encode(value, callbacks: list | None = None, depth: int = 0, handles=None):
    """``value`` as JSON-ready plain data.

    ``callbacks`` (grader side) collects the grader's callables, which travel as
    ``{"$callback": index}``. ``handles`` is either side's handle table: its
    ``encode(value)`` gives ``{"$handle": ...}`` for an object that stays where it is
    (the worker: anything that is not data; the grader: the student's objects it
    holds handles to), or None. With neither, a value that is not data is tried as
    ``np.asarray(value)`` and sent when numeric, else as unsupported.
    """
    if depth > MAX_DEPTH:
        raise WireError(f"data nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if handles is not None and (handle := handles.encode(value, known_only=True)) is not None:
        return handle

    def item(inner):
        return encode(inner, callbacks, depth + 1, handles)

    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "biufc":
        return _numeric(np.asarray(value), kind.__name__)
    values = _tensor_values(value)
    if values is not None:
        return {**_numeric(values, "tensor"), "tensor": True}
    if kind is list:
        return [item(x) for x in value]
    if kind is tuple:
        return {"$tuple": [item(x) for x in value]}
    if kind is dict and all(type(key) is str for key in value):
        return {"$dict": {key: item(v) for key, v in value.items()}}
    try:
        coded = codecs.encode_value(value, item)
    except WireError:
        raise
    except Exception as error:  # noqa: BLE001 - a value that looked like a known type but is not
        raise WireError(f"could not encode a {kind.__name__}: {error}") from None
    if coded is not None:
        return coded
    for base in (int, float, str):  # a subclass of a plain type travels as its plain value
        if isinstance(value, base) and not isinstance(value, np.generic):
            return base(value)
    if kind.__module__.startswith("matplotlib") and (coded := _figure(value)) is not None:
        return coded
    if callbacks is not None and callable(value):
        callbacks.append(value)
        return {"$callback": len(callbacks) - 1}
    if handles is not None and callbacks is None and _is_duck_array(value):
        converted = _as_numeric(value)
        if converted is not None:
            return _array(converted)
    if handles is not None and (handle := handles.encode(value)) is not None:
        return handle
    if callbacks is not None:
        raise WireError(f"cannot send a {kind.__name__} to the sandbox")
    converted = _as_numeric(value)
    if converted is not None:
        return _array(converted)
    return {"$unsupported": kind.__name__[:80]}


def _figure(value) -> dict | None:
    """A matplotlib figure or axes as the data of its artists (rebuilt on the other side)."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    if isinstance(value, Figure):
        return {"$figure": figures.figure_data(value)}
    if isinstance(value, Axes):
        return {"$axes": figures.axes_data(value)}
    return None


def _as_numeric(value):
    try:
        converted = np.asarray(value)
    except Exception:  # noqa: BLE001 - whatever it is, it is not numbers
        return None
    return converted if _NUMERIC_DTYPE.match(converted.dtype.str) else None


def _numeric(value: np.ndarray, type_name: str):
    if not _NUMERIC_DTYPE.match(value.dtype.str):
        return {"$unsupported": f"{type_name} of dtype {value.dtype}"[:80]}
    return _array(value)


def decode(data, make_callback=None, make_tensor=None, depth: int = 0, make_handle=None):
    """Plain data back from :func:`encode`'s output; strict about what it accepts.

    The worker passes ``make_callback`` (a callback's stand-in), ``make_tensor``
    (arrays sent as tensors become tensors again) and ``make_handle`` (its own
    object back from a handle's number); the grader passes ``make_handle`` (a
    stand-in that reaches the worker's object) and never the other two, so it only
    ever gets data, NumPy arrays and stand-ins.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("data nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data

    def inner(item):
        return decode(item, make_callback, make_tensor, depth + 1, make_handle)

    if type(data) is list:
        return [inner(item) for item in data]
    if type(data) is not dict or len(data) == 0:
        raise WireError(f"unexpected {type(data).__name__} in a message")
    if "$nd" in data:
        array = _decode_array(data)
        return make_tensor(array) if make_tensor and data.get("tensor") else array
    if set(data) == {"$tuple"} and type(data["$tuple"]) is list:
        return tuple(inner(item) for item in data["$tuple"])
    if set(data) == {"$dict"} and type(data["$dict"]) is dict:
        return {str(k): inner(v) for k, v in data["$dict"].items()}
    if set(data) == {"$unsupported"} and type(data["$unsupported"]) is str:
        return Unsupported(data["$unsupported"])
    if set(data) == {"$callback"} and type(data["$callback"]) is int and make_callback:
        return make_callback(data["$callback"])
    if "$handle" in data:
        return _decode_handle(data, make_handle)
    tags = [key for key in data if key.startswith("$")]
    if len(tags) == 1 and tags[0] in codecs.TAGS:
        try:
            return codecs.decode_value(data, inner)
        except WireError:
            raise
        except codecs.CodecError as error:
            raise WireError(f"malformed {tags[0][1:]}: {error}") from None
    if set(data) in ({"$figure"}, {"$axes"}):
        try:
            if "$figure" in data:
                return figures.rebuild_figure(data["$figure"])
            return figures.rebuild_axes(data["$axes"])
        except figures.FigureDataError as error:
            raise WireError(f"malformed figure: {error}") from None
    raise WireError(f"unexpected entry {sorted(data)[:3]} in a message")


def _decode_handle(data: dict, make_handle):
    if not set(data) <= {"$handle", "type", "callable"} or type(data["$handle"]) is not int:
        raise WireError("malformed handle")
    type_name = data.get("type", "object")
    if type(type_name) is not str or type(data.get("callable", False)) is not bool:
        raise WireError("malformed handle")
    if make_handle is None:
        return Unsupported(type_name[:80])
    return make_handle(data["$handle"], type_name[:200], data.get("callable", False))


def _decode_array(data: dict):
    if not set(data) <= {"$nd", "dtype", "shape", "tensor"}:
        raise WireError("unexpected fields in an array")
    dtype, shape, raw = data.get("dtype"), data.get("shape"), data.get("$nd")
    if type(dtype) is not str or not _NUMERIC_DTYPE.match(dtype):
        raise WireError(f"array of a non-numeric dtype {dtype!r}")
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("array with a malformed shape")
    if type(raw) is not str:
        raise WireError("array without its bytes")
    try:
        buffer = base64.b64decode(raw.encode("ascii"), validate=True)
    except ValueError:
        raise WireError("array whose bytes are not base64") from None
    dtype = np.dtype(dtype)
    if len(buffer) != math.prod(shape) * dtype.itemsize:  # (Python ints: no overflow)
        raise WireError("array whose bytes do not match its shape")
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()
    return array[()] if not shape and not data.get("tensor") else array


def pack(message: dict) -> bytes:
    """One length-prefixed JSON message."""
    body = json.dumps(message, allow_nan=True).encode("utf-8")
    if len(body) > MAX_MESSAGE:
        raise WireError(f"message of {len(body) >> 20} MiB is over the "
                        f"{MAX_MESSAGE >> 20} MiB limit")
    return _HEADER.pack(len(body)) + body


def header_size() -> int:
    return _HEADER.size


def body_size(header: bytes) -> int:
    (size,) = _HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise WireError(f"message of {size >> 20} MiB is over the {MAX_MESSAGE >> 20} MiB limit")
    return size


def unpack(body: bytes) -> dict:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise WireError(f"not a message ({type(error).__name__})") from None
    if type(message) is not dict:
        raise WireError("not a message")
    return message
