"""Small scripted agents used across the tests."""

from __future__ import annotations

from typing import Any

from smolagents import CodeAgent, ToolCallingAgent, tool

from smolagents_otel.testing import ScriptedModel, tool_call

SIDE_EFFECTS: list[str] = []


@tool
def add(a: int, b: int) -> int:
    """Adds two integers.

    Args:
        a: first number
        b: second number
    """
    SIDE_EFFECTS.append(f"add({a},{b})")
    return a + b


@tool
def weather(city: str) -> str:
    """Weather of a city.

    Args:
        city: the city
    """
    SIDE_EFFECTS.append(f"weather({city})")
    return f"sunny in {city}"


@tool
def broken(x: int) -> int:
    """Always fails.

    Args:
        x: anything
    """
    raise ValueError("tool exploded")


def code(body: str) -> str:
    return f"Thought: working\n<code>\n{body}\n</code>"


def code_agent(replies: list[Any], **kwargs: Any) -> CodeAgent:
    kwargs.setdefault("verbosity_level", 0)
    return CodeAgent(
        tools=kwargs.pop("tools", [add, weather, broken]), model=ScriptedModel(replies), **kwargs
    )


def tool_agent(replies: list[Any], **kwargs: Any) -> ToolCallingAgent:
    kwargs.setdefault("verbosity_level", 0)
    return ToolCallingAgent(
        tools=kwargs.pop("tools", [add, weather, broken]), model=ScriptedModel(replies), **kwargs
    )


THREE_STEP_CODE = [
    code("x = add(1, 2)\nprint(x)"),
    code("y = add(x, 10)\nprint(y)"),
    code("final_answer(y * 2)"),
]

PARALLEL_TOOLS = [
    [tool_call("weather", {"city": "Paris"}, "call_a"), tool_call("add", {"a": 2, "b": 3}, "call_b")],
    [tool_call("final_answer", {"answer": "done"}, "call_c")],
]

__all__ = ["add", "weather", "broken", "code", "code_agent", "tool_agent", "tool_call", "SIDE_EFFECTS"]
