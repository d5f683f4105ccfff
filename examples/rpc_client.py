#!/usr/bin/env python3
"""Calls the C++ adder server of rpc_over_listener.cc with CPython's own
multiprocessing.connection.Client and prints the two answers.

    rpc_client.py ADDRESS AUTHKEY

ADDRESS as the server printed it: a Unix socket path or "host:port".
"""
import sys
from multiprocessing.connection import Client


def main():
    address, authkey = sys.argv[1], sys.argv[2].encode()
    if not address.startswith("/"):
        host, _, port = address.rpartition(":")
        address = (host, int(port))
    with Client(address, authkey=authkey) as conn:
        for request in (b"add 3 4", b'add "hello" "world"'):
            conn.send_bytes(request)
            print(conn.recv_bytes().decode())


if __name__ == "__main__":
    main()
