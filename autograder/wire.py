"""The data that may cross between the grader and a sandboxed worker.

Only plain data travels: ``None``, booleans, numbers, strings, lists, tuples,
string-keyed dicts and numeric arrays (NumPy arrays, NumPy scalars and tensors'
values, sent as raw bytes with their dtype and shape). A function the grader
passes to a student's function (say the activation of a chain) travels as a
numbered callback that the worker calls back through the grader. Anything else
a student's function returns arrives as :class:`Unsupported`, which no check
accepts. Nothing is ever pickled, so no object of the student's is rebuilt on
the grader's side.

This module is imported by both sides and needs only the standard library and
NumPy: the worker (``autograder/worker.py``) runs it inside the sandbox.
"""

from __future__ import annotations

import base64
import json
import re
import struct

import numpy as np

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


def encode(value, callbacks: list | None = None, depth: int = 0):
    """``value`` as JSON-ready plain data.

    ``callbacks`` (grader side) collects the callables found, which travel as
    ``{"$callback": index}``. Without it (worker side) a value of any other type is
    tried as ``np.asarray(value)`` and sent when numeric, else as unsupported.
    """
    if depth > MAX_DEPTH:
        raise WireError(f"data nested deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and not isinstance(value, np.generic):
        return int(value)
    if isinstance(value, float) and not isinstance(value, np.generic):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (np.ndarray, np.generic)):
        return _numeric(np.asarray(value), type(value).__name__)
    values = _tensor_values(value)
    if values is not None:
        return {**_numeric(values, "tensor"), "tensor": True}
    if isinstance(value, list):
        return [encode(item, callbacks, depth + 1) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item, callbacks, depth + 1) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"$dict": {str(k): encode(v, callbacks, depth + 1) for k, v in value.items()}}
    if callbacks is not None:
        if callable(value):
            callbacks.append(value)
            return {"$callback": len(callbacks) - 1}
        raise WireError(f"cannot send a {type(value).__name__} to the sandbox")
    try:
        converted = np.asarray(value)
    except Exception:  # noqa: BLE001 - whatever it is, it is not numbers
        converted = None
    if converted is not None and _NUMERIC_DTYPE.match(converted.dtype.str):
        return _array(converted)
    return {"$unsupported": type(value).__name__[:80]}


def _numeric(value: np.ndarray, type_name: str):
    if not _NUMERIC_DTYPE.match(value.dtype.str):
        return {"$unsupported": f"{type_name} of dtype {value.dtype}"[:80]}
    return _array(value)


def decode(data, make_callback=None, make_tensor=None, depth: int = 0):
    """Plain data back from :func:`encode`'s output; strict about what it accepts.

    The worker passes ``make_callback`` (a callback's stand-in) and ``make_tensor``
    (arrays sent as tensors become tensors again); the grader passes neither, so
    it only ever gets NumPy arrays and Python scalars.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("data nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    def inner(item):
        return decode(item, make_callback, make_tensor, depth + 1)

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
    raise WireError(f"unexpected entry {sorted(data)[:3]} in a message")


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
    buffer = base64.b64decode(raw.encode("ascii"), validate=True)
    dtype = np.dtype(dtype)
    if len(buffer) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
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
