"""`patinox --version` (issue 15 item 7): the installed distribution's version, exit 0, no server contacted."""

from __future__ import annotations

from importlib import metadata

import pytest

from patinox_core.cli import main, package_version


def test_version_flag_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"patinox {metadata.version('patinox')}"
    assert package_version() == metadata.version("patinox") != "unknown"
