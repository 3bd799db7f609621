"""``cnncost import`` and ``cnncost check --against`` end to end, and what a user can get wrong:
each a located message, the documented exit code, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from runcli import cli

from .conftest import MODELS, ROOT


def line_of(text: str) -> int:
    """The line of tests/importer/models.py that holds ``text``."""
    lines = (ROOT / MODELS).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_import_validate_check_against(capsys, tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    code, out, err = cli(capsys, "import", f"{MODELS}:tiny_resnet", "--input", "3x32x32",
                         "--arg", "width=4", "-o", spec)
    assert code == 0, err
    assert out == ""
    assert f"wrote {spec}" in err
    assert re.search(r"tiny_resnet: 52 layers, 1 blocks, \d+ lines, traced with torch.fx at "
                     r"3x32x32 in [\d.]+ s", err)
    assert yaml.safe_load(spec.read_text())["params"] == {"resolution": 32, "num_classes": 10}
    code, out, err = cli(capsys, "validate", spec)
    assert code == 0 and "3 of 3 documented figures match" in out
    code, out, err = cli(capsys, "check", spec, "--no-memory", "--against",
                         f"{MODELS}:tiny_resnet", "--arg", "width=4")
    assert code == 0, out + err
    assert "fvcore: spec" in out and "every figure equal" in out
    # against another configuration of the model: the difference is named
    code, out, err = cli(capsys, "check", spec, "--no-memory", "--against",
                         f"{MODELS}:tiny_resnet", "--arg", "width=8")
    assert code == 1
    assert "params_trainable: spec" in out and "DIFFERS" in out


def test_import_to_standard_output(capsys) -> None:
    code, out, err = cli(capsys, "import", f"{MODELS}:branches", "--input", "3x16x16")
    assert code == 0, err
    assert out.startswith(f"# cnncost import {MODELS}:branches --input 3x16x16\nname: branches\n")


UNSUPPORTED_LINE = line_of("return F.interpolate(y, scale_factor=2.0, mode=")
RAISE_LINE = line_of('raise ValueError("no such width: 7")')

BAD = [
    (["torchvision:resnet5"], 2, "torchvision has no model 'resnet5'; did you mean resnet50"),
    (["resnet50"], 2, "expected torchvision:NAME, timm:NAME, path/to/file.py:FUNCTION"),
    (["timm:resnet_fifty"], 2, "timm has no model 'resnet_fifty'"),
    (["tests/importer/nope.py:build"], 4, "no file tests/importer/nope.py"),
    ([f"{MODELS}:nope"], 2, "tests/importer/models.py has no 'nope'"),
    ([f"{MODELS}:raises"], 2,
     f"raises() raised ValueError: no such width: 7 ({ROOT / MODELS}:{RAISE_LINE})"),
    ([f"{MODELS}:not_a_module"], 2, "returned dict, not a torch.nn.Module"),
    ([f"{MODELS}:small_only", "--input", "3x64x64"], 2,
     "the model rejects an input of shape 3x64x64 (batch 2): RuntimeError: mat1 and mat2"),
    ([f"{MODELS}:small_only", "--input", "3x0x4"], 2, "every size must be a positive integer"),
    ([f"{MODELS}:small_only", "--input", "big"], 2, "expected sizes separated by 'x'"),
    ([f"{MODELS}:tiny_resnet", "--arg", "width"], 2, "--arg"),
    ([f"{MODELS}:tiny_resnet", "--arg", "depth=3"], 2,
     "tiny_resnet(depth=3) raised TypeError"),
    ([f"{MODELS}:upsampling"], 5,
     ("torch.nn.functional.interpolate: resizing in mode 'bicubic': cnncost has nearest and "
      "bilinear (fx node 'interpolate'; tests/importer/models.py:"
      f"{UNSUPPORTED_LINE}: return F.interpolate(y, scale_factor=2.0, mode=\"bicubic\"))")),
]


@pytest.mark.parametrize("args, code, message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input(capsys, args: list[str], code: int, message: str) -> None:
    got, out, err = cli(capsys, "import", *args)
    assert (got, out) == (code, "")
    assert message in err
    assert "Traceback" not in err


def test_allow_unknown_writes_the_spec_with_the_operation_marked(capsys, tmp_path: Path) -> None:
    spec = tmp_path / "up.yaml"
    code, _, err = cli(capsys, "import", f"{MODELS}:upsampling", "--allow-unknown", "-o", spec)
    assert code == 0, err
    assert "UNSUPPORTED (not counted; replace it in the spec): torch.nn.functional.interpolate" \
        in err
    item = yaml.safe_load(spec.read_text())["layers"][-1]
    assert item == {"UNSUPPORTED": {
        "name": "interpolate", "torch": "torch.nn.functional.interpolate",
        "why": "resizing in mode 'bicubic': cnncost has nearest and bilinear"}}
    # never counted as zero: the spec is invalid until the operation is replaced
    code, _, err = cli(capsys, "validate", spec)
    assert code == 3
    assert "'UNSUPPORTED' is neither an operator nor a block" in err


def test_without_torch_the_command_says_what_to_install() -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # import torch fails, as where it is not installed
        from cnncost.cli import main
        main(["import", "{MODELS}:branches"])
        """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "pip install 'cnncost[torch]'" in proc.stderr
    assert "Traceback" not in proc.stderr
