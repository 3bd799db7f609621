"""Loading: block-file imports (nested, diamonds, cycles) and what a LoadedSpec carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api
from cnncost.errors import SpecError
from cnncost.spec.loader import load_spec


def test_block_files_import_block_files(tmp_path: Path) -> None:
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks/a.yaml").write_text(
        "imports: [b.yaml]\nblocks:\n  outer:\n    layers: [inner, relu]\n")
    (tmp_path / "blocks/b.yaml").write_text(  # imports a.yaml back: a cycle, harmless
        "imports: [a.yaml]\nblocks:\n  inner:\n    layers: [{conv2d: {out: 2, kernel: 1}}]\n")
    (tmp_path / "s.yaml").write_text(
        "name: t\nimports: [blocks/a.yaml, blocks/b.yaml]\n"  # b twice: a diamond, harmless
        "input: {channels: 3, height: 4, width: 4}\nlayers: [outer]\n")
    loaded = api.load(tmp_path / "s.yaml")
    assert set(loaded.blocks) == {"outer", "inner"}
    graph, _ = api.build_graph(loaded)
    assert list(graph.topo_order()) == ["input", "outer.inner.conv2d", "outer.relu"]


def test_problem_in_an_imported_file_is_located_there(tmp_path: Path) -> None:
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks/a.yaml").write_text("blocks:\n  outer:\n    layers:\n      - rleu\n")
    (tmp_path / "s.yaml").write_text("name: t\nimports: [blocks/a.yaml]\n"
                                     "input: {channels: 3, height: 4, width: 4}\nlayers: [outer]\n")
    with pytest.raises(SpecError) as info:
        api.load(tmp_path / "s.yaml")
    (problem,) = info.value.problems
    assert problem.location.file.endswith("blocks/a.yaml") and problem.location.line == 4
    assert problem.hint == "did you mean 'relu'?"


def test_the_resnet_bottleneck_carries_an_optional_squeeze_excitation() -> None:
    plain = api.build_graph("specs/resnet.yaml", variant="resnet50")[0]
    se = api.build_graph("specs/se_resnet.yaml", variant="seresnet50")[0]
    assert "layer1.0.se.fc1" not in plain and "layer1.0.se.fc1" in se
    assert se.inputs_of("layer1.0.add")[0] == "layer1.0.se.scale"


# --------------------------------------------------------------------------- imports confined

SPEC = "name: t\nimports: [{name}]\ninput: {{channels: 3, height: 4, width: 4}}\nlayers: [unit]\n"
BLOCK = "blocks:\n  unit:\n    layers: [relu]\n"


def import_problem(spec: Path) -> str:
    with pytest.raises(SpecError) as info:
        api.load(spec)
    (problem,) = [p for p in info.value.problems if p.kind == "file"]
    assert (problem.location.line, problem.location.column) == (2, 11)  # the import's name
    return problem.message


def test_imports_stay_in_the_spec_tree_unless_allowed(tmp_path: Path, monkeypatch) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "models").mkdir(parents=True)
    (project / "blocks").mkdir()
    elsewhere.mkdir()
    (elsewhere / "unit.yaml").write_text(BLOCK)
    (project / "blocks" / "unit.yaml").write_text(BLOCK)
    spec = project / "models" / "s.yaml"
    # the blocks folder beside the spec's folder is allowed (specs/examples -> specs/blocks)
    spec.write_text(SPEC.format(name="unit.yaml"))
    assert set(api.load(spec).blocks) == {"unit"}
    spec.write_text(SPEC.format(name="../../elsewhere/unit.yaml"))
    assert "is outside the spec's folder" in import_problem(spec)
    spec.write_text(SPEC.format(name=elsewhere / "unit.yaml"))
    assert "is an absolute path" in import_problem(spec)
    spec.write_text(SPEC.format(name="../../elsewhere/unit.yaml"))

    assert set(load_spec(spec, allow_imports=[elsewhere]).blocks) == {"unit"}
    monkeypatch.setenv("CNNCOST_IMPORT_PATH", str(elsewhere))
    assert set(api.load(spec).blocks) == {"unit"}


def test_a_symlink_out_of_the_tree_is_outside(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "unit.yaml").write_text(BLOCK)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "unit.yaml").symlink_to(tmp_path / "outside" / "unit.yaml")
    spec = tmp_path / "specs" / "s.yaml"
    spec.write_text(SPEC.format(name="unit.yaml"))
    assert "is outside the spec's folder" in import_problem(spec)


def test_an_unreadable_import_is_a_problem_at_the_import(tmp_path: Path) -> None:
    from cnncost import limits

    (tmp_path / "big.yaml").write_text(BLOCK + "#" * 2000 + "\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.format(name="big.yaml"))
    with limits.using(max_spec_bytes=1000), pytest.raises(SpecError) as info:
        api.load(spec)
    problem = next(p for p in info.value.problems if "larger than 1,000 bytes" in p.message)
    assert problem.location.file.endswith("big.yaml")


def test_a_file_loaded_again_is_read_again(tmp_path: Path) -> None:
    """Parsed files are remembered by their text: a changed file (or imported file) is what the
    next load sees, and a problem is reported at every load."""
    (tmp_path / "blocks").mkdir()
    block = tmp_path / "blocks/a.yaml"
    block.write_text("blocks:\n  outer:\n    layers: [{conv2d: {out: 2, kernel: 1}}]\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\nimports: [blocks/a.yaml]\n"
                    "input: {channels: 3, height: 4, width: 4}\nlayers: [outer]\n")
    for _ in range(2):
        assert api.analyze(spec).totals.params_trainable == 8
    block.write_text("blocks:\n  outer:\n    layers: [{conv2d: {out: 4, kernel: 1}}]\n")
    assert api.analyze(spec).totals.params_trainable == 16
    spec.write_text(spec.read_text().replace("channels: 3", "channels: 1"))
    assert api.analyze(spec).totals.params_trainable == 8
    block.write_text("blocks:\n  outer:\n    layers:\n      - rleu\n")
    for _ in range(2):
        with pytest.raises(SpecError, match="rleu"):
            api.load(spec)
    spec.write_text("- not a mapping\n")
    for _ in range(2):
        with pytest.raises(SpecError, match="a spec is a mapping"):
            api.load(spec)
