"""``smolagents-otel`` command line: run the traced party-planning demo, render saved traces.

.. code-block:: text

    smolagents-otel demo [--out FILE] [--ui] [--model MODEL_ID] [--api-base URL]
    smolagents-otel show FILE

``demo`` runs :mod:`smolagents_otel.demo` (offline scripted models unless ``--model`` is given) with an
OpenTelemetry SDK ``TracerProvider`` that writes an OTLP/JSON file (default
``./smolagents-otel-demo.json``, replaced on each run) and keeps the spans in memory, then prints the
span tree. ``--ui`` also starts a local Arize Phoenix (``phoenix serve`` on free 127.0.0.1 ports, in a
temporary working directory), sends the trace to it over OTLP/HTTP, prints the trace's URL and keeps
Phoenix running until Ctrl-C. ``--model`` runs the same agents with smolagents' ``LiteLLMModel``
(provider keys from the usual environment variables), or ``OpenAIServerModel`` when ``--api-base`` is
given (key from ``OPENAI_API_KEY``).

``show`` renders a file written by ``demo`` or by the ``file`` backend of ``configure``.

Exit codes: 0 success, 1 failure (the demo raised, a file could not be read, Phoenix is missing or did
not start), 2 bad arguments, 130 interrupted while the demo was running.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_OUT",
    "DEMO_PROJECT",
    "PhoenixServer",
    "fetch_phoenix_spans",
    "main",
    "phoenix_command",
    "wait_for_phoenix_spans",
]

logger = logging.getLogger(__name__)

DEFAULT_OUT = "smolagents-otel-demo.json"
DEMO_PROJECT = "smolagents-otel-demo"
PHOENIX_EXTRA_HINT = 'pip install "smolagents-otel[phoenix]"'
LITELLM_HINT = 'pip install "smolagents[litellm]"'

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------------------------- Phoenix


def phoenix_command() -> list[str] | None:
    """The command that runs Phoenix's CLI (``phoenix``), or ``None`` when ``arize-phoenix`` is missing.

    Cheap: it does not import Phoenix (whose import alone takes several seconds).
    """
    try:
        importlib.metadata.version("arize-phoenix")
    except importlib.metadata.PackageNotFoundError:
        return None
    spec = importlib.util.find_spec("phoenix")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not any((Path(location) / "server" / "main.py").is_file() for location in locations):
        return None
    bin_dir = os.path.dirname(sys.executable)
    script = shutil.which("phoenix", path=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from phoenix.server.main import main; sys.exit(main())"]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class PhoenixServer:
    """A local Arize Phoenix (``phoenix serve``) on free 127.0.0.1 ports, in its own working directory.

    ``start()`` waits until ``/healthz`` answers 200; ``stop()`` sends SIGTERM to its pid, then SIGKILL
    after ``stop_timeout`` seconds, and removes the working directory if it made it. Usable as a
    context manager. Environment per Phoenix's docs for a quiet local instance: no external resources,
    no telemetry, no agent assistant.
    """

    def __init__(
        self,
        working_dir: str | os.PathLike[str] | None = None,
        *,
        start_timeout: float = 120.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self._own_dir = working_dir is None
        self.working_dir = Path(working_dir) if working_dir is not None else None
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.http_port = 0
        self.grpc_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path | None:
        return self.working_dir / "phoenix.log" if self.working_dir is not None else None

    def trace_url(self, trace_id: str) -> str:
        return f"{self.base_url}/redirects/traces/{trace_id}"

    def __enter__(self) -> PhoenixServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        command = phoenix_command()
        if command is None:
            raise RuntimeError(f"Arize Phoenix is not installed: {PHOENIX_EXTRA_HINT}")
        if self.working_dir is None:
            self.working_dir = Path(tempfile.mkdtemp(prefix="smolagents-otel-phoenix-"))
        self.working_dir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between the check and Phoenix's bind
            self.http_port = _free_port("127.0.0.1")
            self.grpc_port = _free_port("0.0.0.0")  # Phoenix's gRPC listener binds every interface
            env = {
                **os.environ,
                "PHOENIX_WORKING_DIR": str(self.working_dir),
                "PHOENIX_HOST": "127.0.0.1",
                "PHOENIX_PORT": str(self.http_port),
                "PHOENIX_GRPC_PORT": str(self.grpc_port),
                "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
                "PHOENIX_TELEMETRY_ENABLED": "false",
                "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
            }
            self._log = open(self.working_dir / "phoenix.log", "ab")  # noqa: SIM115 - closed in stop()
            logger.debug(
                "starting Phoenix: %s serve (http %d, grpc %d)", command, self.http_port, self.grpc_port
            )
            self.process = subprocess.Popen(
                [*command, "serve"],
                env=env,
                cwd=self.working_dir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop Phoenix
            )
            try:
                self._wait_healthy()
                return
            except RuntimeError as exc:
                last_error = str(exc)
                self._terminate()
                if "exited" not in last_error:
                    break
            except BaseException:  # Ctrl-C / SIGTERM while waiting: leave nothing behind
                self.stop()
                raise
        self._cleanup_dir()
        raise RuntimeError(last_error)

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(f"Phoenix exited with code {code} while starting:\n{self.log_tail()}")
            try:
                status, _ = _http_get(f"{self.base_url}/healthz", timeout=2.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(
            f"Phoenix did not answer /healthz within {self.start_timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("Phoenix (pid %d) did not stop on SIGTERM; killing it", process.pid)
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=self.stop_timeout)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def _cleanup_dir(self) -> None:
        if self._own_dir and self.working_dir is not None:
            shutil.rmtree(self.working_dir, ignore_errors=True)
            self.working_dir = None

    def stop(self) -> None:
        self._terminate()
        self._cleanup_dir()


def fetch_phoenix_spans(
    base_url: str, project: str, trace_id: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Spans of ``trace_id`` in ``project`` from Phoenix's REST API; ``[]`` while the project is unknown."""
    spans: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"trace_id": trace_id, "limit": "1000"}
        if cursor:
            query["cursor"] = cursor
        path = f"/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
        url = f"{base_url}{path}?{urllib.parse.urlencode(query)}"
        status, body = _http_get(url, timeout=timeout)
        if status == 404:
            return []
        if status != 200:
            raise RuntimeError(f"GET {url} answered {status}: {body[:200]!r}")
        page = json.loads(body)
        spans.extend(page.get("data") or [])
        cursor = page.get("next_cursor")
        if not cursor:
            return spans


