"""The party-planning demo, the span tree renderer and the ``smolagents-otel`` command line."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import stub_servers
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from smolagents_otel import LifecycleEvent, cli
from smolagents_otel.cli import main
from smolagents_otel.demo import DEMO_MODEL_ID, ROOT_SPAN_NAME, run_demo
from smolagents_otel.otlp_json import read_otlp_json_file
from smolagents_otel.tree import render_tree, span_to_dict, spans_to_dicts

STUB = Path(__file__).parent / "servers" / "openai_stub.py"
CHAT = f"chat {DEMO_MODEL_ID}"
VETO_REASON = "code touching 'subprocess' is not allowed in Wayne Manor (party policy)"

STEP1_STATUS = "ERROR \"AgentExecutionError: execution blocked: code touching 'subprocess' is not allow…\""
EXCEPTION_EVENT = (
    "type=smolagents.utils.AgentExecutionError  "
    "message=\"execution blocked: code touching 'subprocess' is not allowed in Wayne Manor (pa…\""
)

# alfred's run, exactly (sequential, so its order never varies); durations are left out.
ALFRED_TREE = f"""\
├─ invoke_agent alfred  [AGENT]  finish=final_answer  steps=3  tokens=400 in/80 out
│  • smolagents.run_start
│  ├─ planning  [CHAIN]
│  │  • smolagents.planning_start
│  │  └─ {CHAT}  [LLM]  tokens=100 in/20 out
│  │     • smolagents.model_output
│  │  • smolagents.planning_end
│  ├─ step 1  {STEP1_STATUS}  [CHAIN]  vetoed
│  │  • smolagents.step_start
│  │  └─ {CHAT}  [LLM]  tokens=100 in/20 out
│  │     • smolagents.model_output
│  │  • smolagents.pre_execution
│  │  • smolagents.veto  reason="{VETO_REASON}"
│  │  • exception  {EXCEPTION_EVENT}
│  │  • smolagents.step_error  error=AgentExecutionError
│  │  • smolagents.step_end  error=AgentExecutionError
│  ├─ step 2  [CHAIN]
│  │  • smolagents.step_start
│  │  ├─ {CHAT}  [LLM]  tokens=100 in/20 out
│  │  │  • smolagents.model_output
│  │  • smolagents.pre_execution
│  │  └─ execute_tool python_interpreter  [TOOL]  call_id=call_3
│  │     ├─ execute_tool suggest_menu  [TOOL]
│  │     │  • smolagents.tool_start  tool=suggest_menu
│  │     │  • smolagents.tool_end  tool=suggest_menu
│  │     ├─ execute_tool catering_service_tool  [TOOL]
│  │     │  • smolagents.tool_start  tool=catering_service_tool
│  │     │  • smolagents.tool_end  tool=catering_service_tool
│  │     └─ execute_tool superhero_party_theme_generator  [TOOL]
│  │        • smolagents.tool_start  tool=superhero_party_theme_generator
│  │        • smolagents.tool_end  tool=superhero_party_theme_generator
│  │  • smolagents.post_execution
│  │  • smolagents.step_end
│  └─ step 3  [CHAIN]
│     • smolagents.step_start
│     ├─ {CHAT}  [LLM]  tokens=100 in/20 out
│     │  • smolagents.model_output
│     • smolagents.pre_execution
│     └─ execute_tool python_interpreter  [TOOL]  call_id=call_4
│        └─ execute_tool final_answer  [TOOL]
│           • smolagents.tool_start  tool=final_answer
│           • smolagents.tool_end  tool=final_answer
│     • smolagents.post_execution
│     • smolagents.final_answer
│     • smolagents.step_end
│  • smolagents.run_end  finish=final_answer
"""


@pytest.fixture
def memory_provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def tree_part(stdout: str) -> str:
    """The tree printed by ``demo``: everything before the final answers."""
    return stdout.split("\nFinal answers:")[0].rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------- the demo


def test_run_demo_answers_veto_and_one_trace(instrumentor, memory_provider):
    provider, exporter = memory_provider
    result = run_demo(tracer_provider=provider)
    assert set(result.answers) == {"alfred", "theme_scout", "party_manager"}
    assert "3-course dinner" in result.answers["alfred"] and "Rogues' Ball" in result.answers["alfred"]
    assert result.answers["theme_scout"].startswith("Neo-Gotham Night")
    assert "Gotham Catering Co." in result.answers["party_manager"]
    assert result.vetoes == [VETO_REASON]

    spans = exporter.get_finished_spans()
    assert len(spans) == 40
    assert {format(s.context.trace_id, "032x") for s in spans} == {result.trace_id}
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == ROOT_SPAN_NAME and root.status.status_code is StatusCode.OK
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["openinference.span.kind"] == "CHAIN"
    runs = {s.name: s for s in spans if s.name.startswith("invoke_agent ")}
    assert set(runs) == {
        f"invoke_agent {n}" for n in ("alfred", "theme_scout", "party_manager", "catering_agent")
    }
    for name in ("alfred", "theme_scout", "party_manager"):
        assert runs[f"invoke_agent {name}"].parent.span_id == root.context.span_id
    vetoed = [s for s in spans if "smolagents.veto.reason" in s.attributes]
    assert [(s.name, s.attributes["smolagents.veto.callback"]) for s in vetoed] == [
        ("step 1", "smolagents_otel.demo.PartyPolicy")
    ]
    assert vetoed[0].attributes["gen_ai.agent.name"] == "alfred"
    # run_demo instrumented smolagents itself, and undid it, policy included
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert not instrumentor.callbacks.has_callbacks(LifecycleEvent.PRE_EXECUTION)


def test_run_demo_under_existing_instrumentation_one_trace_per_agent(instrument, exporter):
    inst = instrument()  # the conftest provider
    result = run_demo(root_span=False, policy=False)
    assert result.trace_id is None and result.vetoes == []
    spans = exporter.get_finished_spans()
    roots = sorted(s.name for s in spans if s.parent is None)
    assert roots == ["invoke_agent alfred", "invoke_agent party_manager", "invoke_agent theme_scout"]
    assert len({s.context.trace_id for s in spans}) == 3
    # without the policy alfred's subprocess code reaches smolagents' own import guard instead
    step1 = next(s for s in spans if s.name == "step 1" and s.attributes.get("gen_ai.agent.name") == "alfred")
    assert "smolagents.veto.reason" not in step1.attributes
    assert "Import of subprocess is not allowed" in step1.status.description
    assert inst.is_instrumented_by_opentelemetry  # left as it was


# --------------------------------------------------------------------------------------------- the tree


def test_tree_is_deterministic_and_the_same_from_memory_and_from_file(
    instrumentor, memory_provider, tmp_path
):
    from smolagents_otel.otlp_json import OTLPJsonFileSpanExporter

    provider, exporter = memory_provider
    out = tmp_path / "t.json"
    provider.add_span_processor(SimpleSpanProcessor(OTLPJsonFileSpanExporter(out)))
    run_demo(tracer_provider=provider)
    spans = exporter.get_finished_spans()
    text = render_tree(spans)
    assert text == render_tree(list(reversed(spans)))  # input order does not matter
    assert text == render_tree(read_otlp_json_file(out))
    assert text == render_tree(spans_to_dicts(spans))
    assert span_to_dict(spans[0]) == spans_to_dicts(spans[:1])[0]
    no_durations = render_tree(spans, durations=False)
    assert ALFRED_TREE in no_durations
    assert re.search(r"^invoke_workflow party_planning  \d+\.\d ms  \[CHAIN\]$", text, re.M)
    assert "\x1b[" not in text  # colour is off by default


def test_tree_options_color_ascii_io_events(instrumentor, memory_provider):
    provider, exporter = memory_provider
    run_demo(tracer_provider=provider)
    spans = exporter.get_finished_spans()
    coloured = render_tree(spans, color=True)
    assert "\x1b[31m\x1b[1mERROR" in coloured and "\x1b[0m" in coloured
    assert re.sub(r"\x1b\[\d+m", "", coloured) == render_tree(spans)
    plain = render_tree(spans, ascii=True)
    assert plain.isascii() and "|- invoke_agent alfred" in plain and "* smolagents.veto" in plain
    io = render_tree(spans, show_io=True, durations=False)
    assert "in: Prepare the party at Wayne Manor" in io
    assert "out: Menu: 3-course dinner with wine and dessert." in io
    no_events = render_tree(spans, events=False)
    assert "smolagents.run_start" not in no_events and "invoke_agent alfred" in no_events


def test_tree_edge_cases():
    assert render_tree([]) == "(no spans)\n"
    spans = [
        {"trace_id": "b" * 32, "span_id": "2" * 16, "parent_span_id": "9" * 16, "name": "orphan",
         "start_ns": 3_000_000, "end_ns": 4_500_000, "status_code": "ERROR", "status_message": "boom\nbang",
         "attributes": {"gen_ai.tool.call.id": "c1", "smolagents.span.type": "tool"}, "events": []},
        {"trace_id": "a" * 32, "span_id": "1" * 16, "parent_span_id": None, "name": "first",
         "start_ns": 1_000_000, "end_ns": 0, "status_code": "UNSET", "status_message": "", "attributes": {},
         "events": [{"name": "e", "time_ns": 1, "attributes": {"exception.type": "KeyError"}}]},
        {"trace_id": "a" * 32, "span_id": "3" * 16, "parent_span_id": "3" * 16, "name": "self-parent",
         "start_ns": 2_000_000, "end_ns": 2_000_000, "attributes": {}},
    ]  # fmt: skip
    assert render_tree(spans) == (
        f"trace {'a' * 32}  (2 spans)\n"
        "first  unfinished\n"
        "• e  type=KeyError\n"
        "self-parent  0.0 ms\n"
        "\n"
        f"trace {'b' * 32}  (1 span, 1 error)\n"
        f'orphan  1.5 ms  ERROR "boom bang"  call_id=c1  (parent {"9" * 16} not in input)\n'
    )


# --------------------------------------------------------------------------------------------- the CLI


def test_demo_prints_the_tree_and_writes_a_file_that_show_renders_the_same(instrumentor, tmp_path, capsys):
    out = tmp_path / "sub" / "demo.json"
    out.parent.mkdir()
    out.write_text("stale content from an earlier run\n")
    assert main(["demo", "--out", str(out), "--no-durations"]) == 0
    stdout, stderr = capsys.readouterr()
    tree = tree_part(stdout)
    assert tree.startswith("trace ") and "(40 spans, 1 error)" in tree.splitlines()[0]
    assert tree.splitlines()[1] == f"{ROOT_SPAN_NAME}  [CHAIN]"
    assert ALFRED_TREE in tree
    for expected in (
        "├─ invoke_agent theme_scout  [AGENT]  finish=final_answer  steps=2  tokens=200 in/40 out",
        "execute_tool superhero_party_theme_generator  [TOOL]  call_id=call_theme_1",
        "execute_tool suggest_menu  [TOOL]  call_id=call_menu_1",
        "└─ invoke_agent party_manager  [AGENT]  finish=final_answer  steps=2  tokens=400 in/80 out",
        "execute_tool catering_agent  [TOOL]  managed-agent",
        "└─ invoke_agent catering_agent  [AGENT]  finish=final_answer  steps=2  tokens=200 in/40 out",
        "execute_tool catering_service_tool  [TOOL]  call_id=call_cater_1",
    ):
        assert expected in tree, expected
    assert "\nFinal answers:\n  alfred: Menu: 3-course dinner with wine and dessert." in stdout
    assert f"Vetoed by the party policy (1):\n  - {VETO_REASON}" in stdout
    assert f"40 spans written to {out}" in stdout
    assert "stale content" not in out.read_text()  # each run replaces the file
    assert len(read_otlp_json_file(out)) == 40
    assert stderr == ""
    assert not instrumentor.is_instrumented_by_opentelemetry

    assert main(["show", str(out), "--no-durations"]) == 0
    shown, _ = capsys.readouterr()
    assert shown == tree
    assert main(["show", str(out), "--trace", tree.split()[1][:6]]) == 0
    assert capsys.readouterr()[0] == render_tree(read_otlp_json_file(out))
    assert main(["show", str(out), "--trace", "0" * 32, "--ascii"]) == 0
    assert capsys.readouterr()[0] == "(no spans)\n"


def test_demo_default_out_in_current_directory(instrumentor, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--color"]) == 0
    stdout = capsys.readouterr()[0]
    assert "\x1b[1minvoke_agent alfred\x1b[0m" in stdout
    assert len(read_otlp_json_file(tmp_path / cli.DEFAULT_OUT)) == 40


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["demo", "--out"], "expected one argument"),
        (["show"], "the following arguments are required: FILE"),
        (["demo", "--api-base", "http://127.0.0.1:1/v1"], "--api-base needs --model"),
        (["demo", "--model", "m", "--api-base", "ftp://x"], "--api-base must be an http:// or https:// URL"),
        (["demo", "--model", " "], "--model must not be empty"),
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys, instrumentor):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr()[0]
    assert main(["demo", "--help"]) == 0
    assert "--ui" in capsys.readouterr()[0]


def test_show_errors_exit_1(tmp_path, capsys):
    assert main(["show", str(tmp_path / "missing.json")]) == 1
    assert "no such file" in capsys.readouterr()[1]
    assert main(["show", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr()[1]
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": []}\nnot json\n')
    assert main(["show", str(bad)]) == 1
    err = capsys.readouterr()[1]
    assert "cannot read" in err and ":2: not a JSON document" in err
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert main(["show", str(empty)]) == 0
    assert capsys.readouterr()[0] == "(no spans)\n"


def test_demo_out_errors_exit_1(tmp_path, capsys, instrumentor):
    assert main(["demo", "--out", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr()[1]
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--out", str(blocker / "x.json")]) == 1
    assert "cannot be written" in capsys.readouterr()[1]


def test_ui_without_phoenix_says_how_to_install_it(monkeypatch, tmp_path, capsys, instrumentor):
    monkeypatch.setattr(cli, "phoenix_command", lambda: None)
    assert main(["demo", "--ui", "--out", str(tmp_path / "x.json")]) == 1
    assert 'pip install "smolagents-otel[phoenix]"' in capsys.readouterr()[1]
    assert not instrumentor.is_instrumented_by_opentelemetry


@pytest.mark.skipif(importlib.util.find_spec("litellm") is not None, reason="litellm is installed")
def test_model_without_api_base_needs_litellm(tmp_path, capsys, instrumentor):
    assert main(["demo", "--model", "gpt-4o-mini", "--out", str(tmp_path / "x.json")]) == 1
    assert 'pip install "smolagents[litellm]"' in capsys.readouterr()[1]


@pytest.fixture
def openai_stub(tmp_path):
    """The scripted OpenAI-compatible server, answering the demo's model calls in order."""

    def code(body: str) -> str:
        return f"Thought: ok\n<code>\n{body}\n</code>"

    def call(answer: str) -> str:
        return json.dumps({"name": "final_answer", "arguments": {"answer": answer}})

    replies = [
        "1. Use the tools.\n2. Answer.",  # alfred: planning
        code("final_answer(suggest_menu(occasion='casual'))"),  # alfred: step 1
        call("scout done"),  # theme_scout: step 1 (tool call parsed from the text)
        code("r = catering_agent(task='find a caterer')\nprint(r)"),  # party_manager: step 1
        call("catering done"),  # catering_agent: step 1
        code("final_answer('manager done')"),  # party_manager: step 2
    ]
    with stub_servers.openai_stub(replies, tmp_path) as server:
        yield server


