"""The HTTP plumbing the local provider stand-ins share (`netcash_standin`, `stripe_standin`): a threaded
server on 127.0.0.1 in a daemon thread, stopped cleanly, and a request handler that logs nothing."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # a stand-in's requests are not news
        pass


def serve(handler: type[BaseHTTPRequestHandler], *, port: int = 0, name: str = "standin") -> ThreadingHTTPServer:
    """Serve `handler` on 127.0.0.1:`port` (0: any free port) until `shut`."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name=name).start()
    return server


def shut(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def origin(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
