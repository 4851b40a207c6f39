"""The party-planning agents of the Hugging Face agents course (unit 2.1), traced, and offline by default.

Alfred, the Wayne family butler, prepares a villain-masquerade party at Wayne Manor. The demo runs,
in one process and **one trace** under a root span ``invoke_workflow party_planning``:

1. ``alfred``: a ``CodeAgent`` with the course's tools ``suggest_menu``, ``catering_service_tool``
   and ``SuperheroPartyThemeTool`` and a planning step. Its first action tries to list the wine cellar
   with ``subprocess``; the demo's policy (a ``PRE_EXECUTION`` callback registered with
   ``Instrumentor().on``) vetoes it, the model sees ``execution blocked: ...`` and uses its tools instead.
2. ``theme_scout``: a ``ToolCallingAgent`` that calls two tools in parallel, then ``final_answer``.
3. ``party_manager``: a ``CodeAgent`` managing ``catering_agent`` (a ``ToolCallingAgent`` with a name and
   a description) and calling it from its code.

Models are :class:`~smolagents_otel.testing.ScriptedModel` instances replaying the replies below, so no
network or key is needed and the trace is the same every time. Pass ``model_factory`` (called with the
agent's name, returning a smolagents ``Model``) to run the same agents with a real model.

.. code-block:: python

    from smolagents_otel import Instrumentor
    from smolagents_otel.demo import run_demo

    Instrumentor().instrument(tracer_provider=provider)
    result = run_demo(tracer_provider=provider)
    print(result.answers["alfred"])

When smolagents is not instrumented yet, :func:`run_demo` instruments it with ``tracer_provider`` for the
duration of the demo and restores it afterwards.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from smolagents import CodeAgent, Tool, ToolCallingAgent, tool

from .events import AgentEvent, LifecycleEvent, Veto
from .instrumentor import Instrumentor
from .testing import ScriptedModel, tool_call
from .version import __version__

__all__ = [
    "AGENT_NAMES",
    "DEMO_MODEL_ID",
    "DEMO_TASKS",
    "DemoResult",
    "ROOT_SPAN_NAME",
    "SCRIPTED_REPLIES",
    "SuperheroPartyThemeTool",
    "build_agents",
    "catering_service_tool",
    "PartyPolicy",
    "run_demo",
    "scripted_model_factory",
    "suggest_menu",
]

logger = logging.getLogger(__name__)

WORKFLOW_NAME = "party_planning"
ROOT_SPAN_NAME = f"invoke_workflow {WORKFLOW_NAME}"
DEMO_MODEL_ID = "scripted/Qwen2.5-Coder-32B-Instruct"
AGENT_NAMES = ("alfred", "theme_scout", "party_manager")


# --------------------------------------------------------------------------------------------- tools


@tool
def suggest_menu(occasion: str) -> str:
    """
    Suggests a menu based on the occasion.

    Args:
        occasion: The type of occasion for the party. Allowed values are:
                  - "casual": Menu for casual party.
                  - "formal": Menu for formal party.
                  - "superhero": Menu for superhero party.
                  - "custom": Custom menu.
    """
    if occasion == "casual":
        return "Pizza, snacks, and drinks."
    elif occasion == "formal":
        return "3-course dinner with wine and dessert."
    elif occasion == "superhero":
        return "Buffet with high-energy and healthy food."
    else:
        return "Custom menu for the butler."


@tool
def catering_service_tool(query: str) -> str:
    """
    This tool returns the highest-rated catering service in Gotham City.

    Args:
        query: A search term for finding catering services.
    """
    # Example list of catering services and their ratings
    services = {
        "Gotham Catering Co.": 4.9,
        "Wayne Manor Catering": 4.8,
        "Gotham City Events": 4.7,
    }
    # Find the highest rated catering service (simulating search query filtering)
    return max(services, key=services.get)


class SuperheroPartyThemeTool(Tool):
    name = "superhero_party_theme_generator"
    description = """
    This tool suggests creative superhero-themed party ideas based on a category.
    It returns a unique party theme idea."""

    inputs = {
        "category": {
            "type": "string",
            "description": (
                "The type of superhero party (e.g., 'classic heroes', 'villain masquerade', "
                "'futuristic Gotham')."
            ),
        }
    }

    output_type = "string"

    def forward(self, category: str):  # type: ignore[override]
        themes = {
            "classic heroes": (
                "Justice League Gala: Guests come dressed as their favorite DC heroes with themed "
                "cocktails like 'The Kryptonite Punch'."
            ),
            "villain masquerade": (
                "Gotham Rogues' Ball: A mysterious masquerade where guests dress as classic Batman villains."
            ),
            "futuristic gotham": (
                "Neo-Gotham Night: A cyberpunk-style party inspired by Batman Beyond, with neon decorations "
                "and futuristic gadgets."
            ),
        }
        return themes.get(
            category.lower(),
            "Themed party idea not found. Try 'classic heroes', 'villain masquerade', "
            "or 'futuristic Gotham'.",
        )


# --------------------------------------------------------------------------------------------- policy

_FORBIDDEN = re.compile(r"\b(?:import\s+(os|subprocess)\b|from\s+(os|subprocess)\b|(os|subprocess)\s*\.)")


class PartyPolicy:
    """PRE_EXECUTION policy: code that touches ``os`` or ``subprocess`` is vetoed; the agent goes on.

    Register an instance with ``Instrumentor().on(LifecycleEvent.PRE_EXECUTION, policy)``; the reasons
    of the vetoes it raised are kept in ``vetoes``.
    """

    def __init__(self) -> None:
        self.vetoes: list[str] = []

    def __call__(self, event: AgentEvent) -> None:
        match = _FORBIDDEN.search(event.code or "")
        if match:
            module = next(group for group in match.groups() if group)
            reason = f"code touching '{module}' is not allowed in Wayne Manor (party policy)"
            self.vetoes.append(reason)
            raise Veto(reason)


# --------------------------------------------------------------------------------------------- scripts


def _code(thought: str, body: str) -> str:
    return f"Thought: {thought}\n<code>\n{body}\n</code>"


ALFRED_TASK = (
    "Prepare the party at Wayne Manor: a formal menu, the best catering service in Gotham "
    "and a 'villain masquerade' theme."
)
THEME_SCOUT_TASK = "Suggest a 'futuristic Gotham' party theme and a menu for a superhero party."
MANAGER_TASK = "Book the highest-rated catering service in Gotham for the party at Wayne Manor."
CATERING_DESCRIPTION = "Finds the highest-rated catering service in Gotham City from a task in plain words."

DEMO_TASKS = {"alfred": ALFRED_TASK, "theme_scout": THEME_SCOUT_TASK, "party_manager": MANAGER_TASK}

#: What each scripted model answers, call after call (planning first for alfred).
SCRIPTED_REPLIES: dict[str, list[Any]] = {
    "alfred": [
        "1. Choose a formal menu with suggest_menu.\n"
        "2. Find the best caterer with catering_service_tool.\n"
        "3. Get a 'villain masquerade' theme from superhero_party_theme_generator.\n"
        "4. Report everything with final_answer.",
        _code(
            "Before anything else, let me check what is left in the wine cellar.",
            "import subprocess\n"
            "print(subprocess.run(['ls', '/wayne-manor/wine-cellar'], capture_output=True).stdout)",
        ),
        _code(
            "Shell access is blocked by the house policy; I will use my tools instead.",
            'menu = suggest_menu(occasion="formal")\n'
            'caterer = catering_service_tool(query="best catering in Gotham")\n'
            'theme = superhero_party_theme_generator(category="villain masquerade")\n'
            'print(menu, caterer, theme, sep="\\n")',
        ),
        _code(
            "I have the menu, the caterer and the theme.",
            'final_answer(f"Menu: {menu} | Catering: {caterer} | Theme: {theme}")',
        ),
    ],
    "theme_scout": [
        [
            tool_call("superhero_party_theme_generator", {"category": "futuristic Gotham"}, "call_theme_1"),
            tool_call("suggest_menu", {"occasion": "superhero"}, "call_menu_1"),
        ],
        [
            tool_call(
                "final_answer",
                {
                    "answer": "Neo-Gotham Night (cyberpunk, neon, Batman Beyond) with a buffet of "
                    "high-energy and healthy food."
                },
                "call_final_1",
            )
        ],
    ],
    "catering_agent": [
        [tool_call("catering_service_tool", {"query": "highest-rated catering in Gotham"}, "call_cater_1")],
        [tool_call("final_answer", {"answer": "Gotham Catering Co. (rated 4.9)"}, "call_final_2")],
    ],
    "party_manager": [
        _code(
            "My catering agent knows Gotham's caterers; let me ask it.",
            'report = catering_agent(task="Find the highest-rated catering service in Gotham City.")\n'
            "print(report)",
        ),
        _code(
            "The catering agent recommends Gotham Catering Co.",
            'final_answer("Booked Gotham Catering Co. (4.9 stars) for the villain masquerade '
            'at Wayne Manor.")',
        ),
    ],
}


def scripted_model_factory(agent_name: str) -> ScriptedModel:
    """The offline model of one demo agent: a ScriptedModel replaying ``SCRIPTED_REPLIES[agent_name]``."""
    return ScriptedModel(SCRIPTED_REPLIES[agent_name], model_id=DEMO_MODEL_ID)


# --------------------------------------------------------------------------------------------- agents


@dataclass
class DemoAgents:
    alfred: CodeAgent
    theme_scout: ToolCallingAgent
    catering_agent: ToolCallingAgent
    party_manager: CodeAgent


def build_agents(
    model_factory: Callable[[str], Any] | None = None, *, max_steps: int = 6, verbosity_level: int = -1
) -> DemoAgents:
    """Build the four demo agents; ``model_factory(agent_name)`` gives each one its model."""
    factory = model_factory or scripted_model_factory
    common: dict[str, Any] = {"max_steps": max_steps, "verbosity_level": verbosity_level}
    alfred = CodeAgent(
        tools=[suggest_menu, catering_service_tool, SuperheroPartyThemeTool()],
        model=factory("alfred"),
        name="alfred",
        description="Alfred, the Wayne family butler, plans parties.",
        planning_interval=10,  # one initial plan
        **common,
    )
    theme_scout = ToolCallingAgent(
        tools=[SuperheroPartyThemeTool(), suggest_menu],
        model=factory("theme_scout"),
        name="theme_scout",
        description="Suggests party themes and menus.",
        **common,
    )
    catering_agent = ToolCallingAgent(
        tools=[catering_service_tool],
        model=factory("catering_agent"),
        name="catering_agent",
        description=CATERING_DESCRIPTION,
        **common,
    )
    party_manager = CodeAgent(
        tools=[],
        model=factory("party_manager"),
        managed_agents=[catering_agent],
        name="party_manager",
        description="Coordinates the party preparations and delegates to the catering agent.",
        **common,
    )
    return DemoAgents(alfred, theme_scout, catering_agent, party_manager)


# --------------------------------------------------------------------------------------------- run


@dataclass
class DemoResult:
    """What :func:`run_demo` returns: each agent's final answer, the trace id and the vetoes applied."""

    answers: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None  # 32 hex digits, when the demo made one root span
    vetoes: list[str] = field(default_factory=list)


