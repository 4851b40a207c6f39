"""Approve code before it runs: a policy that vetoes shell and file-system access, and an
interactive approve/deny prompt.

PRE_EXECUTION fires when the code is parsed and nothing of it has run. Raising ``Veto`` blocks it:
the step records "execution blocked: <reason>", the model reads that on its next step, and the run
goes on. TOOL_START can veto single tool calls the same way, also from inside CodeAgent code.

    python examples/approval_gate.py            # policy only
    python examples/approval_gate.py --ask      # also ask a human for each code action
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from smolagents import CodeAgent

from smolagents_otel import AgentEvent, Instrumentor, LifecycleEvent, Veto
from smolagents_otel.testing import ScriptedModel

FORBIDDEN = re.compile(r"\b(os|subprocess|shutil|pathlib)\b|\bopen\(|__import__|\beval\(|\bexec\(")


def policy(event: AgentEvent) -> None:
    """Veto any code that touches the shell or the file system."""
    match = FORBIDDEN.search(event.code or "")
    if match:
        raise Veto(f"policy forbids {match.group(0).strip('(')!r} (shell/file-system access)")


def human_approval(ask: Callable[[str], str] = input) -> Callable[[AgentEvent], None]:
    """A callback that shows the code and asks y/n; anything but 'y' vetoes it."""

    def approve(event: AgentEvent) -> None:
        answer = ask(f"\n--- step {event.step_number}: run this code? ---\n{event.code}\n[y/N] ")
        if answer.strip().lower() != "y":
            raise Veto("a human reviewer declined this code")

    return approve


def main(ask: Callable[[str], str] | None = None) -> tuple[object, list[str]]:
    instrumentor = Instrumentor()
    handles = [instrumentor.on(LifecycleEvent.PRE_EXECUTION, policy)]
    if ask is not None:
        handles.append(instrumentor.on(LifecycleEvent.PRE_EXECUTION, human_approval(ask)))
    instrumentor.instrument()
    model = ScriptedModel(
        [
            "Thought: list the files.\n<code>\nimport os\nprint(os.listdir('.'))\n</code>",
            "Thought: no file access then.\n<code>\nfinal_answer('Batman-themed snacks')\n</code>",
        ]
    )
    agent = CodeAgent(tools=[], model=model, verbosity_level=0)
    try:
        answer = agent.run("Plan the snacks")
    finally:
        for handle in handles:
            handle.remove()
        instrumentor.uninstrument()
    errors = [str(step.error) for step in agent.memory.steps if getattr(step, "error", None)]
    return answer, errors


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ask", action="store_true", help="also ask for approval on the terminal")
    args = parser.parse_args()
    answer, errors = main(input if args.ask else None)
    print("blocked:", errors)
    print("answer:", answer)
