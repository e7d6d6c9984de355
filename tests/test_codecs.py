"""Codecs for the values beyond numbers: faithful round trips, strict refusals."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import fractions
import json
import math
import subprocess
import sys
import tracemalloc
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from autograder import codecs, wire

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
Point = collections.namedtuple("Point", "x y")


# -- a small recursive encoder/decoder pair, standing in for the caller's --------------------

def encode_item(value):
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [encode_item(item) for item in value]
    if type(value) is tuple:
        return {"$tuple": [encode_item(item) for item in value]}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"$dict": {key: encode_item(item) for key, item in value.items()}}
    if (type(value) is np.ndarray or isinstance(value, np.generic)) and \
            wire._NUMERIC_DTYPE.match(np.asarray(value).dtype.str):
        return wire._array(np.asarray(value))
    encoded = codecs.encode_value(value, encode_item)
    if encoded is None:
        raise TypeError(f"cannot encode a {type(value).__name__}")
    assert len(codecs.TAGS & set(encoded)) == 1
    return encoded


def decode_item(data):
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode_item(item) for item in data]
    if "$nd" in data:
        return wire._decode_array(data)
    if set(data) == {"$tuple"}:
        return tuple(decode_item(item) for item in data["$tuple"])
    if set(data) == {"$dict"}:
        return {key: decode_item(item) for key, item in data["$dict"].items()}
    return codecs.decode_value(data, decode_item)


def roundtrip(value):
    return decode_item(json.loads(json.dumps(encode_item(value))))


def nd(values, dtype=None):
    return wire._array(np.asarray(values, dtype=dtype))


def raw(values):
    """A text, bytes or time array's $ndarray fields."""
    array = np.asarray(values)
    return {"$ndarray": array.dtype.str, "shape": list(array.shape),
            "data": nd(array.reshape(-1).view(np.uint8))}


# -- round trips -----------------------------------------------------------------------------

PLAIN = [
    complex(1.5, -2.0), b"\x00\xff bytes", b"", bytearray(b"mutable"),
    {1, "a", (2, 3), None, 2.5}, frozenset({(1, 2), fractions.Fraction(1, 3)}), set(),
    {1: "a", (2, 3): [4], None: 5, "s": 6, frozenset({1}): {7}, 2.5: b"x"},
    collections.OrderedDict([("b", 1), ("a", 2), (3, "c")]),
    collections.Counter("abracadabra"),
    collections.defaultdict(list, {1: [2], "k": []}), collections.defaultdict(None, {1: 2}),
    collections.deque([1, "two", (3,)], maxlen=5), collections.deque(),
    range(10, -5, -3), range(0), slice(1, None, -2), slice("a", "c"),
    fractions.Fraction(-3, 7), fractions.Fraction(10**30, 7),
    decimal.Decimal("-1.50E+3"), decimal.Decimal("Infinity"), decimal.Decimal("-0.000"),
    dt.date(2024, 2, 29), dt.datetime(2020, 1, 2, 3, 4, 5, 678),
    dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    dt.datetime(2020, 1, 2, tzinfo=dt.UTC),
    dt.datetime(2021, 10, 31, 2, 30, fold=1, tzinfo=PARIS),
    dt.time(23, 59, 59, 999999), dt.time(1, 2, tzinfo=dt.UTC),
    dt.timedelta(days=-3, seconds=5, microseconds=7),
]

ARRAYS = [
    np.array([["a", "bé"], ["", "ccc"]]), np.array(["x", "yz"], dtype=">U3"), np.array("0-d"),
    np.array([b"x", b"yz\x00q"]), np.array(["2020-01-01", "NaT"], dtype="M8[ns]"),
    np.array(["2020-01", "2021-03"], dtype="M8[M]"), np.arange(6).astype("m8[s]").reshape(2, 3),
    np.array([[1, "a"], [None, fractions.Fraction(1, 2)]], dtype=object),
    np.array([np.float64(1.5), [1, 2], decimal.Decimal("2")], dtype=object),
    np.array(None, dtype=object), np.empty((0, 3), dtype=object), np.empty((2, 0), dtype="<U4"),
    np.asfortranarray(np.array([["a", "b"], ["c", "d"]])),
]

