"""Codecs for the plain values beyond numbers that a student's function may return.

:mod:`autograder.wire` carries numbers, strings, lists, tuples, str-keyed dicts
and numeric arrays. This module adds what nbgrader tests also compare: complex,
bytes, sets, other dicts, the ``collections`` containers, namedtuples, ranges,
slices, fractions, decimals, dates and times, text, time and object NumPy
arrays, NumPy polynomials, and pandas Series, DataFrames, Indexes and scalars.
Each travels as a JSON dict with one ``"$..."`` tag (see :data:`TAGS`); what is
inside goes through the caller's recursive ``encode_item`` / ``decode_item``, so
numeric payloads ride wire's ``$nd``.

Encoding only handles values of the exact standard types: a user's subclass,
whose methods could lie, is left to the caller. Decoding runs on the trusted
side on data the sandbox wrote, so it is strict: exact fields and JSON types,
declared sizes checked before anything is allocated, and every type it rebuilds
comes from a fixed table. Nothing is pickled, evaluated, imported or looked up
by a name from the data; anything malformed raises :class:`CodecError`.

Needs only the standard library and NumPy (the sandbox's guarantee); pandas is
imported only for a pandas value.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import decimal
import fractions
import functools
import keyword
import math
import re
import sys
import zoneinfo
from abc import ABCMeta

import numpy as np
from numpy import polynomial as npp

#: Most elements in any one decoded array or container.
MAX_ELEMENTS = 50_000_000
#: Largest item of a text ('U') or bytes ('S') array, in bytes.
MAX_ITEMSIZE = 1 << 20
#: Longest string (base64 of bytes, a decimal, ...).
MAX_STRING = 64 << 20
MAX_DIMS = 32
MAX_FIELDS = 255  # of a namedtuple, whose class is made by generating code


class CodecError(ValueError):
    """Malformed codec data."""


class _Unsupported(Exception):
    """A value, or a part of one, that this module does not encode."""


# -- encoding --------------------------------------------------------------------------------

_FACTORIES = {"int": int, "float": float, "list": list, "set": set, "dict": dict,
              "str": str, "tuple": tuple, None: None}
_POLYNOMIALS = {cls.__name__: cls for cls in (npp.Polynomial, npp.Chebyshev, npp.Legendre,
                                              npp.Laguerre, npp.Hermite, npp.HermiteE)}
_MASKED = frozenset({"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                     "Float32", "Float64", "boolean"})


def _pairs(mapping, enc) -> list:
    return [[enc(key), enc(item)] for key, item in mapping.items()]


def _plain_dict(value, enc):
    if all(type(key) is str for key in value):
        raise _Unsupported  # wire's own $dict
    return {"$pairs": _pairs(value, enc)}


def _defaultdict(value, enc):
    names = [name for name, factory in _FACTORIES.items() if factory is value.default_factory]
    if not names:
        raise _Unsupported  # a lambda or a user's callable cannot travel
    return {"$defaultdict": _pairs(value, enc), "factory": names[0]}


def _tz(tz):
    """None, a fixed offset in seconds, or an IANA key (pandas' zones are zoneinfo ones)."""
    if tz is None:
        return None
    if type(tz) is dt.timezone and not tz.utcoffset(None).microseconds:
        return tz.utcoffset(None) // dt.timedelta(seconds=1)
    if type(tz) is zoneinfo.ZoneInfo and type(tz.key) is str:
        return tz.key
    raise _Unsupported  # pytz, dateutil, a user's tzinfo


def _clock(v) -> list:
    return [v.hour, v.minute, v.second, v.microsecond, v.fold]


_ENCODERS = {
    complex: lambda v, enc: {"$complex": [v.real, v.imag]},
    bytes: lambda v, enc: {"$bytes": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v, enc: {"$bytearray": base64.b64encode(v).decode("ascii")},
    set: lambda v, enc: {"$set": [enc(x) for x in v]},
    frozenset: lambda v, enc: {"$frozenset": [enc(x) for x in v]},
    dict: _plain_dict,
    collections.OrderedDict: lambda v, enc: {"$ordered_dict": _pairs(v, enc)},
    collections.Counter: lambda v, enc: {"$counter": _pairs(v, enc)},
    collections.defaultdict: _defaultdict,
    collections.deque: lambda v, enc: {"$deque": [enc(x) for x in v], "maxlen": v.maxlen},
    range: lambda v, enc: {"$range": [v.start, v.stop, v.step]},
    slice: lambda v, enc: {"$slice": [enc(v.start), enc(v.stop), enc(v.step)]},
    fractions.Fraction: lambda v, enc: {"$fraction": [v.numerator, v.denominator]},
    decimal.Decimal: lambda v, enc: {"$decimal": str(v)},
    dt.date: lambda v, enc: {"$date": [v.year, v.month, v.day]},
    dt.datetime: lambda v, enc: {"$datetime": [v.year, v.month, v.day, *_clock(v)],
                                 "tz": _tz(v.tzinfo)},
    dt.time: lambda v, enc: {"$time": _clock(v), "tz": _tz(v.tzinfo)},
    dt.timedelta: lambda v, enc: {"$timedelta": [v.days, v.seconds, v.microseconds]},
}


def _array(array: np.ndarray, enc) -> dict:
    if array.dtype.kind == "O":
        return {"$ndarray_object": [enc(x) for x in array.reshape(-1)],
                "shape": list(array.shape)}
    if array.dtype.kind not in "USMm":
        raise _Unsupported  # numeric: wire's $nd; structured or StringDType: not carried
    raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)  # fixed-size items: bytes
    return {"$ndarray": array.dtype.str, "shape": list(array.shape), "data": enc(raw)}


def _namedtuple_fields(kind):
    """The field names when ``kind`` was made by collections.namedtuple, else None."""
    fields = kind.__dict__.get("_fields")
    if kind.__bases__ != (tuple,) or type(kind.__dict__.get("_make")) is not classmethod:
        return None
    if type(fields) is not tuple or not all(type(name) is str for name in fields):
        return None
    return fields


def encode_value(value, encode_item) -> dict | None:
    """``value`` as a tagged JSON-ready dict, or None when this module does not handle its type."""
    kind = type(value)
    if type(kind) not in (type, ABCMeta):
        return None  # a custom metaclass could run code on hashing or reading the class
    try:
        if kind in _ENCODERS:
            return _ENCODERS[kind](value, encode_item)
        if kind is np.ndarray:
            return _array(value, encode_item)
        if kind in (np.str_, np.bytes_, np.datetime64, np.timedelta64):
            array = _array(np.asarray(value), encode_item)
            return {"$npscalar": array["$ndarray"], "data": array["data"]}
        if kind in _POLYNOMIALS.values() and value.coef.dtype.kind in "fc":
            return {"$polynomial": kind.__name__, "coef": encode_item(value.coef),
                    "domain": encode_item(value.domain), "window": encode_item(value.window),
                    "symbol": value.symbol}
        fields = _namedtuple_fields(kind)
        if fields is not None and tuple.__len__(value) == len(fields):
            # Items read as a tuple's, never through the class's own attributes.
            return {"$namedtuple": kind.__name__, "fields": list(fields),
                    "values": [encode_item(x) for x in tuple.__iter__(value)]}
        module = kind.__module__
        pd = sys.modules.get("pandas") if type(module) is str and module[:6] == "pandas" else None
        if pd is not None:
            return _pandas_value(pd, value, encode_item)
    except _Unsupported:
        pass
    return None


def _pandas_value(pd, value, enc):
    kind = type(value)
    if kind is pd.Series:
        return {"$pandas_series": _column(pd, value, enc), "index": _index(pd, value.index, enc),
                "name": enc(value.name)}
    if kind is pd.DataFrame:
        return {"$pandas_frame": [_column(pd, value.iloc[:, i], enc)
                                  for i in range(value.shape[1])],
                "index": _index(pd, value.index, enc), "columns": _index(pd, value.columns, enc)}
    if kind in (pd.Index, pd.RangeIndex, pd.MultiIndex, pd.DatetimeIndex, pd.TimedeltaIndex,
                pd.CategoricalIndex):
        return {"$pandas_index": _index(pd, value, enc)}
    if kind is pd.Timestamp:  # asm8: the UTC instant, in the timestamp's unit
        return {"$pandas_timestamp": enc(value.asm8), "tz": _tz(value.tz)}
    if kind is pd.Timedelta:
        return {"$pandas_timedelta": enc(value.asm8)}
    if value is pd.NA or value is pd.NaT:
        return {"$pandas_missing": "NA" if value is pd.NA else "NaT"}
    raise _Unsupported


def _index(pd, index, enc) -> dict:
    if type(index) is pd.RangeIndex:
        return {"kind": "range", "range": [index.start, index.stop, index.step],
                "name": enc(index.name)}
    if type(index) is pd.MultiIndex:
        return {"kind": "multi", "levels": [_index(pd, level, enc) for level in index.levels],
                "codes": [enc(np.asarray(codes)) for codes in index.codes],
                "names": [enc(name) for name in index.names]}
    freq = index.freqstr if type(index) in (pd.DatetimeIndex, pd.TimedeltaIndex) else None
    return {"kind": "plain", "values": _column(pd, index, enc), "name": enc(index.name),
            "freq": freq}


def _column(pd, column, enc) -> dict:
    """The values of a Series or an Index, and what it takes to rebuild their dtype."""
    dtype, array = column.dtype, column.array
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            return {"dtype": "object", "items": [enc(x) for x in column.to_numpy()]}
        if dtype.kind not in "biufcmM":
            raise _Unsupported
        return {"dtype": "numpy", "values": enc(column.to_numpy())}
    if type(dtype) is pd.CategoricalDtype:
        return {"dtype": "category", "categories": _index(pd, dtype.categories, enc),
                "codes": enc(np.asarray(array.codes)), "ordered": bool(dtype.ordered)}
    if type(dtype) is pd.StringDtype:  # "string" (missing is NA) or pandas 3's "str" (NaN)
        return {"dtype": "string", "storage": dtype.storage, "na": dtype.na_value is pd.NA,
                "items": array.to_numpy(dtype=object, na_value=None).tolist()}
    if type(dtype) is pd.DatetimeTZDtype:  # the UTC instants, then the zone
        return {"dtype": "datetimetz", "values": enc(array.tz_convert(None).to_numpy()),
                "tz": _tz(dtype.tz)}
    if type(dtype).__module__.split(".")[0] == "pandas" and dtype.name in _MASKED:
        numpy_dtype = dtype.numpy_dtype
        return {"dtype": dtype.name, "mask": enc(np.asarray(array.isna())),
                "values": enc(array.to_numpy(numpy_dtype, na_value=numpy_dtype.type(0)))}
    raise _Unsupported  # Period, Interval, Sparse, pyarrow-backed, ...


# -- decoding --------------------------------------------------------------------------------

# Matched whole (fullmatch): a byte order, then the kind and the item's size or time unit.
_TEXT_DTYPE = re.compile(r"[<>|=]([US])([1-9][0-9]{0,7})")
_TIME_DTYPE = re.compile(r"[<>=][Mm]8(\[([1-9][0-9]{0,5})?(Y|M|W|D|h|m|s|ms|us|ns|ps|fs|as)\])?")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]{0,30}(/[A-Za-z0-9_+\-]{1,30}){0,3}")
_FREQ = re.compile(r"[A-Za-z0-9\-]{1,32}")
_DECIMAL_CONTEXT = decimal.Context(traps=[decimal.InvalidOperation])


