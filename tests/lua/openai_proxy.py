#!/usr/bin/env python3
"""openai_proxy.py — a plain OpenAI-compatible server for test_remote.lua: it
passes /v1/* through to a `vkagent serve` (streams included) and answers
404 for everything else, so vkagent.connect meets a server without /props,
/tokenize or /apply-template. Under /nostream/v1/* it drops "stream" from
requests (a server that answers whole). GET /slow answers after 5 s (a
timeout test).
Prints "listening on http://127.0.0.1:PORT" on stderr.
usage: openai_proxy.py UPSTREAM_URL"""
import http.server
import json
import sys
import time
import urllib.error
import urllib.request

UPSTREAM = sys.argv[1].rstrip("/")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        if self.path == "/slow":
            time.sleep(5)
            return self.answer(200, b"{}")
        path, whole = self.path, self.path.startswith("/nostream/")
        if whole:
            path = path[len("/nostream"):]
        if not path.startswith("/v1/"):
            return self.answer(404, b'{"error": {"message": "not found", "type": "invalid_request_error"}}')
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if body and whole:
            doc = json.loads(body)
            doc.pop("stream", None)
            doc.pop("stream_options", None)
            body = json.dumps(doc).encode()
        req = urllib.request.Request(UPSTREAM + path, data=body, method=self.command)
        for name in ("Authorization", "Content-Type"):
            if self.headers.get(name):
                req.add_header(name, self.headers[name])
        try:
            up = urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as e:
            return self.answer(e.code, e.read())
        self.send_response(up.status)
        self.send_header("Content-Type", up.headers.get("Content-Type", "application/json"))
        self.end_headers()
        while True:
            chunk = up.read1(4096)
            if not chunk:
                break
            self.wfile.write(chunk)
            self.wfile.flush()

    do_GET = forward
    do_POST = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
print(f"listening on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
server.serve_forever()
