"""The YAML loader: positions, YAML 1.1 behaviour pinned, safe construction only."""

from __future__ import annotations

from cnncost.errors import Location
from cnncost.spec.yamlsource import load_yaml


def test_positions_of_values_and_keys() -> None:
    text = "a: 1\nb:\n  - {c: 2, d: [3, 4]}\n"
    data, smap, problems = load_yaml(text, "f.yaml")
    assert not problems and data == {"a": 1, "b": [{"c": 2, "d": [3, 4]}]}
    assert smap.locate(("b", 0, "d", 1)) == Location("f.yaml", 3, 19)
    assert smap.locate(("b", 0, "d"), key=True) == Location("f.yaml", 3, 12)
    # unknown path elements (pydantic's union tags) are skipped
    assert smap.locate(("b", 0, "function-after", "c")) == Location("f.yaml", 3, 9)


def test_yaml_1_1_behaviour_is_pinned() -> None:
    data, _, _ = load_yaml("x: 1e-5\ny: 1.0e-5\non: yes\nz: 0o17\nw: 017\n", "f.yaml")
    assert data["x"] == "1e-5"  # YAML 1.1: no float without a dot; expressions read it as 1e-05
    assert data["y"] == 1.0e-5
    assert data[True] is True  # the key 'on' and the value 'yes' are booleans in YAML 1.1
    assert data["z"] == "0o17" and data["w"] == 15  # 1.1 octal is 017, not 0o17


def test_duplicate_keys_are_errors() -> None:
    _, _, problems = load_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(p.kind, p.location.line, p.message) for p in problems] == [
        ("yaml", 3, "duplicate key 'a'")]


def test_no_python_objects() -> None:
    data, _, problems = load_yaml("a: !!python/object/apply:os.system ['true']\n", "f.yaml")
    assert data is None and problems[0].kind == "yaml"
    data, _, problems = load_yaml("a: !!python/name:os.system\n", "f.yaml")
    assert data is None and problems[0].kind == "yaml"


def test_anchors_and_merge_keys() -> None:
    text = "base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n"
    data, _, problems = load_yaml(text, "f.yaml")
    assert not problems and data["item"] == {"x": 1, "y": 3}


def test_empty_document() -> None:
    data, _, problems = load_yaml("", "f.yaml")
    assert data == {} and not problems


# --------------------------------------------------------------------------- hostile YAML

import pytest

from cnncost import limits
from cnncost.errors import SpecError
from cnncost.spec.yamlsource import decode


def test_merge_keys_follow_pyyaml() -> None:
    # of a list of merged mappings the first wins; an explicit key wins over them all
    text = "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc: {<<: [*a, *b], y: 0}\n"
    data, _, problems = load_yaml(text, "f.yaml")
    assert not problems and data["c"] == {"x": 1, "y": 0, "z": 2}


def test_a_recursive_anchor_is_located_at_its_alias() -> None:
    data, _, problems = load_yaml("a: 1\nb: &x [1, [2, *x]]\n", "f.yaml")
    assert data is None
    assert [(p.line, p.column) for p in (q.location for q in problems)] == [(2, 15)]  # the *x
    assert "recursive anchor" in problems[0].message


def test_an_alias_bomb_stops_at_the_bound_and_names_the_outermost_alias() -> None:
    # 4 levels of 10 aliases: 10**4 leaves from 5 lines; the bound here is 1,000 added values
    text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 5))
    with limits.using(max_alias_values=1000):
        data, _, (problem,) = load_yaml(text, "f.yaml")
    assert data is None and "more than 1,000 values" in problem.message
    assert problem.location.line == 3  # l2's first alias: l1 is built whole, l2 runs out


def test_depth_and_size_bounds() -> None:
    deep = "a: " + "[" * 70 + "]" * 70 + "\n"
    _, _, (problem,) = load_yaml(deep, "f.yaml")
    # the 65th '[' opens a 65th level under the mapping's: column 3 + 64 = 67
    assert (problem.location.line, problem.location.column) == (1, 67)
    with limits.using(max_yaml_nodes=5):
        _, _, (problem,) = load_yaml("[1, 2, 3, 4, 5]\n", "f.yaml")  # the list and 5 items
    assert "more than 5 YAML values" in problem.message and problem.location.column == 14


@pytest.mark.parametrize(("text", "column", "message"), [
    ("a: !!int abc\n", 4, "'abc' is not a valid !!int"),
    ("a: !!float\n", 4, "'' is not a valid !!float"),
    ("a: !!bool maybe\n", 4, "'maybe' is not a valid !!bool"),
    ("a: !!timestamp 2020-13-45\n", 4, "is not a valid !!timestamp"),
    ("a: " + "7" * 4001 + "\n", 4, "an integer of 4,001 characters is too long"),
    ("a: !!binary aGk=\n", 4, "unsupported tag"),
    ("a: !custom x\n", 4, "unsupported tag"),
    ("a: x\x00\n", 5, "#x0000 is not allowed"),
    ("a: 1\n---\nb: 2\n", 1, "one YAML document"),
])
def test_bad_scalars_are_located(text: str, column: int, message: str) -> None:
    data, _, (problem,) = load_yaml(text, "f.yaml")
    assert data is None and message in problem.message
    assert problem.location.column == column


def test_floats_keep_their_written_text() -> None:
    _, smap, _ = load_yaml("v: 0.70\nw: [1.50, 2]\n", "f.yaml")
    assert smap.float_texts == {("v",): "0.70", ("w", 0): "1.50"}


def test_bytes_that_are_not_utf8_are_located() -> None:
    with pytest.raises(SpecError) as info:
        decode("a: 1\nb: caf\u00e9 \xff\n".encode("utf-8").replace(b"\xc3\xbf", b"\xff"), "f")
    (problem,) = info.value.problems
    # line 2 is 'b: café ' then the bad byte: 'é' is one column although two bytes
    assert (problem.location.line, problem.location.column) == (2, 9)
    assert decode("\ufeffa: 1".encode("utf-8"), "f") == "a: 1"  # a byte-order mark is dropped