def _check(ok, message: str) -> None:
    if not ok:
        raise CodecError(message)


def _list(data, length: int | None = None) -> list:
    _check(type(data) is list and len(data) <= MAX_ELEMENTS and length in (None, len(data)),
           "expected a list" + ("" if length is None else f" of {length}"))
    return data


def _items(data, length: int, kind=int) -> list:
    _check(all(type(x) is kind for x in _list(data, length)), f"expected {kind.__name__}s")
    return data


def _str(data, most: int = MAX_STRING) -> str:
    _check(type(data) is str and len(data) <= most, "expected a (short enough) string")
    return data


def _identifier(name) -> str:
    _check(type(name) is str and name.isascii() and name.isidentifier() and len(name) <= 100
           and not keyword.iskeyword(name) and not name.startswith("_"),
           f"not a plain identifier: {str(name)[:40]!r}")
    return name


def _count(shape) -> int:
    """The elements of ``shape``, refused over the limit before anything is allocated."""
    _check(type(shape) is list and len(shape) <= MAX_DIMS
           and all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape), "malformed shape")
    count = math.prod(shape)
    _check(count <= MAX_ELEMENTS, f"array of {count} elements is over the limit")
    return count


def _ndarray(value, kinds: str) -> np.ndarray:
    _check(type(value) is np.ndarray and value.ndim == 1 and value.dtype.kind in kinds,
           f"expected a 1-d array of kind {kinds!r}")
    return value


