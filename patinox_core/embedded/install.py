"""One-time set-up of the embedded server: a portable llama-cpp-python wheel, its own venv, the model.

``ensure_installed(models)`` is the one implementation behind ``patinox serve``, ``patinox serve
--setup-only`` (what ``.ci/run`` calls before the live tier) and the pytest plugin. It is bounded by
its own deadline (``SETUP_TIMEOUT_S``), prints progress, and is all-or-nothing: work happens under
``<cache>/tmp`` and is moved into place only when it succeeded, and ``tmp`` is wiped at the start of
every run, so Ctrl-C, a timeout or a failed compile leave nothing half-built. Lessons kept:
``CMAKE_ARGS=-DGGML_NATIVE=OFF`` (the native build segfaults in ggml's AMX kernel),
``pip wheel --no-cache-dir`` into our own directory (pip's wheel cache ignores ``CMAKE_ARGS``), and
one generated token as a smoke test before the venv is marked ready.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EmbeddedServerError, SetupImpossibleError
from .paths import cache_dir
from .progress import Progress, ninja_step
from .recipes import Recipe, recipe_for

LLAMA_CPP_VERSION = "0.3.36"
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
SETUP_TIMEOUT_S = 1200.0  # the whole set-up; the build alone takes 3-5 min on 2 cores
READY_MARK = ".patinox-ready"
BUILD_HINT = (f"the build uses CMAKE_ARGS={CMAKE_ARGS!r}; set PATINOX_CMAKE_ARGS to add flags (e.g. "
              "-DGGML_AVX2=OFF on an old CPU), then run `patinox serve --setup-only` again")


@dataclass(frozen=True)
class Installation:
    """What set-up produced: the server venv's interpreter and each model's GGUF."""

    cache: Path
    python: Path
    models: dict[str, Path]  # recipe key -> .gguf

    def gguf(self, key: str) -> Path:
        return self.models[key]


def _deadline_left(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise EmbeddedServerError(f"set-up ran out of time before {what}",
                                  hint="raise the limit with --setup-timeout, or run `patinox serve --setup-only` "
                                  "again (finished steps are kept)")
    return left


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_step(cmd: Sequence[str], *, log: Path, deadline: float, what: str, env: dict[str, str] | None = None,
             hint: str = "") -> None:
    """Run ``cmd`` (output appended to ``log``) within ``deadline``; on timeout, error or Ctrl-C the
    whole process group is stopped and nothing it was writing is kept by the caller."""
    left = _deadline_left(deadline, what)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    try:
        proc.wait(left)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise EmbeddedServerError(f"{what} did not finish within the set-up limit; stopped it (log: {log})",
                                  hint="raise --setup-timeout and run `patinox serve --setup-only` again") from None
    except BaseException:  # Ctrl-C and friends: stop the build, then let the interruption through
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        raise EmbeddedServerError(f"{what} failed (exit code {proc.returncode}); log: {log}\n{tail(log)}",
                                  hint=hint or f"read {log}")


def check_compilers() -> None:
    """A C and a C++ compiler must be on PATH (cmake and ninja come from PyPI when missing)."""
    cc = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    cxx = os.environ.get("CXX") or next((c for c in ("c++", "g++", "clang++") if shutil.which(c)), None)
    missing = [n for n, found in (("C", cc), ("C++", cxx)) if not found or not shutil.which(found)]
    if missing:
        raise SetupImpossibleError(
            f"building the embedded server needs a {' and a '.join(missing)} compiler, and none is on PATH",
            hint="install one: `sudo apt install build-essential` (Debian/Ubuntu), `sudo dnf install gcc-c++` "
            "(Fedora), `xcode-select --install` (macOS); cmake comes from PyPI if it is missing")


@contextlib.contextmanager
def install_lock(cache: Path, deadline: float, progress: Progress) -> Iterator[None]:
    """One set-up at a time per cache (parallel sessions, CI jobs, xdist workers)."""
    import fcntl  # POSIX only, and only needed here

    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".install.lock").open("w") as fh:
        announced = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    progress.say("waiting for another patinox set-up to finish …")
                    announced = True
                _deadline_left(deadline, "the other set-up finished")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def built_wheel(cache: Path) -> Path | None:
    found = sorted((cache / "wheels").glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    return found[-1] if found else None


def ensure_wheel(cache: Path, deadline: float, progress: Progress) -> Path:
    """The portable wheel in ``<cache>/wheels``, built once."""
    if (wheel := built_wheel(cache)) is not None:
        return wheel
    check_compilers()
    work = cache / "tmp" / "wheel"
    work.mkdir(parents=True, exist_ok=True)
    log = cache / "logs" / "build.log"
    log.unlink(missing_ok=True)
    cmake_args = f"{CMAKE_ARGS} {os.environ.get('PATINOX_CMAKE_ARGS', '')}".strip()
    env = {**os.environ, "CMAKE_ARGS": cmake_args, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2),
           "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with progress.step(f"building llama-cpp-python {LLAMA_CPP_VERSION} (one time; log: {log})",
                       expect="about 3-5 min on 2 cores", detail=lambda: ninja_step(log),
                       label="building llama-cpp-python"):
        run_step([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-cache-dir", "-w", str(work),
                  f"llama-cpp-python=={LLAMA_CPP_VERSION}"], log=log, deadline=deadline,
                 what="building llama-cpp-python", env=env, hint=BUILD_HINT)
    found = sorted(work.glob(f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl"))
    if not found:
        raise EmbeddedServerError(f"pip finished but left no wheel in {work}; log: {log}", hint=BUILD_HINT)
    (cache / "wheels").mkdir(parents=True, exist_ok=True)
    target = cache / "wheels" / found[-1].name
    os.replace(found[-1], target)  # same filesystem: the wheel appears whole or not at all
    return target


def _packages(mark: dict[str, Any]) -> set[str]:
    packages = mark.get("packages")
    return {str(p) for p in packages} if isinstance(packages, list) else set()


def _ready(venv: Path) -> dict[str, Any] | None:
    try:
        mark = json.loads((venv / READY_MARK).read_text())
    except (OSError, ValueError):
        return None
    python = venv / "bin" / "python"
    return mark if isinstance(mark, dict) and python.exists() else None


def _pip(python: Path, *args: str) -> list[str]:
    return [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *args]


def _install_recipes(python: Path, recipes: Sequence[Recipe], log: Path, deadline: float,
                     progress: Progress) -> None:
    for recipe in recipes:
        with progress.step(f"installing the model package {recipe.requirement}", expect=recipe.description):
            extra = ["--no-deps"] if recipe.no_deps else []
            run_step(_pip(python, *extra, recipe.requirement), log=log, deadline=deadline,
                     what=f"installing {recipe.requirement}")


def _smoke_test(python: Path, gguf: Path, log: Path, deadline: float, progress: Progress) -> None:
    """One generated token in the new venv: a bad (native/AMX) build dies here, not in a user's request."""
    code = ("import llama_cpp, sys; m = llama_cpp.Llama(sys.argv[1], n_ctx=128, n_threads=2, verbose=False); "
            "out = m.create_completion('Hello', max_tokens=1, temperature=0); "
            "assert out['choices'], out; print('smoke test: one token generated')")
    with progress.step("smoke test: generating one token"):
        run_step([str(python), "-c", code, str(gguf)], log=log, deadline=deadline,
                 what="the smoke test (one token)", hint=BUILD_HINT + "; a crash here (exit -11) means a "
                 "CPU-specific build: delete the wheels directory of the cache and set up again")


