"""The pytest plugin: a project's spec figures become test items that pass or fail."""

from __future__ import annotations

import pytest

# imported here, so that pytester's in-process runs (which drop the modules imported during a
# run) all see the same cnncost modules
import cnncost.api
import cnncost.cost.documented
import cnncost.pytest_plugin  # noqa: F401

pytest_plugins = ["pytester"]

SPEC = """\
name: tiny
input: {channels: 3, height: 8, width: 8}
documented:
  - {metric: params_total, value: 224, source: "hand count"}   # 3*8*3*3 + 8 = 224
  - {metric: macs, value: 1, source: "a wrong figure"}         # computed 3*8*9*6*6 = 7,776
  - {metric: macs, value: 7.8, unit: K, source: "rounded"}     # 7,776 / 1e3 = 7.776 -> 7.8
  - {metric: macs, value: 0, source: "unchecked", checked: false, note: "not asserted"}
layers:
  - conv2d: {out: 8, kernel: 3}
"""
CONFTEST = """\
import importlib

def pytest_configure(config):
    if not config.pluginmanager.has_plugin("cnncost"):
        config.pluginmanager.register(importlib.import_module("cnncost.pytest_plugin"), "cnncost")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\ncnncost_specs = models/*.yaml\n")
    (pytester.path / "models").mkdir()
    (pytester.path / "models" / "tiny.yaml").write_text(SPEC)
    (pytester.path / "models" / "notes.yml").write_text("not: a spec\n")
    return pytester


def test_each_checked_figure_is_an_item_that_can_fail(project: pytest.Pytester) -> None:
    result = project.runpytest_inprocess("models", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*models/tiny.yaml::-:params_total PASSED*",
        "*models/tiny.yaml::-:macs FAILED*",
        "*models/tiny.yaml::-:macs#2 PASSED*",
    ])
    # the failure names the figure, the computed value and the convention
    result.stdout.fnmatch_lines([
        "*documented macs 1 (a wrong figure) but computed 7,776 under convention cnncost*"])


def test_nothing_is_collected_without_the_setting(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\n")
    result = project.runpytest_inprocess("models")
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_spec_that_does_not_load_is_one_failing_item(project: pytest.Pytester) -> None:
    (project.path / "models" / "broken.yaml").write_text("name: x\nlayers: [conv2]\n")
    result = project.runpytest_inprocess("models/broken.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*broken.yaml*missing required key 'input'*"])