def _raw(dec, dtype, count: int, payload) -> np.ndarray:
    """``count`` items of a text, bytes or time dtype, from their bytes (a uint8 array)."""
    match = _TEXT_DTYPE.fullmatch(_str(dtype, 40))
    _check(match or _TIME_DTYPE.fullmatch(dtype), f"unexpected dtype {dtype!r}")
    _check(not match or int(match[2]) * (4 if match[1] == "U" else 1) <= MAX_ITEMSIZE,
           "string items over the size limit")
    dtype, raw = np.dtype(dtype), _ndarray(dec(payload), "u")
    _check(raw.dtype == np.uint8 and raw.size == count * dtype.itemsize,
           "array whose bytes do not match its shape")
    return raw.view(dtype)


def _objects(dec, items, shape) -> np.ndarray:
    _check(len(_list(items)) == _count(shape), "object array whose items do not match its shape")
    array = np.empty(shape, dtype=object)
    flat = array.reshape(-1)  # a view: filling it fills the array
    for i, item in enumerate(items):
        flat[i] = dec(item)
    return array


def _decode_tz(data):
    if data is None:
        return None
    if type(data) is int:
        return dt.timezone(dt.timedelta(seconds=data))  # which refuses a day or more
    _check(type(data) is str and _ZONE.fullmatch(data), "malformed time zone")
    return zoneinfo.ZoneInfo(data)  # a key of the zone database, which refuses paths


