"""An OTLP/HTTP trace receiver that can misbehave, for outage tests (loopback only).

Usage: python otlp_faulty.py MODE [PORT]  -> prints "PORT <n>" once listening on 127.0.0.1.
MODE: ok (200, counts spans), 500, 429, hang (reads the request, never answers).
GET /stats answers {"spans": n, "requests": m} in every mode.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MODE = sys.argv[1]
STATS = {"spans": 0, "requests": 0, "names": []}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        with LOCK:
            data = json.dumps(STATS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with LOCK:
            STATS["requests"] += 1
        if MODE == "hang":
            time.sleep(3600)
            return
        if MODE in ("500", "429"):
            self.send_response(int(MODE))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        names = [s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        with LOCK:
            STATS["spans"] += len(names)
            STATS["names"].extend(names)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
