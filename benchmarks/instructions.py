"""Instructions per call of an invoke row, counted by valgrind's callgrind: deterministic, so the
OpenTelemetry on/off comparison can be made on a busy machine, where wall-clock ratios cannot.

    python -m benchmarks.instructions                       # each row under callgrind: instructions per call
    python -m benchmarks.instructions --row on --calls 40   # one plain run of a row (what callgrind runs)

Rows (from ``rows.invoke_cases``): ``off`` is ``LocalProvider.chat`` uninstrumented, ``on`` with
OpenTelemetry on (``rows.otel_telemetry``: the SDK, export dropped), ``sdk`` uninstrumented plus
the same span and three histogram records made by hand (the SDK's own share), ``api`` on over the
OpenTelemetry API's no-op providers (no SDK: patinox's own instrumentation work). Each run makes
``WARMUP`` calls, then ``--calls``; the fake server runs in a child process that callgrind does
not follow. Instructions per call = (total at 340 calls - total at 40) / 300: start-up, imports
and warm-up cancel out. Repeated runs agree within about 1 % (the server's timing still moves
the client's socket waits a little).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .child import ROOT
from .harness import ServerProcess
from .rows import PROVIDER, PROVIDER_OTEL, PROVIDER_OTEL_API, PROVIDER_SDK, invoke_cases

ROWS = {"off": PROVIDER, "on": PROVIDER_OTEL, "sdk": PROVIDER_SDK, "api": PROVIDER_OTEL_API}
WARMUP = 20
CALLS = (40, 340)
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def run(row: str, calls: int) -> None:
    """``WARMUP`` + ``calls`` calls of ``row`` against a fresh fake server."""
    with ServerProcess() as server:
        _, cases = invoke_cases(server.urls[0])
        op = next(c for c in cases if c.name == ROWS[row]).build()
        for _ in range(WARMUP + calls):
            op()


def count(row: str, calls: int, valgrind: str) -> int:
    """Instructions of one whole run of ``row`` under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([valgrind, "--tool=callgrind", "--trace-children=no",
                               f"--callgrind-out-file={Path(tmp) / 'out'}", sys.executable, "-m",
                               "benchmarks.instructions", "--row", row, "--calls", str(calls)],
                              cwd=ROOT, capture_output=True, text=True, check=True)
    found = _COLLECTED.search(proc.stderr)
    if found is None:
        raise RuntimeError(f"callgrind reported no total: {proc.stderr[-500:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--row", choices=sorted(ROWS), help="one plain run of this row (no callgrind)")
    p.add_argument("--calls", type=int, default=CALLS[0])
    args = p.parse_args(argv)
    if args.row:
        run(args.row, args.calls)
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    per_call = {}
    for row in ROWS:
        low, high = (count(row, n, valgrind) for n in CALLS)
        per_call[row] = (high - low) // (CALLS[1] - CALLS[0])
        print(f"{row:>4}: {per_call[row]:>10,} instructions per call ({ROWS[row]})", flush=True)
    off = per_call["off"]
    print(f"on / off {per_call['on'] / off:.3f}; sdk / off {per_call['sdk'] / off:.3f}; "
          f"patinox's own part (on - sdk) {per_call['on'] - per_call['sdk']:,} = "
          f"{(per_call['on'] - per_call['sdk']) / off:.1%} of off")
    return 0


if __name__ == "__main__":
    sys.exit(main())
