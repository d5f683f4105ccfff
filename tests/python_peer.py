"""The Python side of python_interop_test: CPython's own Connection on a
descriptor inherited from the C++ test.

It echoes every message the C++ side sends until an empty-marker protocol
switch, then sends its own messages, then expects EOF.
"""
import sys
from multiprocessing.connection import Connection


def pattern(n, seed):
    return bytes((i * 31 + seed) % 256 for i in range(min(n, 4096))) * (n // 4096) + \
        bytes((i * 31 + seed) % 256 for i in range(n % 4096))


def main():
    conn = Connection(int(sys.argv[1]))
    # 1. Echo what C++ sends until it says "switch".
    while True:
        msg = conn.recv_bytes()
        if msg == b"switch":
            break
        conn.send_bytes(msg)
    # 2. Python speaks first: empty, small, 16 MiB, and a slice of a buffer.
    conn.send_bytes(b"")
    conn.send_bytes(b"from python")
    conn.send_bytes(pattern(16 << 20, 7))
    conn.send_bytes(b"0123456789", 2, 5)
    # 3. C++ closes its end: CPython must see EOFError.
    try:
        conn.recv_bytes()
    except EOFError:
        return 0
    return 3


if __name__ == "__main__":
    sys.exit(main())
