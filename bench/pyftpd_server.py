#!/usr/bin/env python3
"""pyftpdlib for bench/compare.py: anonymous, read-write, on 127.0.0.1.

    python3 bench/pyftpd_server.py ROOT [PORT]

Prints `listening on 127.0.0.1:PORT` as its first line (like serv), then
serves until killed. Session limits are lifted (max_cons = 0 means no
limit) and the listen backlog raised to serv's 1024, so 1,000 concurrent
sessions are not refused by configuration. Logging is at WARNING, as serv
runs with -q and vsftpd without xferlog.
"""
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main():
    root = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elradfmwMT")

    class Handler(FTPHandler):
        pass

    Handler.authorizer = authorizer
    Handler.banner = "pyftpdlib ready"
    server = FTPServer(("127.0.0.1", port), Handler, backlog=1024)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    print("listening on 127.0.0.1:%d" % server.address[1], flush=True)
    try:
        server.serve_forever(handle_exit=True)
    finally:
        server.close_all()


if __name__ == "__main__":
    main()