def wait_for_phoenix_spans(
    base_url: str, project: str, trace_id: str, expected: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Poll Phoenix until ``expected`` spans of ``trace_id`` are readable (ingestion is asynchronous).

    Returns what was read last, which has fewer spans than expected when ``timeout`` ran out.
    """
    deadline = time.monotonic() + timeout
    spans: list[dict[str, Any]] = []
    while True:
        try:
            spans = fetch_phoenix_spans(base_url, project, trace_id)
        except OSError as exc:
            logger.debug("reading spans from Phoenix failed: %s", exc)
        if len(spans) >= expected or time.monotonic() >= deadline:
            return spans
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------- demo


def _model_factory(model_id: str | None, api_base: str | None) -> Callable[[str], Any] | None:
    if model_id is None:
        return None
    if api_base is not None:
        from smolagents import OpenAIServerModel

        model = OpenAIServerModel(
            model_id=model_id,
            api_base=api_base,
            api_key=os.environ.get("OPENAI_API_KEY") or "not-needed",
        )
    else:
        if importlib.util.find_spec("litellm") is None:
            raise RuntimeError(
                "--model without --api-base uses smolagents' LiteLLMModel, which needs litellm: "
                f"{LITELLM_HINT} (or pass --api-base URL for an OpenAI-compatible server)"
            )
        from smolagents import LiteLLMModel

        model = LiteLLMModel(model_id=model_id)
    return lambda _agent_name: model


def _can_draw_unicode(stream: Any) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "├─│└•…".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:  # e.g. a model's answer on an ASCII-only terminal
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        sys.stdout.write(text.encode(encoding, "replace").decode(encoding))
    sys.stdout.flush()


def _prepare_out(path_text: str) -> Path:
    path = Path(path_text).expanduser().resolve()
    if path.is_dir():
        raise ValueError(f"--out {path} is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")  # each demo run replaces the file
    except OSError as exc:
        raise ValueError(f"--out {path} cannot be written: {exc.strerror or exc}") from None
    return path


def _render_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "color": bool(args.color),
        "ascii": bool(args.ascii) or not _can_draw_unicode(sys.stdout),
        "durations": not args.no_durations,
        "show_io": bool(args.io),
    }


@contextlib.contextmanager
def _interrupt_on_signals(enabled: bool) -> Iterator[None]:
    """While Phoenix runs: SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C, so it is always stopped.

    (Phoenix runs in its own session and would outlive us otherwise.) Main thread only.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    wanted = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: interrupt}
    if hasattr(signal, "SIGHUP"):
        wanted[signal.SIGHUP] = interrupt
    previous = {}
    for signum, handler in wanted.items():
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _cmd_demo(args: argparse.Namespace) -> int:
    with _interrupt_on_signals(bool(args.ui)):
        try:
            return _demo(args)
        except KeyboardInterrupt:
            logger.error("interrupted")
            return EXIT_INTERRUPTED


