"""A tamper-evident audit log of every agent action (smolagents issues #2172, #2177).

Each record carries the SHA-256 of the previous record, so editing or deleting any line breaks the
chain; ``verify`` checks it. Records also carry the trace and span ids, linking the log to the trace.

    python examples/audit_log.py audit.jsonl
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from pathlib import Path

from smolagents import CodeAgent, tool

from smolagents_otel import AgentEvent, Instrumentor, LifecycleEvent
from smolagents_otel.testing import ScriptedModel

AUDITED = (
    LifecycleEvent.RUN_START,
    LifecycleEvent.PRE_EXECUTION,
    LifecycleEvent.TOOL_START,
    LifecycleEvent.TOOL_END,
    LifecycleEvent.FINAL_ANSWER,
    LifecycleEvent.STEP_ERROR,
    LifecycleEvent.RUN_END,
)
GENESIS = "0" * 64


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.previous = GENESIS

    def record(self, event: AgentEvent) -> None:
        context = event.span.get_span_context()
        body = {
            "event": event.name.value,
            "agent": event.agent_name,
            "step": event.step_number,
            "time_ns": event.timestamp,
            "trace_id": f"{context.trace_id:032x}",
            "span_id": f"{context.span_id:016x}",
            "code": event.code,
            "tool": event.tool_name,
            "arguments": repr(event.arguments) if event.arguments is not None else None,
            "result": repr(event.result) if event.result is not None else None,
            "final_answer": repr(event.final_answer) if event.final_answer is not None else None,
            "error": repr(event.error) if event.error is not None else None,
        }
        with self.lock:
            body["prev"] = self.previous
            line = json.dumps(body, sort_keys=True)
            self.previous = hashlib.sha256(line.encode()).hexdigest()
            with self.path.open("a") as f:
                f.write(line + "\n")


def verify(path: Path) -> bool:
    previous = GENESIS
    for line in path.read_text().splitlines():
        if json.loads(line)["prev"] != previous:
            return False
        previous = hashlib.sha256(line.encode()).hexdigest()
    return True


@tool
def catering_service_tool(query: str) -> str:
    """Returns the highest-rated catering service in Gotham City.

    Args:
        query: what to search for
    """
    return "Gotham Catering Co."


def main(path: Path) -> Path:
    log = AuditLog(path)
    instrumentor = Instrumentor()
    handles = [instrumentor.on(event, log.record) for event in AUDITED]
    instrumentor.instrument()
    try:
        model = ScriptedModel(
            [
                "Thought: find a caterer.\n<code>\nc = catering_service_tool('best')\n</code>",
                "Thought: done.\n<code>\nfinal_answer(c)\n</code>",
            ]
        )
        CodeAgent(tools=[catering_service_tool], model=model, verbosity_level=0).run("Who caters the party?")
    finally:
        for handle in handles:
            handle.remove()
        instrumentor.uninstrument()
    return path


if __name__ == "__main__":
    out = main(Path(sys.argv[1] if len(sys.argv) > 1 else "audit.jsonl"))
    print(f"{out}: chain valid = {verify(out)}")