SCALARS = [np.str_("hé"), np.str_(""), np.bytes_(b"q"), np.datetime64("2020-01-01"),
           np.datetime64("NaT"), np.datetime64(5, "ns"), np.timedelta64(5, "ms")]

POLYNOMIALS = [cls([1.0, -2.0, 0.5], domain=[0, 2], window=[-1, 1], symbol="t")
               for cls in (np.polynomial.Polynomial, np.polynomial.Chebyshev,
                           np.polynomial.Legendre, np.polynomial.Laguerre,
                           np.polynomial.Hermite, np.polynomial.HermiteE)]
POLYNOMIALS.append(np.polynomial.Polynomial([1j, 2.0]))


@pytest.mark.parametrize("value", PLAIN + ARRAYS + SCALARS + POLYNOMIALS, ids=repr)
def test_values_come_back_equal_and_of_the_same_type(value):
    back = roundtrip(value)
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        if value.dtype.kind == "O":
            assert back.tolist() == value.tolist()
        else:
            np.testing.assert_array_equal(back, value)
    elif isinstance(value, np.generic):
        assert np.asarray(back).dtype == np.asarray(value).dtype
        assert back == value or (np.isnat(back) and np.isnat(value))
    else:
        assert back == value
    if isinstance(value, dict):
        assert list(back.items()) == list(value.items())  # order kept
        assert getattr(back, "default_factory", 0) is getattr(value, "default_factory", 0)
    if isinstance(value, collections.deque):
        assert back.maxlen == value.maxlen
    if isinstance(value, (dt.datetime, dt.time)):
        assert back.tzinfo == value.tzinfo and back.fold == value.fold
        assert back.utcoffset() == value.utcoffset()


def test_special_floats_and_nesting():
    back = roundtrip(complex(math.nan, -math.inf))
    assert math.isnan(back.real) and back.imag == -math.inf
    value = {(1, 2): collections.deque([{fractions.Fraction(1, 2)}, np.array(["s"])])}
    back = roundtrip(value)
    assert list(back) == [(1, 2)] and back[(1, 2)][0] == {fractions.Fraction(1, 2)}
    assert back[(1, 2)][1].dtype == np.dtype("<U1")


def test_a_namedtuple_comes_back_with_its_fields():
    back = roundtrip(Point(1, [2, 3]))
    assert type(back).__name__ == "Point" and back._fields == ("x", "y")
    assert back.x == 1 and back.y == [2, 3] and back == (1, [2, 3])
    assert type(roundtrip(Point(4, 5))) is type(back)  # one rebuilt class per name and fields
    assert roundtrip([Point(1, 2)]) == [(1, 2)]


def test_a_counter_still_counts():
    back = roundtrip(collections.Counter("abracadabra"))
    assert back.most_common(2) == [("a", 5), ("b", 2)] and back["z"] == 0


# -- pandas ----------------------------------------------------------------------------------

def _frame():
    frame = pd.DataFrame({
        "i": np.array([1, 2, 3], dtype=np.int8), "u": np.array([1, 2, 3], dtype=np.uint64),
        "f": [0.5, np.nan, 2.0], "b": [True, False, True], "c": [1j, 2, 3],
        "obj": [1, "x", None], "str": ["a", None, "c"],
        "string": pd.array(["a", None, "c"], dtype="string"),
        "cat": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
        "Int64": pd.array([1, None, 3], dtype="Int64"),
        "UInt8": pd.array([1, None, 3], dtype="UInt8"),
        "Float32": pd.array([1.5, None, 3], dtype="Float32"),
        "boolean": pd.array([True, None, False], dtype="boolean"),
        "ns": pd.to_datetime(["2020-01-01", None, "2020-03-01"]).as_unit("ns"),
        "s_tz": pd.date_range("2021-03-27", periods=3, tz=PARIS, unit="s"),
        "ms_utc": pd.date_range("2021-01-01", periods=3, tz="UTC", unit="ms"),
        "td": pd.to_timedelta([1, None, 3], unit="s"),
    }, index=pd.Index(["r1", "r2", "r3"], name="row"))
    frame.columns.name = "col"
    return frame


