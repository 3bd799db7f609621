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