def _demo(args: argparse.Namespace) -> int:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from .demo import run_demo
    from .instrumentor import Instrumentor
    from .otlp_json import OTLPJsonFileSpanExporter
    from .tree import render_tree

    try:
        out = _prepare_out(args.out)
        model_factory = _model_factory(args.model, args.api_base)
    except (ValueError, RuntimeError, ImportError) as exc:
        logger.error("%s", exc)
        return EXIT_FAILURE

    phoenix: PhoenixServer | None = None
    otlp_exporter = None
    if args.ui:
        if phoenix_command() is None:
            logger.error("--ui needs Arize Phoenix, which is not installed: %s", PHOENIX_EXTRA_HINT)
            return EXIT_FAILURE
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            logger.error("--ui needs the OTLP/HTTP exporter, which is not installed: %s", PHOENIX_EXTRA_HINT)
            return EXIT_FAILURE
        logger.info("starting Phoenix (this takes 10-20 s)...")
        phoenix = PhoenixServer()
        try:
            phoenix.start()
        except RuntimeError as exc:
            logger.error("Phoenix did not start: %s", exc)
            return EXIT_FAILURE
        otlp_exporter = OTLPSpanExporter(endpoint=phoenix.otlp_http_endpoint)

    try:
        memory = InMemorySpanExporter()
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": DEMO_PROJECT, "openinference.project.name": DEMO_PROJECT}
            ),
            shutdown_on_exit=False,
        )
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(BatchSpanProcessor(OTLPJsonFileSpanExporter(out)))
        if otlp_exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(otlp_exporter))

        instrumentor = Instrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            logger.debug("smolagents was already instrumented; re-instrumenting with the demo's provider")
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=provider)
        failure: BaseException | None = None
        result = None
        try:
            result = run_demo(
                model_factory, tracer_provider=provider, verbosity_level=1 if args.verbose else -1
            )
        except KeyboardInterrupt:
            logger.error("interrupted")
            return EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - a real model can fail in many ways; show the trace anyway
            failure = exc
        finally:
            instrumentor.uninstrument()
            provider.force_flush()
            provider.shutdown()

        spans = memory.get_finished_spans()
        _write(render_tree(spans, **_render_options(args)))
        if result is not None:
            lines = ["", "Final answers:"]
            lines += [f"  {name}: {answer}" for name, answer in result.answers.items()]
            if result.vetoes:
                lines.append(f"Vetoed by the party policy ({len(result.vetoes)}):")
                lines += [f"  - {reason}" for reason in result.vetoes]
            _write("\n".join(lines) + "\n")
        _write(f"\n{len(spans)} spans written to {out}\nRender them again with: smolagents-otel show {out}\n")
        if failure is not None:
            logger.error("the demo failed: %s: %s", type(failure).__name__, failure)
            return EXIT_FAILURE

        if phoenix is None:
            return EXIT_OK
        trace_id = result.trace_id if result is not None else None
        if trace_id is None:
            logger.error("the demo made no trace to show")
            return EXIT_FAILURE
        expected = sum(1 for s in spans if format(s.context.trace_id, "032x") == trace_id)
        read = wait_for_phoenix_spans(phoenix.base_url, DEMO_PROJECT, trace_id, expected)
        if len(read) < expected:
            logger.warning("Phoenix shows %d of the %d spans so far", len(read), expected)
        _write(
            f"\nPhoenix is running at {phoenix.base_url} (project {DEMO_PROJECT!r}).\n"
            f"Trace: {phoenix.trace_url(trace_id)}\n"
            "Press Ctrl-C to stop Phoenix.\n"
        )
        try:
            while phoenix.is_running():
                time.sleep(0.5)
        except KeyboardInterrupt:
            _write("\nStopping Phoenix.\n")
            return EXIT_OK
        logger.error("Phoenix stopped unexpectedly:\n%s", phoenix.log_tail())
        return EXIT_FAILURE
    finally:
        if phoenix is not None:
            phoenix.stop()