SERIES = [
    pd.Series([1, 2], dtype="int8", name="s", index=pd.RangeIndex(5, 9, 2, name="r")),
    pd.Series(["a", None, "c"]),  # pandas 3's "str" dtype
    pd.Series(["a", None], dtype="string"),
    pd.Series(pd.Categorical(["a", "b", "a", None])),
    pd.Series([1, 2], index=pd.date_range("2020-01-01", periods=2, freq="D", name="day")),
    pd.Series([1.0], index=pd.timedelta_range("1D", periods=1, freq="h")),
    pd.Series([1, 2], index=pd.CategoricalIndex(["x", "y"]), name=("tuple", "name")),
    pd.Series([], dtype="float32"),
    pd.Series([1, 2, 3], index=pd.Index([1, 1, 2])),  # repeated labels
]


@pytest.mark.parametrize("series", SERIES + [_frame()[name] for name in _frame()],
                         ids=lambda s: str(s.dtype))
def test_a_series_keeps_its_dtype_index_and_name(series):
    back = roundtrip(series)
    pd.testing.assert_series_equal(back, series, check_exact=True, check_index_type=True,
                                   check_freq=True, check_categorical=True)
    assert back.index.dtype == series.index.dtype


def test_a_dataframe_keeps_its_columns_index_and_dtypes():
    frame = _frame()
    back = roundtrip(frame)
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_index_type=True,
                                  check_column_type=True)
    assert back.columns.name == "col" and list(back.dtypes) == list(frame.dtypes)
    repeated = pd.DataFrame([[1, "a"]], columns=["x", "x"])
    pd.testing.assert_frame_equal(roundtrip(repeated), repeated, check_column_type=True)
    for empty in (pd.DataFrame(), pd.DataFrame(index=pd.RangeIndex(3)),
                  pd.DataFrame(columns=["a", "b"])):
        pd.testing.assert_frame_equal(roundtrip(empty), empty, check_index_type=True,
                                      check_column_type=True)


def test_multiindexes_and_groupby_results():
    grouped = pd.DataFrame({"k": pd.Categorical(["a", "b", "a"]), "j": [1, 2, 1],
                            "v": [1.0, 2.0, 3.0]}).groupby(["k", "j"], observed=False).sum()
    pivot = pd.DataFrame({"a": ["x", "y"], "b": ["p", "q"], "v": [1, 2]}).pivot_table(
        index="a", columns=["b"], values=["v"])
    for frame in (grouped, pivot):
        pd.testing.assert_frame_equal(roundtrip(frame), frame, check_exact=True,
                                      check_index_type=True, check_column_type=True)


@pytest.mark.parametrize("index", [
    pd.RangeIndex(2, 10, 2, name="r"), pd.Index([1.5, 2.5], dtype="float32"),
    pd.Index(["a", "b"]), pd.Index(["a", 1], dtype=object), pd.Index([True, False]),
    pd.MultiIndex.from_tuples([(1, "u"), (2, "v")], names=["n", "m"]),
    pd.date_range("2020-01-01", periods=3, freq="ME", tz=PARIS), pd.DatetimeIndex(["2020-01-01"]),
    pd.CategoricalIndex(["a", "b"], ordered=True), pd.timedelta_range("1s", periods=2),
    pd.Index(pd.array([1, None], dtype="Int16")),
], ids=lambda index: type(index).__name__)
def test_an_index_keeps_its_type(index):
    back = roundtrip(index)
    pd.testing.assert_index_equal(back, index, exact=True, check_exact=True)
    assert getattr(back, "freq", None) == getattr(index, "freq", None)


@pytest.mark.parametrize("value", [
    pd.Timestamp("2020-01-01 12:30"), pd.Timestamp("2020-06-01", tz=PARIS).as_unit("s"),
    pd.Timedelta(5, "ms"), pd.NA, pd.NaT,
], ids=repr)
def test_pandas_scalars(value):
    back = roundtrip(value)
    assert type(back) is type(value)
    assert back is value if value is pd.NA or value is pd.NaT else (
        back == value and back.unit == value.unit and getattr(back, "tz", None) == value.tz
        if isinstance(value, pd.Timestamp) else back == value)


