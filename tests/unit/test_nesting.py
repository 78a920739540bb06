"""How deep client data may nest, told without recursing on it."""

from __future__ import annotations

from typing import Any

import pytest

from domain.nesting import nested_deeper_than


def levels(n: int, outer: Any = list) -> Any:
    value: Any = [] if outer is list else {}
    for _ in range(n - 1):
        value = [value] if outer is list else {"k": value}
    return value


@pytest.mark.parametrize("outer", [list, dict])
def test_the_limit_itself_is_allowed_and_one_level_more_is_not(outer: Any) -> None:
    assert not nested_deeper_than(levels(3, outer), 3)
    assert nested_deeper_than(levels(4, outer), 3)


def test_scalars_are_no_level_and_every_branch_is_looked_at() -> None:
    assert not nested_deeper_than("text", 0)
    assert not nested_deeper_than({"a": 1, "b": "x", "c": None}, 1)
    wide = {"shallow": [1, 2], "deep": [[[]]]}
    assert nested_deeper_than(wide, 3)
    assert nested_deeper_than([[], [[[]]]], 3)


def test_data_far_past_the_interpreters_recursion_limit_is_measured_without_recursing() -> None:
    assert nested_deeper_than(levels(200_000), 32)


def test_tuples_nest_as_the_arrays_json_writes_them_as() -> None:
    deep: Any = ()
    for _ in range(40):
        deep = (deep,)
    assert nested_deeper_than(deep, 32)
    assert nested_deeper_than({"k": [(1, ([],))]}, 3)
    assert not nested_deeper_than({"k": [(1, ([],))]}, 5)
