"""What every chapter's checks share: the refusal of a check's own arguments
(``descent.checks._arguments``) and the choice of a hint (``descent.checks._compare``)."""

from __future__ import annotations

import numpy as np
import pytest

from descent.checks._arguments import (
    BETAS,
    FLAG,
    SEED,
    Rule,
    array_shape,
    array_shapes,
    integer,
    number,
    one_of,
    require,
    require_each,
)
from descent.checks._compare import (
    AnyOf,
    WithNaN,
    assert_unchanged,
    compare_with_hint,
    diagnose,
    matches,
)

# ---------------------------------------------------------------- a check's own arguments


def refusal(rule: Rule, value, name: str = "x") -> str | None:
    """The refusal ``require`` raises for ``value``, or None when the rule allows it."""
    try:
        require("check_f", rule, **{name: value})
    except ValueError as error:
        return str(error)
    return None


def test_a_refusal_names_the_check_the_argument_its_value_and_what_is_allowed():
    assert refusal(integer(1), 0, "steps") == (
        "check_f: steps=0 is not allowed: steps must be an integer ≥ 1")
    assert refusal(number(above=0, why=" (a step)"), -0.5, "lr") == (
        "check_f: lr=-0.5 is not allowed: lr must be a finite number > 0 (a step)")
    assert refusal(one_of("min", "max"), "mean", "mode") == (
        "check_f: mode='mean' is not allowed: mode must be 'min' or 'max'")


@pytest.mark.parametrize("rule, sentence", [
    (number(least=0, most=1), "x must be a number in [0, 1]"),
    (number(above=0, below=1), "x must be a number in (0, 1)"),
    (number(least=0, below=1), "x must be a number in [0, 1)"),
    (number(least=1), "x must be a finite number ≥ 1"),
    (number(most=2), "x must be a finite number ≤ 2"),
    (number(), "x must be a finite number"),
    (array_shape(1), "x must be a tuple of integers ≥ 1"),
    (array_shape(1, dims=1), "x must be a tuple of one or more integers ≥ 1"),
    (array_shape(0, dims=2, bare_int=True), "x must be an integer or a tuple of at least 2 "
                                            "integers ≥ 0"),
    (one_of("a", "b", "c"), "x must be one of 'a', 'b', 'c'"),
])
def test_the_shared_rules_say_what_they_allow(rule, sentence):
    assert rule.sentence("x") == sentence


@pytest.mark.parametrize("rule, allowed, refused", [
    (SEED, [0, 7, np.int64(3)], [-1, 1.5, True, "0", None]),
    (integer(2), [2, 10], [1, 2.0]),
    (number(least=0, below=1), [0, 0.5, np.float32(0.25)], [1, -0.1, float("nan"), True, "0.5"]),
    (number(above=0), [1e-300, 5], [0, float("inf"), None]),
    (FLAG, [True, False, np.bool_(True)], [1, 0, "yes", None]),
    (array_shape(1), [(), (3,), [2, 4]], [(0,), (2, -1), 5, "7", (1.0,)]),
    (array_shape(0, bare_int=True), [0, 5, (), (2, 0)], [-1, (2, -3), "7"]),
    (array_shapes(0), [[(3,), ()], ((2, 4),)], [[], 5, [3], [(2, -1)]]),
    (array_shapes(0, empty=True), [[]], [[3]]),
    (BETAS, [(0.9, 0.999), [0.0, 0.5]], [(0.9, 1.0), (0.9,), 0.9, (0.9, "a")]),
    (one_of("fan_in", "fan_out"), ["fan_in"], ["fan_avg", None, np.array(["fan_in"])]),
])
def test_the_shared_rules_allow_and_refuse(rule, allowed, refused):
    assert [v for v in allowed if refusal(rule, v)] == []
    assert [v for v in refused if refusal(rule, v) is None] == []


def test_a_rule_whose_test_raises_refuses_instead_of_crashing():
    assert refusal(Rule(lambda x: x["key"] > 0, "{name} must hold a key > 0"), {"key": "a"})


def test_require_each_applies_the_rule_of_each_name_in_order():
    rules = {"lr": number(above=0), "steps": integer(1)}
    require_each("check_f", rules, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="^check_f: lr=0 is not allowed"):
        require_each("check_f", rules, lr=0, steps=0)


# ---------------------------------------------------------------- choosing a hint


def test_a_hint_that_cannot_be_computed_is_skipped():
    """Hint-building that raises never replaces the verdict: the AssertionError comes with
    the default hint."""
    def broken():
        raise KeyError("exp_avg_sq")

    with pytest.raises(AssertionError, match="the rule is x") as failure:
        compare_with_hint("f", np.ones(2), np.zeros(2), broken, "the rule is x")
    assert "KeyError" not in str(failure.value)
    with pytest.raises(AssertionError, match="named"):
        compare_with_hint("f", np.ones(2), np.zeros(2),
                          lambda: {"not this": lambda: 1 / 0, "named": np.ones(2)}, "default")


def test_nan_variants_match_nan_for_nan_and_plain_ones_never():
    got = np.array([np.nan, 1.0])
    assert diagnose(got, {"plain": np.array([np.nan, 1.0])}, "default") == "default"
    assert diagnose(got, {"nan": WithNaN(np.array([np.nan, 1.0]))}, "default") == "nan"
    assert diagnose(got, {"nan": WithNaN(np.array([1.0, np.nan]))}, "default") == "default"


def test_variants_may_come_as_pairs_with_a_hint_more_than_once():
    got = np.array([2.0, 3.0])
    pairs = [("a", lambda: np.zeros(2)), ("b", np.ones(2)), ("a", lambda: got.copy())]
    assert diagnose(got, pairs, "default") == "a"
    assert diagnose(got, [("any", AnyOf(np.zeros(2), lambda: got + 0))], "default") == "any"


def test_a_generator_of_variants_that_fails_midway_keeps_what_it_gave():
    def variants():
        yield "first", np.zeros(2)
        raise RuntimeError("a variant that cannot be built")

    assert diagnose(np.zeros(2), variants(), "default") == "first"
    assert diagnose(np.ones(2), variants(), "default") == "default"


def test_lists_of_arrays_of_different_shapes_match_array_by_array():
    grads = [np.ones(3), np.zeros((2, 4))]
    assert matches(grads, [np.ones(3), np.zeros((2, 4))])
    assert not matches(grads, [np.ones(3), np.ones((2, 4))])
    assert not matches(grads, [np.ones(3)])
    assert not matches(None, grads) and not matches("text", grads)


def test_an_input_turned_into_something_unreadable_was_modified_in_place():
    with pytest.raises(AssertionError, match="the mean it was given was modified in place"):
        assert_unchanged("f", np.zeros(2), ["a", "b"], "the mean it was given")
