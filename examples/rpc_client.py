#!/usr/bin/env python3
"""Calls the C++ adder server of rpc_over_listener.cc with CPython's own
multiprocessing.connection.Client: the seed's client code, unchanged but for
Client(address, authkey=...) in place of Pipe(). Prints the answers.

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
    client_P = Client(address, authkey=authkey)
    client_P.send((3, 4))
    print(client_P.recv())
    client_P.send(('hello', 'world'))
    print(client_P.recv())
    client_P.close()


if __name__ == "__main__":
    main()
