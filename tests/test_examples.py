"""The examples in examples/ run and do what they say."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))


@pytest.fixture(autouse=True)
def clean(instrumentor):
    yield


def test_tts_example_speaks_each_thought_before_the_code_runs():
    import tts_on_model_output

    assert tts_on_model_output.main() == ["Let me count the guests first.", "Twelve guests, two pizzas each."]


def test_approval_gate_policy_and_human():
    import approval_gate

    answer, errors = approval_gate.main()
    assert answer == "Batman-themed snacks"
    assert len(errors) == 1 and "execution blocked: policy forbids 'os'" in errors[0]
    asked = []
    answer, errors = approval_gate.main(ask=lambda prompt: asked.append(prompt) or "n")
    assert "execution blocked" in errors[0]
    assert any("final_answer" in p for p in asked)  # the safe code also went to the human, who declined it


def test_audit_log_chain_detects_tampering(tmp_path):
    import audit_log

    path = audit_log.main(tmp_path / "audit.jsonl")
    lines = path.read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events == [
        "run_start",
        "pre_execution",
        "tool_start",
        "tool_end",
        "pre_execution",
        "tool_start",
        "tool_end",
        "final_answer",
        "run_end",
    ]
    assert audit_log.verify(path)
    tampered = lines[:]
    record = json.loads(tampered[3])
    record["result"] = "'Evil Catering'"
    tampered[3] = json.dumps(record, sort_keys=True)
    path.write_text("\n".join(tampered) + "\n")
    assert not audit_log.verify(path)
