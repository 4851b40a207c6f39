"""Screenshot of the party-planning demo's trace in Arize Phoenix's UI (for docs/phoenix-trace.png).

Starts a local Phoenix (``phoenix serve`` on free 127.0.0.1 ports, temporary working directory), sends the
demo's trace to it over OTLP/HTTP, waits until Phoenix shows every span, then takes a screenshot of the
trace page with headless Chromium and stops Phoenix.

    python examples/phoenix_screenshot.py [--out docs/phoenix-trace.png] [--span "step 1"]

Needs ``pip install "smolagents-otel[phoenix]"`` and a Chromium (Debian: ``apt-get install chromium``).
``--span NAME`` opens the trace with that span selected (default: the vetoed ``step 1`` of alfred).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from smolagents_otel import Instrumentor, configure
from smolagents_otel.cli import DEMO_PROJECT, PhoenixServer, wait_for_phoenix_spans
from smolagents_otel.demo import run_demo

logger = logging.getLogger("phoenix_screenshot")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--force-prefers-reduced-motion",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
]


def find_chromium(explicit: str | None) -> str:
    for candidate in [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome", "chrome"]:
        path = shutil.which(candidate) if candidate else None
        if path:
            return path
    raise SystemExit("no Chromium found: apt-get install -y chromium (or pass --chromium PATH)")


def trace_page_url(phoenix: PhoenixServer, trace_id: str, spans: list[dict], span_name: str | None) -> str:
    """The trace's page in the project, with ``span_name`` selected (Phoenix's redirect URL otherwise)."""
    wanted = [s for s in spans if s["name"] == span_name and s["status_code"] == "ERROR"] if span_name else []
    wanted = wanted or [s for s in spans if span_name and s["name"] == span_name]
    with urllib.request.urlopen(f"{phoenix.base_url}/v1/projects", timeout=10) as response:
        projects = {p["name"]: p["id"] for p in json.load(response)["data"]}
    if not wanted or DEMO_PROJECT not in projects:
        if span_name:
            logger.warning("no span named %r; showing the trace as Phoenix opens it", span_name)
        return phoenix.trace_url(trace_id)
    query = urllib.parse.urlencode({"selectedSpanNodeId": wanted[0]["id"]})
    return f"{phoenix.base_url}/projects/{projects[DEMO_PROJECT]}/traces/{trace_id}?{query}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "phoenix-trace.png")
    )
    parser.add_argument("--span", default="step 1", help="span to select in the trace view ('' for none)")
    parser.add_argument("--chromium", help="Chromium/Chrome executable")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    chromium = find_chromium(args.chromium)
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)

    with PhoenixServer() as phoenix:
        logger.info("Phoenix is up at %s", phoenix.base_url)
        provider = configure(
            backend="phoenix", endpoint=phoenix.base_url, service_name=DEMO_PROJECT, set_global=False
        )
        instrumentor = Instrumentor()
        instrumentor.instrument(tracer_provider=provider)
        try:
            result = run_demo(tracer_provider=provider)
        finally:
            instrumentor.uninstrument()
        provider.force_flush()
        provider.shutdown()
        assert result.trace_id is not None
        spans = wait_for_phoenix_spans(phoenix.base_url, DEMO_PROJECT, result.trace_id, expected=40)
        logger.info("Phoenix shows %d spans of trace %s", len(spans), result.trace_id)
        url = trace_page_url(phoenix, result.trace_id, spans, args.span)
        logger.info("screenshot of %s", url)
        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            command = [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={args.width},{args.height}",
                f"--screenshot={out}",
                url,
            ]
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or not out.exists():
            logger.error("Chromium failed (%d): %s", done.returncode, done.stderr[-2000:])
            return 1
    sys.stdout.write(json.dumps({"screenshot": str(out), "trace_id": result.trace_id, "url": url}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
