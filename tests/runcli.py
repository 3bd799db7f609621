"""``cli(capsys, *args)``: run cnncost's command line in process, as the CLI tests of every
package do (a plain module beside the test packages: pytest puts ``tests/`` on ``sys.path`` for
them, so each imports it as ``runcli``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``cnncost ARGS``; the command must end by ``SystemExit``
    (anything else escaping ``main`` is a traceback and fails the test)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err
