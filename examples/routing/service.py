"""One Python service of the routing example: `python3 service.py <name> <port> [<next routed URL>]`.

GET /chain answers {"chain": [...]} after calling the next service through the tidepool router, with the
incoming W3C baggage (and its tidepool-route member) carried onward by OpenTelemetry's
W3CBaggagePropagator -- all a Python service does for request-level routing. Needs opentelemetry-api
(pip install opentelemetry-api==1.45.2); standard library otherwise.
"""

import json
import os
import socket
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator

NAME, PORT = sys.argv[1], int(sys.argv[2])
NEXT = sys.argv[3] if len(sys.argv) > 3 else None
propagator = W3CBaggagePropagator()


def call(url: str, headers: dict) -> dict:
    # *.localhost is loopback (RFC 6761); connect to 127.0.0.1 and keep the Host header for the router.
    parts = urlsplit(url)
    req = urllib.request.Request(f"http://127.0.0.1:{parts.port}{parts.path or '/'}", headers={**headers, "Host": parts.netloc})
    with urllib.request.urlopen(req, timeout=10) as res:
        return {"body": json.loads(res.read()), "servedBy": res.headers.get("x-tidepool-served-by")}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ctx = propagator.extract(carrier={k.lower(): v for k, v in self.headers.items()})
        key = baggage.get_baggage("tidepool-route", ctx)
        chain, served_by = [NAME], []
        if NEXT:
            carrier: dict = {}
            propagator.inject(carrier, context=ctx)
            got = call(f"{NEXT}/chain", carrier)
            chain += got["body"]["chain"]
            served_by = [got["servedBy"], *got["body"].get("servedBy", [])]
        body = json.dumps({"chain": chain, "servedBy": served_by, "key": key, "forkKey": os.environ.get("TIDEPOOL_ROUTING_KEY")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet: the example prints only what it is asked
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.address_family = socket.AF_INET
print(f"{NAME} listening on {PORT}", flush=True)
server.serve_forever()