def _collection(kind):
    def decode(dec, items):
        items = [dec(item) for item in _list(items)]
        result = kind(items)
        _check(len(result) == len(items), f"repeated items in a {kind.__name__}")
        return result
    return decode


def _mapping(dec, pairs) -> dict:
    result = {dec(key): dec(item) for key, item in (_list(pair, 2) for pair in _list(pairs))}
    _check(len(result) == len(pairs), "repeated keys")
    return result


def _decode_defaultdict(dec, pairs, factory):
    _check(factory is None or type(factory) is str and factory in _FACTORIES,
           "default factory not allowed")
    return collections.defaultdict(_FACTORIES[factory], _mapping(dec, pairs))


def _decode_deque(dec, items, maxlen):
    _check(maxlen is None or type(maxlen) is int and len(_list(items)) <= maxlen,
           "malformed deque")
    return collections.deque([dec(item) for item in _list(items)], maxlen)


@functools.lru_cache(maxsize=256)
def _namedtuple_class(typename: str, fields: tuple):
    return collections.namedtuple(typename, fields)


def _decode_namedtuple(dec, typename, fields, values):
    fields = tuple(_identifier(name) for name in _list(fields)[:MAX_FIELDS + 1])
    _check(len(fields) <= MAX_FIELDS and len(set(fields)) == len(fields),
           "malformed namedtuple fields")
    values = [dec(value) for value in _list(values, len(fields))]
    return _namedtuple_class(_identifier(typename), fields)._make(values)


def _decode_fraction(dec, parts):
    numerator, denominator = _items(parts, 2)
    _check(denominator > 0, "fraction whose denominator is not positive")
    return fractions.Fraction(numerator, denominator)


def _decode_timedelta(dec, parts):
    days, seconds, microseconds = _items(parts, 3)
    _check(0 <= seconds < 86400 and 0 <= microseconds < 1_000_000, "timedelta out of range")
    return dt.timedelta(days, seconds, microseconds)


def _decode_polynomial(dec, name, coef, domain, window, symbol):
    _check(type(name) is str and name in _POLYNOMIALS, "unknown polynomial class")
    domain, window = (_ndarray(dec(pair), "iuf") for pair in (domain, window))
    _check(domain.shape == window.shape == (2,), "polynomial domain and window are pairs")
    return _POLYNOMIALS[name](_ndarray(dec(coef), "iufc"), domain, window, _identifier(symbol))


def _pandas():
    try:
        import pandas
    except ImportError:
        raise CodecError("a pandas value arrived, but pandas is not installed on the grader's "
                         "side") from None
    return pandas


