"""`import llmrail` next to other native libraries: `_core` is dlopen()ed, so its thread-locals
must not take glibc's small static TLS reserve (512 bytes by default), which libraries such as
libgomp (loaded by scikit-learn, PyTorch) need too. With mimalloc's default initial-exec
thread-locals, importing llmrail after libgomp failed ("cannot allocate memory in static TLS
block"), and so did loading libgomp after llmrail."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest
from llmrail.testing import MockServer

CALL = """
import sys, threading, llmrail
client = llmrail.Client("openai/gpt-4.1-mini", base_url=sys.argv[1], api_key="sk-test", timeout=10)
texts = []
threads = [threading.Thread(target=lambda: texts.append(client.chat_sync("hi").text)) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
assert texts == ["pong"] * 4, texts
print("ok")
"""


def run(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_llmrail_imports_and_calls_with_no_static_tls_reserve_left() -> None:
    # A zero reserve is what another library that took it all leaves: nothing of _core may need it.
    with MockServer() as srv:
        srv.default("pong")
        done = run(CALL, srv.openai_base_url, env={"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=0"})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


GOMP = ctypes.util.find_library("gomp")


@pytest.mark.skipif(GOMP is None, reason="libgomp is not installed here (it comes with gcc)")
@pytest.mark.parametrize("first", ["libgomp", "llmrail"])
def test_llmrail_and_libgomp_load_in_either_order(first: str) -> None:
    load_gomp = f"import ctypes; ctypes.CDLL({GOMP!r})"
    code = f"{load_gomp}; import llmrail" if first == "libgomp" else f"import llmrail; {load_gomp}"
    done = run(code + "; print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
