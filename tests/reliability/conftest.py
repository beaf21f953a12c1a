"""Every reliability test runs behind a socket guard: loopback only, whatever the code under test
does (a non-loopback connection or name lookup is refused before any packet is sent). The guard is
package-scoped, so it also covers the fault matrix, which runs in a module fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .loopback import Recorder, install_guard


@pytest.fixture(scope="package", autouse=True)
def _loopback_only() -> Iterator[Recorder]:
    with pytest.MonkeyPatch.context() as mp:
        yield install_guard(mp)


@pytest.fixture
def guard(_loopback_only: Recorder) -> Recorder:
    """The attempts recorded during this test (hosts and ports); request it to assert on them."""
    _loopback_only.hosts.clear()
    return _loopback_only
