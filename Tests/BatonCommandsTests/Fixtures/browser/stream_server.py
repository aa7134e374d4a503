"""A minimal OpenAI-compatible chat endpoint that streams one long answer slowly, for the D6 browser test.

  python stream_server.py [--tokens N] [--width W] [--seconds S]

The echo runtime's scripted answers are held to 2 MB (the YAML limit), so a ~5 MB output comes from here: a Baton
profile points a `kind: openai` runtime at the printed URL (no key: it is on 127.0.0.1). Every chat completion
streams N tokens (default 10,000), each a line of W characters (default 500, line break included), spread over about
S seconds (default 8), then the finish and usage chunks and `data: [DONE]`. Token i is `NNNNN ` (i from 0, five
digits) then `x` up to the width. The first line on stdout is the base URL (`http://127.0.0.1:PORT/v1`).
"""

import argparse
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--tokens", type=int, default=10_000)
parser.add_argument("--width", type=int, default=500)
parser.add_argument("--seconds", type=float, default=8.0)
options = parser.parse_args()


def token(index):
    head = f"{index:05d} "
    return head + "x" * (options.width - len(head) - 1) + "\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "big", "object": "model", "owned_by": "stand-in"}]})
        else:
            self._json(404, {"error": {"message": f"Invalid URL (GET {self.path})", "type": "invalid_request_error"}})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"Invalid URL (POST {self.path})", "type": "invalid_request_error"}})
            return
        model = request.get("model", "big")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": options.tokens,
                 "total_tokens": prompt_tokens + options.tokens}
        if not request.get("stream"):
            text = "".join(token(i) for i in range(options.tokens))
            self._json(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": model,
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                             "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))

        def chunk(choices, with_usage=None):
            body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                    "choices": choices}
            if include_usage:
                body["usage"] = with_usage
            self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")

        chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        batch = 20
        pause = options.seconds / max(1, options.tokens / batch)
        for index in range(options.tokens):
            chunk([{"index": 0, "delta": {"content": token(index)}, "finish_reason": None}])
            if index % batch == batch - 1:
                self.wfile.flush()
                time.sleep(pause)
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if include_usage:
            chunk([], usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


# A child may inherit SIGTERM ignored (from a test runner); stop on it anyway.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