def test_pandas_data_needs_pandas_on_the_graders_side(monkeypatch):
    encoded = json.loads(json.dumps(encode_item(pd.Series([1, 2]))))
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(codecs.CodecError, match="pandas is not installed on the grader's side"):
        codecs.decode_value(encoded, decode_item)


def test_encoding_plain_values_never_imports_pandas():
    script = ("import sys, collections; from autograder import codecs; "
              "codecs.encode_value({1: 2}, lambda x: x); codecs.encode_value(1j, None); "
              "assert 'pandas' not in sys.modules")
    subprocess.run([sys.executable, "-c", script], check=True)


# -- what this module leaves to the caller ---------------------------------------------------

class MySet(set):
    pass


class LyingDict(dict):
    def __eq__(self, other):
        return True

    __hash__ = None


class Meta(type):
    def __hash__(cls):
        raise AssertionError("never hashed")


class WithMeta(metaclass=Meta):
    pass


class SubPoint(Point):
    pass


class MyArray(np.ndarray):
    pass


class MySeries(pd.Series):
    pass


class MyPolynomial(np.polynomial.Polynomial):
    pass


class Tz(dt.tzinfo):
    def utcoffset(self, when):
        return dt.timedelta(hours=1)


@pytest.mark.parametrize("value", [
    MySet({1}), LyingDict({1: 2}), WithMeta(), SubPoint(1, 2), np.zeros(2).view(MyArray),
    MySeries([1.0]), MyPolynomial([1.0]), collections.defaultdict(lambda: 0),
    dt.datetime(2020, 1, 1, tzinfo=Tz()), dt.time(tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
    np.arange(3.0), np.float64(1.0), np.array([(1, 2.0)], dtype="i4,f8"),
    np.ma.masked_array([1, 2]), 1, 1.5, "text", None, [1], (1,), {"all": "str keys"},
    pd.Series(pd.period_range("2020", periods=2, freq="D")),
    pd.DataFrame({"i": pd.interval_range(0, 2)}),
    pd.Series([1.0], index=pd.IntervalIndex.from_breaks([0, 1])),
    pd.Period("2020", freq="Y"), object(),
], ids=lambda value: type(value).__name__)
def test_other_types_and_users_subclasses_are_left_to_the_caller(value):
    assert codecs.encode_value(value, encode_item) is None


# -- hostile data ----------------------------------------------------------------------------

U8 = nd(np.zeros(8, np.uint8))
NUM2 = {"dtype": "numpy", "values": nd([1, 2])}
RANGE2 = {"kind": "range", "range": [0, 2, 1], "name": None}


def plain(values, name=None, freq=None):
    return {"kind": "plain", "values": values, "name": name, "freq": freq}


def series(values=NUM2, index=RANGE2, name=None):
    return {"$pandas_series": values, "index": index, "name": name}


def category(codes, categories=("a", "b"), ordered=False, dtype=np.int8):
    return {"dtype": "category", "codes": nd(codes, dtype), "ordered": ordered,
            "categories": plain({"dtype": "object", "items": list(categories)})}


NESTED = category([0, 1])
for _ in range(3):  # categories of categories of categories...: nesting has a bound
    NESTED = {**category([0, 1]), "categories": plain(NESTED)}


def multi(levels, codes, names=(None, None)):
    return {"kind": "multi", "levels": levels, "codes": codes, "names": list(names)}


def datetime_fields(*fields, tz=None):
    return {"$datetime": [*fields, 0, 0, 0, 0, 0, 0, 0, 0][:8], "tz": tz}


DAYS = {"dtype": "numpy", "values": raw(np.array(["2020-01-01", "2020-01-02"], dtype="M8[ns]"))}
SECOND = encode_item(np.datetime64(1, "s"))
HOSTILE = [
    # no tag, two tags, not a dict
    "not a dict", {}, {"$nope": 1}, {"$set": [], "$frozenset": []}, {"$nd": "AAAA"},
    # complex, bytes
    {"$complex": [1.0]}, {"$complex": [1, 2.0]}, {"$complex": ["1", 2.0]},
    {"$complex": [1.0, 2.0], "extra": 0}, {"$complex": {"re": 1.0}}, {"$complex": [True, 1.0]},
    {"$bytes": "!!!!"}, {"$bytes": "AAA"}, {"$bytes": 3}, {"$bytearray": ["AA=="]},
    {"$bytes": "é"},
    # sets and mappings
    {"$set": "ab"}, {"$set": [1, 1]}, {"$set": [1, 1.0]}, {"$set": [[1]]},
    {"$frozenset": [{"$bytes": 1}]}, {"$set": [{"$nope": 1}]},
    {"$pairs": [[1]]}, {"$pairs": [[[1], 2]]}, {"$pairs": [[1, 2], [1, 3]]}, {"$pairs": {"a": 1}},
    {"$pairs": [1, 2]}, {"$ordered_dict": [[1, 2, 3]]}, {"$counter": "x"},
    {"$counter": [[1, 2]], "extra": 1},
    {"$defaultdict": [], "factory": "os.system"}, {"$defaultdict": [], "factory": "eval"},
    {"$defaultdict": [], "factory": "__import__"}, {"$defaultdict": [], "factory": ["int"]},
    {"$defaultdict": [], "factory": 1}, {"$defaultdict": []},
    {"$deque": [1, 2, 3], "maxlen": 2}, {"$deque": [], "maxlen": -1},
    {"$deque": [], "maxlen": "3"}, {"$deque": [], "maxlen": True}, {"$deque": []},
    # namedtuples
    *({"$namedtuple": name, "fields": ["x"], "values": [1]}
      for name in ("__class__", "import os", "a b", "class", "", "é", 5, "x" * 101, "os.path")),
    *({"$namedtuple": "P", "fields": fields, "values": [1] * len(fields)}
      for fields in (["x", "x"], ["_x"], ["def"], ["a b"], [1], "xy", ["__init__"],
                     [f"f{i}" for i in range(300)])),
    {"$namedtuple": "P", "fields": ["x"], "values": [1, 2]}, {"$namedtuple": "P", "fields": []},
    # range, slice, numbers
    {"$range": [0, 10, 0]}, {"$range": [0, 1.5, 1]}, {"$range": [0, 1]},
    {"$range": [True, 2, 1]}, {"$range": "0:10"}, {"$slice": [1, 2]}, {"$slice": {"a": 1}},
    {"$fraction": [1, 0]}, {"$fraction": [1, -2]}, {"$fraction": [1.5, 2]},
    {"$fraction": ["1", "2"]}, {"$fraction": [1, 2, 3]},
    {"$decimal": "1.2.3"}, {"$decimal": 1.5}, {"$decimal": "x"}, {"$decimal": ""},
    {"$decimal": "1e"},
    # dates and times
    {"$date": [2020, 13, 1]}, {"$date": [2020, 2, 30]}, {"$date": [0, 1, 1]},
    {"$date": [2020, 1]}, {"$date": ["2020", 1, 1]}, {"$date": [10**20, 1, 1]},
    datetime_fields(2020, 1, 1, 25), datetime_fields(2020, 1, 1, 0, 0, 0, 10**6),
    datetime_fields(2020, 1, 1, 0, 0, 0, 0, 2), datetime_fields(2020, 0, 1),
    *(datetime_fields(2020, 1, 1, tz=tz) for tz in (
        86400, -86400, 10**30, 1.5, "../../etc/passwd", "/etc/localtime", "Nowhere/Zone",
        "Europe/Paris\n", "UTC; rm -rf", "", ["UTC"], True)),
    {"$datetime": [2020, 1, 1, 0, 0, 0, 0, 0]}, {"$datetime": [2020, 1, 1], "tz": None},
    {"$time": [24, 0, 0, 0, 0], "tz": None}, {"$time": [1, 2, 3], "tz": None},
    {"$time": [1, 2, 3, 4, 0], "tz": "Bad Zone"},
    {"$timedelta": [0, 86400, 0]}, {"$timedelta": [0, -1, 0]}, {"$timedelta": [0, 0, 10**6]},
    {"$timedelta": [10**10, 0, 0]}, {"$timedelta": [1.5, 0, 0]},
    # arrays of text, bytes, times and objects
    *({**raw(np.array(["ab"])), "$ndarray": dtype} for dtype in (
        "|O", "O", "<U99999999999", "<U300000", "<f8", "|V8", "<M8[xx]", "<U0", "U2", "<U2 ",
        "<U2\n", 8, "x" * 100, "<M8[ns]extra", "|M8[ns]")),
    *({**raw(np.array(["ab"])), "shape": shape} for shape in (
        [-1], [10**12], [0, 10**12], [100_000, 100_000, 100_000], "2", [1.5], [1] * 33, [True],
        None, [3])),
    {**raw(np.array(["ab"])), "data": nd(np.zeros(1, np.float64))},
    {**raw(np.array(["ab"])), "data": [0] * 8}, {**raw(np.array(["ab"])), "data": nd(np.uint8(0))},
    {**raw(np.array(["ab"])), "data": nd(np.zeros((2, 4), np.uint8))},
    {**raw(np.array(["ab"])), "extra": 1}, {"$ndarray": "<U2", "shape": [1]},
    {"$ndarray_object": [1, 2], "shape": [3]}, {"$ndarray_object": [], "shape": [10**9]},
    {"$ndarray_object": "ab", "shape": [2]}, {"$ndarray_object": [1]},
    {"$ndarray_object": [{"$nope": 1}], "shape": [1]}, {"$ndarray_object": [], "shape": [-1]},
    {"$npscalar": "<U2", "data": nd(np.zeros(4, np.uint8))}, {"$npscalar": "|O", "data": U8},
    {"$npscalar": "<f8", "data": U8}, {"$npscalar": "<M8[D]"},
    # polynomials
    *({"$polynomial": name, "coef": nd([1.0]), "domain": nd([-1, 1]), "window": nd([-1, 1]),
       "symbol": "x"} for name in ("os.system", "__builtins__", "ABCPolyBase", "polynomial", 1)),
    *({"$polynomial": "Polynomial", "coef": nd([1.0]), "domain": nd([-1, 1]),
       "window": nd([-1, 1]), "symbol": symbol} for symbol in ("import os", "x y", "__class__", 1)),
    {"$polynomial": "Polynomial", "coef": [1.0], "domain": nd([-1, 1]), "window": nd([-1, 1]),
     "symbol": "x"},
    {"$polynomial": "Polynomial", "coef": raw(np.array(["a"])), "domain": nd([-1, 1]),
     "window": nd([-1, 1]), "symbol": "x"},
    {"$polynomial": "Polynomial", "coef": nd([[1.0]]), "domain": nd([-1, 1]),
     "window": nd([-1, 1]), "symbol": "x"},
    {"$polynomial": "Polynomial", "coef": nd([1.0]), "domain": nd([-1, 0, 1]),
     "window": nd([-1, 1]), "symbol": "x"},
    {"$polynomial": "Polynomial", "coef": nd([1.0]), "domain": nd([-1, 1]),
     "window": nd([1j, 1])},
    # pandas columns
    series({"dtype": "float64", "values": nd([1.0, 2.0])}),
    series({"dtype": "numpy", "values": raw(np.array(["a", "b"]))}),
    series({"dtype": "numpy", "values": nd([[1, 2]])}), series({"dtype": "numpy"}),
    series({"dtype": "numpy", "values": nd([1, 2]), "extra": 1}), series("not a column"),
    series({"dtype": "object", "items": [1]}), series({"dtype": "object", "items": "ab"}),
    *(series({"dtype": dtype, "values": nd([1, 2]), "mask": nd([False, False])})
      for dtype in ("Sparse[int64]", "period[D]", "int64", "Int128", "interval", ["Int64"])),
    series({"dtype": "Int64", "values": nd([1.0, 2.0]), "mask": nd([False, False])}),
    series({"dtype": "Int64", "values": nd([1, 2]), "mask": nd([False])}),
    series({"dtype": "Int64", "values": nd([1, 2]), "mask": nd([0, 0])}),
    series({"dtype": "boolean", "values": nd([1, 2]), "mask": nd([False, False])}),
    series(category([0, 5])), series(category([-2, 0])), series(category([0.0, 1.0], dtype=float)),
    series(category([0, 1], ordered="yes")), series(category([0, 1], categories=("a", "a"))),
    series(NESTED),
    series({"dtype": "string", "storage": "os", "na": True, "items": ["a", "b"]}),
    series({"dtype": "string", "storage": "python", "na": True, "items": ["a", 1]}),
    series({"dtype": "string", "storage": "python", "na": "NA", "items": ["a", "b"]}),
    series({"dtype": "string", "storage": ["python"], "na": True, "items": ["a", "b"]}),
    series({"dtype": "datetimetz", "values": DAYS["values"], "tz": None}),
    series({"dtype": "datetimetz", "values": nd([1, 2]), "tz": "UTC"}),
    series({"dtype": "datetimetz", "values": DAYS["values"], "tz": "Mars/Olympus"}),
    # pandas indexes, series, frames and scalars
    series(index={"kind": "range", "range": [0, 3, 1], "name": None}),
    series(index={"kind": "range", "range": [0, 2, 0], "name": None}),
    series(index={"kind": "range", "range": [0, 10**12, 1], "name": None}),
    series(index={"kind": "range", "range": [0, 10**30, 1], "name": None}),
    series(index={**RANGE2, "extra": 1}), series(index={"kind": "eval", "values": NUM2}),
    series(index=plain(NUM2, freq="D")), series(index=plain(DAYS, freq="not a freq!")),
    series(index=plain(DAYS, freq="h")), series(index=plain(DAYS, freq=1)),
    series(index={"kind": "plain", "values": NUM2, "name": None}), series(name=[1]),
    series(index=multi([plain(NUM2), plain(NUM2)], [nd([0, 5]), nd([0, 1])])),
    series(index=multi([plain(NUM2)], [nd([0, 1]), nd([0, 1])])),
    series(index=multi([plain(NUM2), multi([plain(NUM2)], [nd([0, 1])])],
                       [nd([0, 1]), nd([0, 1])])),
    series(index=multi([plain(NUM2), plain(NUM2)], [nd([0, 1]), nd([0.0, 1.0])])),
    series(index=multi([], [], [])), series(index=multi([plain(NUM2)], [nd([0, 1])], [[1]])),
    {"$pandas_series": NUM2, "index": RANGE2}, {**series(), "extra": 1},
    {"$pandas_frame": [NUM2], "index": RANGE2, "columns": RANGE2},
    {"$pandas_frame": [NUM2], "index": {**RANGE2, "range": [0, 3, 1]},
     "columns": {**RANGE2, "range": [0, 1, 1]}},
    {"$pandas_frame": "x", "index": RANGE2, "columns": RANGE2},
    {"$pandas_index": RANGE2, "extra": 1}, {"$pandas_index": plain(NUM2, name={"$nope": 1})},
    {"$pandas_timestamp": 5, "tz": None}, {"$pandas_timestamp": SECOND, "tz": "Bad Zone"},
    {"$pandas_timestamp": raw(np.datetime64(1, "s")), "tz": None},
    {"$pandas_timedelta": SECOND}, {"$pandas_timedelta": "5ms"},
    {"$pandas_missing": "None"}, {"$pandas_missing": ["NA"]},
]


@pytest.mark.parametrize("data", HOSTILE, ids=lambda data: json.dumps(data)[:60])
def test_malformed_data_raises_codec_error_and_nothing_else(data):
    with pytest.raises(codecs.CodecError):
        codecs.decode_value(data, decode_item)


@pytest.mark.parametrize("data", [
    {"$ndarray_object": [], "shape": [40_000_000]},
    {"$ndarray": "<U1", "shape": [40_000_000], "data": U8},
    {"$pandas_series": {"dtype": "object", "items": []},
     "index": {"kind": "range", "range": [0, 40_000_000, 1], "name": None}, "name": None},
])
def test_declared_sizes_are_refused_before_allocating(data):
    tracemalloc.start()
    try:
        with pytest.raises(codecs.CodecError):
            codecs.decode_value(data, decode_item)
        assert tracemalloc.get_traced_memory()[1] < 8 << 20
    finally:
        tracemalloc.stop()