def _locate(python: Path, recipe: Recipe, cache: Path, log: Path, deadline: float) -> Path:
    """The recipe's GGUF, found through the installed distribution's file list (never imported: the
    SmolLM2 package's ``__init__`` imports ``llm`` and ``llama_cpp``), or assembled from chunks."""
    if recipe.assemble_module:
        target = cache / "models" / recipe.gguf_name
        if target.is_file() and target.stat().st_size > 0:
            return target
        part = cache / "tmp" / recipe.gguf_name
        part.parent.mkdir(parents=True, exist_ok=True)
        code = f"from {recipe.assemble_module} import assemble; assemble({str(part)!r})"
        run_step([str(python), "-c", code], log=log, deadline=deadline, what=f"assembling {recipe.gguf_name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)
        return target
    code = ("import importlib.metadata as m, sys; d = m.distribution(sys.argv[1]); "
            "print(next(d.locate_file(f) for f in d.files or () if str(f).endswith(sys.argv[2])))")
    out = subprocess.run([str(python), "-c", code, recipe.distribution, recipe.gguf_name], capture_output=True,
                         text=True, timeout=max(5.0, min(60.0, deadline - time.monotonic())), check=False)
    path = Path(out.stdout.strip()) if out.returncode == 0 else None
    if path is None or not path.is_file():
        raise EmbeddedServerError(f"{recipe.requirement} is installed but {recipe.gguf_name} is not in it: "
                                  f"{out.stderr.strip()[-500:]}", hint="run `patinox serve --setup-only --reinstall`")
    return path


def ensure_installed(models: Sequence[str] = ("smollm2",), *, cache: Path | None = None,
                     timeout: float = SETUP_TIMEOUT_S, progress: Progress | None = None,
                     reinstall: bool = False, smoke_gguf: Path | None = None) -> Installation:
    """Build/install whatever is missing for ``models`` (recipe keys) and return where it is.

    Fast when everything is there (one JSON read and a file lookup per model).
    """
    cache = cache or cache_dir()
    progress = progress or Progress()
    recipes = [recipe_for(k) for k in models]
    deadline = time.monotonic() + timeout
    venv = cache / "venv-llm"
    with install_lock(cache, deadline, progress):
        shutil.rmtree(cache / "tmp", ignore_errors=True)  # whatever an interrupted run left
        if reinstall:
            shutil.rmtree(venv, ignore_errors=True)
        mark = _ready(venv)
        log = cache / "logs" / "install.log"
        if mark is None:
            wheel = ensure_wheel(cache, deadline, progress)
            shutil.rmtree(venv, ignore_errors=True)
            work = cache / "tmp" / "venv-llm"
            python = work / "bin" / "python"
            with progress.step("creating the server's virtualenv", expect="about 30 s"):
                run_step([sys.executable, "-m", "venv", str(work)], log=log, deadline=deadline, what="python -m venv")
                run_step(_pip(python, f"{wheel}[server]"), log=log, deadline=deadline,
                         what="installing llama-cpp-python[server]")
            _install_recipes(python, recipes, log, deadline, progress)
            gguf = _locate(python, recipes[0], cache, log, deadline) if recipes else smoke_gguf
            if gguf is None:
                raise EmbeddedServerError("set-up needs a model for its smoke test", hint="name a model")
            _smoke_test(python, gguf, log, deadline, progress)
            mark = {"llama_cpp_python": LLAMA_CPP_VERSION, "wheel": wheel.name,
                    "packages": sorted(r.requirement for r in recipes)}
            (work / READY_MARK).write_text(json.dumps(mark, indent=2))
            os.replace(work, venv)  # the venv appears complete or not at all
        python = venv / "bin" / "python"
        have = _packages(mark)
        missing = [r for r in recipes if r.requirement not in have]
        if missing:
            _install_recipes(python, missing, log, deadline, progress)
        found = {r.key: _locate(python, r, cache, log, deadline) for r in recipes}
        if missing:
            mark["packages"] = sorted(have | {r.requirement for r in recipes})
            (venv / READY_MARK).write_text(json.dumps(mark, indent=2))
    return Installation(cache, python, found)


def installed(models: Sequence[str] = ("smollm2",), cache: Path | None = None) -> Installation | None:
    """What set-up produced, without doing any of it (None when something is missing)."""
    cache = cache or cache_dir()
    venv = cache / "venv-llm"
    mark = _ready(venv)
    if mark is None:
        return None
    have = _packages(mark)
    if any(recipe_for(k).requirement not in have for k in models):
        return None
    python = venv / "bin" / "python"
    if any(recipe_for(k).assemble_module and not (cache / "models" / recipe_for(k).gguf_name).is_file()
           for k in models):
        return None
    try:
        found = {k: _locate(python, recipe_for(k), cache, cache / "logs" / "install.log", time.monotonic() + 60)
                 for k in models}
    except (EmbeddedServerError, OSError, subprocess.SubprocessError):
        return None
    return Installation(cache, python, found)


__all__ = ["CMAKE_ARGS", "LLAMA_CPP_VERSION", "SETUP_TIMEOUT_S", "Installation", "check_compilers",
           "ensure_installed", "installed", "run_step"]