def run_demo(
    model_factory: Callable[[str], Any] | None = None,
    *,
    tracer_provider: Any = None,
    root_span: bool = True,
    policy: bool = True,
    max_steps: int = 6,
    verbosity_level: int = -1,
) -> DemoResult:
    """Run the three party-planning agents and return their final answers.

    Args:
        model_factory: ``fn(agent_name) -> smolagents Model``; default: the offline scripted models.
        tracer_provider: provider for the demo's root span, and for the instrumentation when smolagents
            is not instrumented yet (then it is instrumented for the duration of the demo only).
            Default: the global provider. Pass the one you instrumented with.
        root_span: put every run under one ``invoke_workflow party_planning`` span (one trace);
            ``False`` gives one trace per agent run.
        policy: register a :class:`PartyPolicy` as a PRE_EXECUTION callback during the demo.
        max_steps, verbosity_level: passed to every agent (``-1``: smolagents prints nothing; ``1`` shows
            each step as smolagents usually does).

    An exception from an agent run (e.g. a real model's API error) propagates after the root span
    is ended with an ERROR status; the policy callback is always removed.
    """
    instrumentor = Instrumentor()
    own_instrumentation = not instrumentor.is_instrumented_by_opentelemetry
    if own_instrumentation:
        instrumentor.instrument(tracer_provider=tracer_provider)
    result = DemoResult()
    party_policy = PartyPolicy()
    result.vetoes = party_policy.vetoes  # the same list: filled as the policy vetoes
    handle = instrumentor.on(LifecycleEvent.PRE_EXECUTION, party_policy) if policy else None
    try:
        agents = build_agents(model_factory, max_steps=max_steps, verbosity_level=verbosity_level)
        runs = [
            ("alfred", agents.alfred, ALFRED_TASK),
            ("theme_scout", agents.theme_scout, THEME_SCOUT_TASK),
            ("party_manager", agents.party_manager, MANAGER_TASK),
        ]
        if not root_span:
            for name, agent, task in runs:
                result.answers[name] = agent.run(task)
            return result
        tracer = trace.get_tracer("smolagents_otel.demo", __version__, tracer_provider=tracer_provider)
        attributes = {
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": WORKFLOW_NAME,
            "openinference.span.kind": "CHAIN",
            "input.value": "\n".join(f"{name}: {task}" for name, _, task in runs),
            "input.mime_type": "text/plain",
        }
        with tracer.start_as_current_span(
            ROOT_SPAN_NAME, attributes=attributes, record_exception=True, set_status_on_exception=True
        ) as span:
            context = span.get_span_context()
            if context.is_valid:
                result.trace_id = format(context.trace_id, "032x")
            for name, agent, task in runs:
                result.answers[name] = agent.run(task)
            span.set_attribute(
                "output.value", "\n".join(f"{name}: {answer}" for name, answer in result.answers.items())
            )
            span.set_attribute("output.mime_type", "text/plain")
            if result.vetoes:
                span.set_attribute("smolagents.demo.vetoes", len(result.vetoes))
            span.set_status(Status(StatusCode.OK))
        return result
    finally:
        if handle is not None:
            handle.remove()
        if own_instrumentation:
            instrumentor.uninstrument()
