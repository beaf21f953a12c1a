"""Run ``attack_client`` in a subprocess against a ``HostileServer`` and return what it measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__test__: dict[str, object] = {}

ROOT = Path(__file__).resolve().parents[2]


def run_attack(url: str, op: str, *, kind: str = "ollama", settings: dict[str, Any] | None = None,
               timeout: float = 40.0, env: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """The child's report; a child that outlives ``timeout`` is killed and reported as ``hung``."""
    spec = {"op": op, "url": url, "kind": kind, "settings": {"discover_defaults": False, **(settings or {})}, **extra}
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("PATINOX_", "OLLAMA_", "LM_STUDIO"))}
    child_env.update(env or {})
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.reliability.attack_client", json.dumps(spec)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, env=child_env)
    except subprocess.TimeoutExpired:
        return {"error": "hung", "message": f"still running after {timeout}s", "elapsed": timeout,
                "rss_growth_mb": None, "lpe": False}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": "crashed", "message": proc.stderr[-2000:], "elapsed": None, "rss_growth_mb": None,
                "lpe": False}
    return json.loads(lines[-1])
