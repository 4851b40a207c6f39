"""smolagents' real OpenAIServerModel against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agents_fixtures import code
from stub_servers import openai_stub

STUB = Path(__file__).parent / "servers" / "openai_stub.py"


@pytest.fixture
def openai_server(tmp_path):
    with openai_stub([code("x = 5"), code("final_answer(x + 1)")] * 4, tmp_path) as server:
        yield server


@pytest.mark.parametrize("stream", [False, True])
def test_openai_server_model(stream, openai_server, instrument, get_trace):
    from smolagents import CodeAgent, OpenAIServerModel

    base_url, request_log = openai_server
    instrument()
    model = OpenAIServerModel(model_id="gpt-stub", api_base=base_url, api_key="sk-test-" + "k" * 24)
    agent = CodeAgent(tools=[], model=model, stream_outputs=stream, verbosity_level=0)
    assert agent.run("add one") == 6
    tr = get_trace()
    chats = tr.named("chat gpt-stub")
    assert len(chats) == 2
    for chat in chats:
        assert tr.parent_name(chat).startswith("step ")
        assert chat.attributes["gen_ai.request.model"] == "gpt-stub"
        assert chat.attributes["gen_ai.usage.input_tokens"] == 11
        assert chat.attributes["gen_ai.usage.output_tokens"] == 7
        assert chat.attributes["smolagents.model.class"] in {"OpenAIServerModel", "OpenAIModel"}
        assert chat.attributes.get("smolagents.stream", False) is stream
        if stream:
            assert chat.attributes["smolagents.model.time_to_first_chunk_s"] > 0
            assert chat.attributes["smolagents.model.stream_chunks"] >= 2
    run = tr.one("invoke_agent CodeAgent")
    assert run.attributes["smolagents.run.input_tokens"] == 22
    assert run.attributes["smolagents.run.output_tokens"] == 14
    # the API key went to the server, never into a span
    requests = [json.loads(line) for line in request_log.read_text().splitlines()]
    assert len(requests) == 2 and requests[0]["auth"].startswith("Bearer sk-test-")
    for span in tr.spans:
        assert not any("sk-test-" in str(v) for v in span.attributes.values())