def _decode_series(dec, values, index, name):
    pd = _pandas()
    values = _decode_column(pd, dec, values, 0)
    return pd.Series(values, index=_decode_index(pd, dec, index, 0), name=dec(name),
                     dtype=values.dtype, copy=False)


def _decode_frame(dec, columns, index, names):
    pd = _pandas()
    index = _decode_index(pd, dec, index, 0)
    columns = [_decode_column(pd, dec, column, 0) for column in _list(columns)]
    # Series with the dtype given: pandas 3 would make an object array of strings "str".
    frame = pd.DataFrame({i: pd.Series(values, index=index, dtype=values.dtype, copy=False)
                          for i, values in enumerate(columns)}, index=index)
    frame.columns = _decode_index(pd, dec, names, 0)
    return frame


def _decode_index(pd, dec, data, depth: int):
    """An Index; ``depth`` bounds the nesting (levels of a MultiIndex, categories)."""
    kind = data.get("kind") if type(data) is dict else None
    if kind == "range" and set(data) == {"kind", "range", "name"}:
        _check(len(range(*_items(data["range"], 3))) <= MAX_ELEMENTS, "index over the limit")
        return pd.RangeIndex(*data["range"], name=dec(data["name"]))
    if kind == "multi" and depth == 0 and set(data) == {"kind", "levels", "codes", "names"}:
        return pd.MultiIndex(levels=[_decode_index(pd, dec, x, 1) for x in _list(data["levels"])],
                             codes=[_ndarray(dec(x), "iu") for x in _list(data["codes"])],
                             names=[dec(x) for x in _list(data["names"])], verify_integrity=True)
    _check(kind == "plain" and depth <= 2 and set(data) == {"kind", "values", "name", "freq"},
           "malformed pandas index")
    values = _decode_column(pd, dec, data["values"], depth)
    index = pd.Index(values, dtype=values.dtype, name=dec(data["name"]), copy=False)
    if data["freq"] is not None:
        _check(type(index) in (pd.DatetimeIndex, pd.TimedeltaIndex)
               and _FREQ.fullmatch(_str(data["freq"], 40)), "malformed index frequency")
        index = type(index)(index, freq=data["freq"])  # pandas checks that the dates conform
    return index


_COLUMN_FIELDS = {"object": {"items"}, "numpy": {"values"}, "datetimetz": {"values", "tz"},
                  "category": {"categories", "codes", "ordered"},
                  "string": {"storage", "na", "items"}, **{k: {"values", "mask"} for k in _MASKED}}


def _decode_column(pd, dec, data, depth: int):
    """The values of a Series, a DataFrame's column or an Index (see :func:`_column`)."""
    kind = data.get("dtype") if type(data) is dict else None
    _check(type(kind) is str and set(data) == {"dtype", *_COLUMN_FIELDS.get(kind, {"?"})},
           f"unexpected pandas column {str(kind)[:40]!r}")
    if kind == "object":
        return _objects(dec, data["items"], [len(_list(data["items"]))])
    if kind == "numpy":
        return _ndarray(dec(data["values"]), "biufcmM")
    if kind == "category":
        _check(depth <= 1 and type(data["ordered"]) is bool, "malformed categorical")
        categories = _decode_index(pd, dec, data["categories"], depth + 1)
        codes = _ndarray(dec(data["codes"]), "iu")
        _check(codes.size == 0 or codes.min() >= -1 and codes.max() < len(categories),
               "categorical codes out of range")
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories,
                                                                          data["ordered"]))
    if kind == "string":
        items = _list(data["items"])
        _check(data["storage"] in ("python", "pyarrow") and type(data["na"]) is bool
               and all(item is None or type(item) is str for item in items), "malformed strings")
        return pd.array(items, dtype=pd.StringDtype(data["storage"],
                                                    pd.NA if data["na"] else np.nan))
    if kind == "datetimetz":
        values, tz = _ndarray(dec(data["values"]), "M"), _decode_tz(data["tz"])
        _check(tz is not None, "time zone missing")
        return pd.array(values).tz_localize("UTC").tz_convert(tz)
    dtype = pd.api.types.pandas_dtype(kind)  # one of _MASKED
    values, mask = _ndarray(dec(data["values"]), "biuf"), _ndarray(dec(data["mask"]), "b")
    _check(values.dtype == dtype.numpy_dtype and values.shape == mask.shape,
           "malformed masked column")
    return dtype.construct_array_type()(values, mask)


