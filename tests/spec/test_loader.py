"""Loading: block-file imports (nested, diamonds, cycles) and what a LoadedSpec carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api
from cnncost.errors import SpecError


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
