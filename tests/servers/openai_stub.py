"""A scripted OpenAI-compatible chat-completions server, for tests (loopback only).

Usage: python openai_stub.py REPLIES_JSON_FILE  -> prints "PORT <n>" once listening on 127.0.0.1.
Each POST /v1/chat/completions answers with the next reply (a string), streamed as SSE chunks when
the request asks for ``stream``, with usage (prompt 11 / completion 7 tokens). Every request body is
appended to REPLIES_JSON_FILE + ".requests.jsonl".
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLIES: list[str] = []
INDEX = [0]
LOCK = threading.Lock()
LOG_PATH = ""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with LOCK:
            reply = REPLIES[min(INDEX[0], len(REPLIES) - 1)]
            INDEX[0] += 1
            with open(LOG_PATH, "a") as log:
                log.write(
                    json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                    + "\n"
                )
        model = body.get("model", "stub")
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for start in range(0, len(reply), 8):
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": reply[start : start + 8]},
                            "finish_reason": None,
                        }
                    ],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            final = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
            usage_chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            self.wfile.write(f"data: {json.dumps(usage_chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
            ],
            "usage": usage,
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    global LOG_PATH
    path = sys.argv[1]
    LOG_PATH = path + ".requests.jsonl"
    with open(path) as f:
        REPLIES.extend(json.load(f))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