def test_demo_with_a_real_openai_server_model(openai_stub, tmp_path, capsys, instrumentor, monkeypatch):
    base_url, request_log = openai_stub
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-" + "k" * 24)
    out = tmp_path / "real.json"
    assert main(["demo", "--model", "gpt-stub", "--api-base", base_url, "--out", str(out)]) == 0
    stdout = capsys.readouterr()[0]
    assert "chat gpt-stub" in stdout and "tokens=11 in/7 out" in stdout
    assert "  alfred: Pizza, snacks, and drinks." in stdout
    assert "  theme_scout: scout done" in stdout and "  party_manager: manager done" in stdout
    assert "Vetoed by the party policy" not in stdout  # this model never touched os/subprocess
    requests = [json.loads(line) for line in request_log.read_text().splitlines()]
    assert len(requests) == 6 and {r["body"]["model"] for r in requests} == {"gpt-stub"}
    spans = read_otlp_json_file(out)
    chats = [s for s in spans if s["name"] == "chat gpt-stub"]
    assert len(chats) == 6 and all(
        s["attributes"]["smolagents.model.class"] in {"OpenAIServerModel", "OpenAIModel"} for s in chats
    )
    for span in spans:  # the key reached the server, never a span
        assert "sk-test-" not in json.dumps(span["attributes"])


def test_demo_failure_still_prints_the_trace_and_exits_1(tmp_path, capsys, instrumentor):
    out = tmp_path / "fail.json"  # nothing listens on port 9: the first model call fails (after retries)
    assert main(["demo", "--model", "m", "--api-base", "http://127.0.0.1:9/v1", "--out", str(out)]) == 1
    stdout, stderr = capsys.readouterr()
    assert "invoke_agent alfred" in stdout and "ERROR" in stdout
    assert "the demo failed" in stderr
    assert read_otlp_json_file(out)  # what was traced is in the file
    assert not instrumentor.is_instrumented_by_opentelemetry


def test_python_dash_m_runs_the_cli(tmp_path):
    out = tmp_path / "m.json"
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # a terminal that cannot draw box characters
    proc = subprocess.run(
        [sys.executable, "-m", "smolagents_otel", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.isascii() and "|- invoke_agent alfred" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "smolagents_otel", "show", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "invoke_agent catering_agent" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "smolagents_otel", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
