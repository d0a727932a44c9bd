#!/usr/bin/env python3
"""The hand-written baseline: Metacontroller's hello-world sync hook as a small Python
``http.server``, the way such hooks are usually written. bench/load.sh compares rulehook with it.

It answers ``POST /sync`` (any path ending in ``/sync``) with the same JSON, byte for byte, as
rulehook's ``rules/hello.yaml``: one Pod named after the parent that echoes a greeting, and a
status counting the observed Pods. Keys are sorted and separators compact, as serde_json writes
them.

By default it runs the way the seed tutorial's hook runs: a single-threaded ``HTTPServer``
speaking HTTP/1.0, one connection per request. ``--keep-alive`` runs a stronger baseline
instead: a thread per connection and HTTP/1.1 keep-alive.

Usage: seed_hook.py [--listen 127.0.0.1:8082] [--keep-alive]
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer


def sync(request):
    parent = request["parent"]
    who = (parent.get("spec") or {}).get("who")
    if who is None:
        who = "World"
    pods = (request.get("children") or {}).get("Pod.v1") or {}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": parent["metadata"]["name"]},
        "spec": {
            "restartPolicy": "OnFailure",
            "containers": [
                {
                    "name": "hello",
                    "image": "busybox",
                    "command": ["echo", "Hello, %s!" % who],
                }
            ],
        },
    }
    return {"status": {"pods": len(pods)}, "children": [pod]}


class Hook(BaseHTTPRequestHandler):
    # HTTP/1.0, as in the tutorial; --keep-alive switches to HTTP/1.1 (see main).
    # Headers and body leave in one write (flushed after each request), and without Nagle's
    # delay: otherwise a small second write can wait for the client's delayed ACK (~40 ms).
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if not self.path.endswith("/sync"):
            self.reply(404, b"not found\n", "text/plain")
            return
        try:
            request = json.loads(body)
            response = sync(request)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self.reply(400, ("bad request: %s\n" % e).encode(), "text/plain")
            return
        out = json.dumps(
            response, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        self.reply(200, out, "application/json")

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # quiet: no line per request


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8082", help="HOST:PORT")
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="thread per connection and HTTP/1.1 keep-alive instead of the tutorial's style",
    )
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    if args.keep_alive:
        Hook.protocol_version = "HTTP/1.1"
        server = ThreadingHTTPServer((host, int(port)), Hook)
        server.daemon_threads = True
    else:
        # The tutorial's server, with one change: a listen backlog of 128 instead of
        # socketserver's 5, so 32 clients connecting at once are queued rather than dropped.
        HTTPServer.request_queue_size = 128
        server = HTTPServer((host, int(port)), Hook)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
