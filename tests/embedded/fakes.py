"""A fake of patinox's embedded server (llama-cpp-python's wire shapes) and a stand-in server process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from patinox_core.embedded.recipes import RECIPES, served_recipe
from patinox_core.embedded.state import ServerState, write_state
from patinox_core.testing import FakeHTTPServer, FakeRequest, Reply


class EmbeddedLike(FakeHTTPServer):
    """Answers like ``patinox serve``'s llama-cpp-python: ``owned_by: "me"``, aliases only, 404 elsewhere."""

    server_header = "uvicorn"
    names = ("smollm2-135m", "smollm2-135m-tools")

    def handle(self, request: FakeRequest) -> Reply:
        if request.path == "/v1/models":
            return Reply(body={"object": "list", "data": [{"id": n, "object": "model", "owned_by": "me",
                                                           "permissions": []} for n in self.names]})
        if request.path == "/v1/chat/completions":
            model = (request.json or {}).get("model")
            return Reply(body={"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."},
                                            "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}})
        if request.path == "/v1/embeddings":
            inputs = (request.json or {}).get("input")
            texts = inputs if isinstance(inputs, list) else [inputs]
            return Reply(body={"object": "list", "model": (request.json or {}).get("model"),
                               "data": [{"object": "embedding", "index": i, "embedding": [0.5, float(len(t)), 1.0]}
                                        for i, t in enumerate(texts)],
                               "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        return Reply(status=404, body={"detail": "Not Found"})


@contextmanager
def server_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names llama_cpp.server (what state files are checked against)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "llama_cpp.server"],
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def register(url: str, pid: int, tmp_gguf_dir, port: int | None = None) -> ServerState:
    """Write the state file ``patinox serve`` would write for ``url``."""
    gguf = tmp_gguf_dir / "smol.gguf"
    gguf.write_bytes(b"x" * 1000)
    served = served_recipe(RECIPES["smollm2"], gguf)
    state = ServerState(base_url=url, port=port or int(url.rsplit(":", 1)[1]), pid=pid, started_at=time.time(),
                        log="", models=served.declared_facts())
    write_state(state)
    return state
