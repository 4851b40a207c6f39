"""Send the model's output to text-to-speech before the code runs (smolagents issue #1883).

MODEL_OUTPUT fires when the model has answered, before smolagents parses or runs anything, so a
speech service can start talking while the action is still ahead. Here the "speech service" is a
queue; swap in your TTS client.

    python examples/tts_on_model_output.py
"""

from __future__ import annotations

import queue

from smolagents import CodeAgent

from smolagents_otel import AgentEvent, Instrumentor, LifecycleEvent
from smolagents_otel.testing import ScriptedModel


class FakeSpeechQueue:
    def __init__(self) -> None:
        self.spoken: queue.Queue[str] = queue.Queue()

    def say(self, text: str) -> None:
        self.spoken.put(text)


def main(speech: FakeSpeechQueue | None = None) -> list[str]:
    speech = speech or FakeSpeechQueue()
    instrumentor = Instrumentor()

    def speak(event: AgentEvent) -> None:
        thought = (event.model_output or "").split("<code>")[0].replace("Thought:", "").strip()
        if thought:
            speech.say(thought)

    handle = instrumentor.on(LifecycleEvent.MODEL_OUTPUT, speak)
    instrumentor.instrument()
    try:
        model = ScriptedModel(
            [
                "Thought: Let me count the guests first.\n<code>\nguests = 12\n</code>",
                "Thought: Twelve guests, two pizzas each.\n<code>\nfinal_answer(guests * 2)\n</code>",
            ]
        )
        CodeAgent(tools=[], model=model, verbosity_level=0).run("How many pizzas for the party?")
    finally:
        handle.remove()
        instrumentor.uninstrument()
    return list(speech.spoken.queue)


if __name__ == "__main__":
    for line in main():
        print("speaking:", line)