def _decode_timestamp(dec, value, tz):
    pd, value = _pandas(), dec(value)
    _check(type(value) is np.datetime64, "malformed timestamp")
    stamp = pd.Timestamp(value)
    return stamp if tz is None else stamp.tz_localize("UTC").tz_convert(_decode_tz(tz))


def _decode_timedelta64(dec, value):
    pd, value = _pandas(), dec(value)
    _check(type(value) is np.timedelta64, "malformed timedelta")
    return pd.Timedelta(value)


# Each tag: the other fields its dict has, and its decoder, called with decode_item then the
# values of the tag and of those fields.
_DECODERS = {
    "$complex": ((), lambda dec, parts: complex(*_items(parts, 2, float))),
    "$bytes": ((), lambda dec, text: base64.b64decode(_str(text), validate=True)),
    "$bytearray": ((), lambda dec, text: bytearray(base64.b64decode(_str(text), validate=True))),
    "$set": ((), _collection(set)),
    "$frozenset": ((), _collection(frozenset)),
    "$pairs": ((), _mapping),
    "$ordered_dict": ((), lambda dec, pairs: collections.OrderedDict(_mapping(dec, pairs))),
    "$counter": ((), lambda dec, pairs: collections.Counter(_mapping(dec, pairs))),
    "$defaultdict": (("factory",), _decode_defaultdict),
    "$deque": (("maxlen",), _decode_deque),
    "$namedtuple": (("fields", "values"), _decode_namedtuple),
    "$range": ((), lambda dec, parts: range(*_items(parts, 3))),
    "$slice": ((), lambda dec, parts: slice(*[dec(x) for x in _list(parts, 3)])),
    "$fraction": ((), _decode_fraction),
    "$decimal": ((), lambda dec, text: decimal.Decimal(_str(text), _DECIMAL_CONTEXT)),
    "$date": ((), lambda dec, parts: dt.date(*_items(parts, 3))),
    "$datetime": (("tz",), lambda dec, parts, tz: dt.datetime(
        *_items(parts, 8)[:7], tzinfo=_decode_tz(tz), fold=parts[7])),
    "$time": (("tz",), lambda dec, parts, tz: dt.time(
        *_items(parts, 5)[:4], tzinfo=_decode_tz(tz), fold=parts[4])),
    "$timedelta": ((), _decode_timedelta),
    "$ndarray": (("shape", "data"), lambda dec, dtype, shape, data: _raw(
        dec, dtype, _count(shape), data).reshape(shape)),
    "$ndarray_object": (("shape",), lambda dec, items, shape: _objects(dec, items, shape)),
    "$npscalar": (("data",), lambda dec, dtype, data: _raw(dec, dtype, 1, data)[0]),
    "$polynomial": (("coef", "domain", "window", "symbol"), _decode_polynomial),
    "$pandas_series": (("index", "name"), _decode_series),
    "$pandas_frame": (("index", "columns"), _decode_frame),
    "$pandas_index": ((), lambda dec, data: _decode_index(_pandas(), dec, data, 0)),
    "$pandas_timestamp": (("tz",), _decode_timestamp),
    "$pandas_timedelta": ((), _decode_timedelta64),
    "$pandas_missing": ((), lambda dec, name: {"NA": _pandas().NA, "NaT": _pandas().NaT}[name]),
}
#: The tags this module encodes and decodes.
TAGS = frozenset(_DECODERS)


def decode_value(data: dict, decode_item) -> object:
    """The value :func:`encode_value` made ``data`` from; CodecError when it is malformed."""
    tags = [key for key in data if type(key) is str and key in TAGS] if type(data) is dict else []
    _check(len(tags) == 1, "expected exactly one codec tag")
    fields, decode = _DECODERS[tags[0]]
    _check(set(data) == {tags[0], *fields}, f"{tags[0]} takes the fields {sorted(fields)}")
    try:
        return decode(decode_item, data[tags[0]], *(data[name] for name in fields))
    except CodecError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever broke, the data was malformed
        raise CodecError(f"malformed {tags[0]} ({type(error).__name__}: {str(error)[:200]})"
                         ) from error