def _cmd_show(args: argparse.Namespace) -> int:
    from .otlp_json import read_otlp_json_file
    from .tree import render_tree

    try:
        spans = read_otlp_json_file(args.file)
    except FileNotFoundError:
        logger.error("no such file: %s", args.file)
        return EXIT_FAILURE
    except IsADirectoryError:
        logger.error("%s is a directory, not a trace file", args.file)
        return EXIT_FAILURE
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logger.error("cannot read %s: %s", args.file, exc)
        return EXIT_FAILURE
    if args.trace:
        wanted = args.trace.lower()
        spans = [s for s in spans if s["trace_id"].startswith(wanted)]
    _write(render_tree(spans, **_render_options(args)))
    return EXIT_OK


# --------------------------------------------------------------------------------------------- parser


def _add_render_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--color", action="store_true", help="colour the tree with ANSI escapes")
    parser.add_argument("--ascii", action="store_true", help="draw the tree with ASCII characters only")
    parser.add_argument("--no-durations", action="store_true", help="leave span durations out")
    parser.add_argument("--io", action="store_true", help="show each span's input.value/output.value")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smolagents-otel",
        description="OpenTelemetry tracing for Hugging Face smolagents: demo and trace viewer.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="run the traced party-planning agents of the HF agents course and print the span tree",
        description=(
            "Run the party-planning agents (offline scripted models unless --model is given), write the "
            "trace as OTLP/JSON and print it as a tree."
        ),
    )
    demo.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="FILE",
        help=f"OTLP/JSON file to (re)write (default: {DEFAULT_OUT})",
    )
    demo.add_argument(
        "--ui",
        action="store_true",
        help=f"start a local Arize Phoenix, send the trace to it and print its URL ({PHOENIX_EXTRA_HINT})",
    )
    demo.add_argument(
        "--model",
        metavar="MODEL_ID",
        help="use a real model: LiteLLM model id (e.g. gpt-4o-mini, anthropic/claude-...), "
        "or the model name on --api-base",
    )
    demo.add_argument(
        "--api-base",
        metavar="URL",
        help="OpenAI-compatible server for --model (OpenAIServerModel; key from OPENAI_API_KEY)",
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="let smolagents print each step too")
    _add_render_flags(demo)
    demo.set_defaults(handler=_cmd_demo)

    show = sub.add_parser("show", help="render a saved OTLP/JSON trace file as a tree")
    show.add_argument("file", metavar="FILE", help="a file written by 'demo' or by the 'file' backend")
    show.add_argument("--trace", metavar="TRACE_ID", help="only the trace whose id starts with this")
    _add_render_flags(show)
    show.set_defaults(handler=_cmd_show)
    return parser


@contextlib.contextmanager
def _cli_logging(verbose: bool) -> Iterator[None]:
    """Diagnostics of this run to the current stderr, prefixed; removed afterwards."""
    package_logger = logging.getLogger("smolagents_otel")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("smolagents-otel: %(message)s"))
    previous_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(previous_level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``smolagents-otel`` and ``python -m smolagents_otel``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help (0) or a usage error (2); argparse already printed the message
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "demo":
        problem = None
        if args.api_base is not None and not args.model:
            problem = "--api-base needs --model"
        elif args.api_base is not None and not args.api_base.startswith(("http://", "https://")):
            problem = f"--api-base must be an http:// or https:// URL, got {args.api_base!r}"
        elif args.model is not None and not args.model.strip():
            problem = "--model must not be empty"
        if problem:
            sys.stderr.write(f"{parser.prog} demo: error: {problem}\n")
            return EXIT_USAGE
    with _cli_logging(bool(getattr(args, "verbose", False))):
        return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
