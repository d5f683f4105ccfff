"""The Python side of python_listener_test: CPython's own Listener and
Client, talking to mp::Client and mp::Listener.

    python_listener_peer.py client ADDRESS KEY
        connects with Client(address, authkey=KEY) and echoes every message
        until EOF.
    python_listener_peer.py listener ADDRESS KEY READY_FILE
        listens with Listener(address, authkey=KEY), writes the bound
        address to READY_FILE, accepts one client and echoes until EOF.

ADDRESS is mp's spelling: a Unix path, "host:port" or "[v6]:port".
Exit codes: 0 after EOF, 3 on AuthenticationError.
"""
import os
import socket
import sys
from multiprocessing.connection import AuthenticationError, Client, Listener


def parse(address):
    """mp's address string -> (Python address, family)."""
    if address.startswith("/"):
        return address, "AF_UNIX"
    host, _, port = address.rpartition(":")
    if host.startswith("["):
        return (host[1:-1], int(port)), "AF_INET6"
    return (host, int(port)), "AF_INET"


def spell(address, family):
    """Python's bound address -> mp's spelling."""
    if family == "AF_UNIX":
        return address
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if family == "AF_INET6" else f"{host}:{port}"


def echo(conn):
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        return 0


def main():
    mode, address, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    address, family = parse(address)
    try:
        if mode == "client":
            return echo(Client(address, family=family, authkey=key))
        with Listener(address, family=family, authkey=key) as listener:
            ready = sys.argv[4]
            with open(ready + ".tmp", "w") as f:
                f.write(spell(listener.address, family))
            os.rename(ready + ".tmp", ready)
            return echo(listener.accept())
    except AuthenticationError as e:
        print(f"python: AuthenticationError: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
