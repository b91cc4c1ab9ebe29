"""Serve a Roundup tracker through its WSGI handler (run by the Roundup virtualenv's python).

`roundup-server` refuses to run as root, which is what the suite runs as here; Roundup's own
`RequestDispatcher` under the standard library's WSGI server, one thread per request, serves the
same application without that check.

    python roundup_serve.py TRACKER_HOME PORT
"""

from __future__ import annotations

import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from roundup.cgi.wsgi_handler import RequestDispatcher


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main() -> None:
    home, port = sys.argv[1], int(sys.argv[2])
    server = make_server(
        "127.0.0.1",
        port,
        RequestDispatcher(home),
        server_class=ThreadingWSGIServer,
        handler_class=WSGIRequestHandler,  # logs each request to stderr: the server's log
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
