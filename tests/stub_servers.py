"""Start the scripted servers in tests/servers/ as child processes on 127.0.0.1, stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SERVERS = Path(__file__).parent / "servers"


@contextmanager
def openai_stub(replies: list[Any], directory: Path) -> Iterator[tuple[str, Path]]:
    """The scripted OpenAI-compatible server: yields (base URL, path of its request log)."""
    path = directory / "replies.json"
    path.write_text(json.dumps(replies))
    proc = subprocess.Popen(
        [sys.executable, str(SERVERS / "openai_stub.py"), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1", Path(str(path) + ".requests.jsonl")
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Stop a child by its pid: ``sig``, then SIGKILL if it has not exited within ``timeout``."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
