"""What may cross between the grader and a sandboxed worker: plain data, strictly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder import wire


def roundtrip(value, callbacks=None):
    return wire.decode(wire.unpack(wire.pack({"v": wire.encode(value, callbacks)})[8:])["v"])


def test_numbers_arrays_and_containers_survive():
    value = [1, 2.5, None, True, "text", (np.arange(6.0).reshape(2, 3), np.int32(7)),
             {"a": np.float64(0.5)}, np.zeros((0, 4)), np.array(3.0)]
    back = roundtrip(value)
    assert back[:5] == [1, 2.5, None, True, "text"]
    assert isinstance(back[5], tuple)
    np.testing.assert_array_equal(back[5][0], value[5][0])
    assert back[5][0].dtype == np.float64 and back[5][0].flags.writeable
    assert back[5][1] == 7 and back[6] == {"a": 0.5}
    assert back[7].shape == (0, 4) and np.ndim(back[8]) == 0


def test_a_tensor_arrives_as_its_values():
    back = roundtrip(torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True))
    assert isinstance(back, np.ndarray) and back.tolist() == [[1.0, 2.0]]


def test_a_students_object_never_becomes_an_object_here():
    from autograder.worker import Handles

    class Bomb:
        def __reduce__(self):
            raise AssertionError("never pickled")

    table = Handles()
    bomb = Bomb()
    encoded = wire.encode([bomb, bomb, np.array(["a", "b"])], handles=table)
    assert encoded[0] == encoded[1] == {"$handle": 1, "type": Bomb.__qualname__,
                                        "callable": False}, "one object, one handle"
    assert table.get(1) is bomb
    back = wire.decode(wire.unpack(wire.pack({"v": encoded})[8:])["v"])
    assert all(isinstance(item, wire.Unsupported) for item in back[:2])
    with pytest.raises((TypeError, ValueError)):
        np.asarray(back[0], dtype=float)  # no check can mistake it for numbers
    assert back[2].tolist() == ["a", "b"], "a string array is data: it travels"
    made = wire.decode(encoded, make_handle=lambda *args: args)
    assert made[0] == (1, Bomb.__qualname__, False)


@pytest.mark.parametrize("forged", [
    {"$handle": "1"}, {"$handle": 1, "type": 3}, {"$handle": 1, "callable": "yes"},
    {"$handle": 1, "extra": 0},
])
def test_forged_handles_are_refused(forged):
    with pytest.raises(wire.WireError):
        wire.decode(forged, make_handle=lambda *args: args)


def test_a_plain_subclass_travels_as_its_plain_value():
    class Liar(float):
        def __eq__(self, other):
            return True

    back = roundtrip([Liar(0.5)])
    assert type(back[0]) is float and back[0] == 0.5 and back[0] != 0.25


def test_callables_travel_as_callbacks_only_from_the_grader():
    callbacks = []
    encoded = wire.encode([np.tanh], callbacks)
    assert encoded == [{"$callback": 0}] and callbacks == [np.tanh]
    assert wire.decode(encoded, make_callback=lambda i: f"callback {i}") == ["callback 0"]
    with pytest.raises(wire.WireError):
        wire.decode(encoded)  # the grader never accepts a callback


@pytest.mark.parametrize("forged", [
    {"$nd": "AAAA", "dtype": "|O", "shape": [1]},  # object dtype: would mean unpickling
    {"$nd": "AAAA", "dtype": "<f8", "shape": [5]},  # bytes do not match the shape
    {"$nd": "AAAA", "dtype": "<f8", "shape": [-1]},
    {"$nd": "", "dtype": "<f8", "shape": [2**32, 2**32]},  # a product that overflows int64 to 0
    {"$nd": "AAAAAAAAAAA=", "dtype": "<f8", "shape": [1], "extra": 1},
    {"$pickle": "gASVAAAAAAAAAAA="},
    {"$tuple": "not a list"},
    {},
])
def test_forged_messages_are_refused(forged):
    with pytest.raises(wire.WireError):
        wire.decode(forged)


def test_oversized_and_garbled_messages_are_refused():
    with pytest.raises(wire.WireError):
        wire.body_size((wire.MAX_MESSAGE + 1).to_bytes(8, "big"))
    for garbage in (b"\xff\xfe", b"[1, 2]", b"{" * 100_000):
        with pytest.raises(wire.WireError):
            wire.unpack(garbage)
