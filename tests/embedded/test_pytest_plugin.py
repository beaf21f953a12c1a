"""The pytest plugin users get with patinox: fake-server fixtures, and a real-server fixture that is
skipped with its reason when the embedded server is not set up."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user="""
        from patinox_core import LocalProvider, LocalSettings


        def test_fake_ollama(patinox_fake_ollama):
            settings = LocalSettings(ollama_url=patinox_fake_ollama.url, discover_defaults=False)
            with LocalProvider(settings) as provider:
                assert "llama3.2:latest" in {m.name for m in provider.list_models()}


        def test_fake_lmstudio(patinox_fake_lmstudio):
            assert patinox_fake_lmstudio.url.startswith("http://127.0.0.1:")


        def test_real_server(patinox_server):
            raise AssertionError("must be skipped: nothing is set up in this cache")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*not set up*patinox serve --setup-only*--patinox-setup*"])
