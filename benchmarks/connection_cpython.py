#!/usr/bin/env python3
"""The workloads of connection_benchmark.cc on CPython's multiprocessing.

Standard library only, fork context. The child announces itself with an empty
message once it is ready, so process start-up stays outside the timed region.
Prints one JSON line per result with impl "cpython", under the same names as
the C++ binary.
"""
import argparse
import json
import multiprocessing
import time


def emit(name, value, unit):
    print(json.dumps({"name": name, "value": round(value, 6), "unit": unit,
                      "impl": "cpython"}), flush=True)


def echo(conn, parent_end):
    parent_end.close()  # or EOF never comes
    conn.send_bytes(b"")
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def sink(conn, parent_end):
    parent_end.close()  # or EOF never comes
    conn.send_bytes(b"")
    try:
        while True:
            if not conn.recv_bytes():
                conn.send_bytes(b"")
    except EOFError:
        pass


def typed_sink(conn, parent_end):
    parent_end.close()  # or EOF never comes
    conn.send_bytes(b"")
    try:
        while True:
            if conn.recv()[0] == -1:
                conn.send_bytes(b"")
    except EOFError:
        pass


class Peer:
    def __init__(self, ctx, role):
        self.conn, child_end = ctx.Pipe()
        self.process = ctx.Process(target=role, args=(child_end, self.conn))
        self.process.start()
        child_end.close()
        self.conn.recv_bytes()  # ready

    def close(self):
        self.conn.close()
        self.process.join()


def run_for(seconds, step):
    """Calls step() until `seconds` of its own time have passed; returns the
    list of per-call durations."""
    took = []
    total = 0.0
    while total < seconds or len(took) < 3:
        start = time.perf_counter()
        step()
        d = time.perf_counter() - start
        took.append(d)
        total += d
    return took


def pingpong(ctx, size, seconds):
    peer = Peer(ctx, echo)
    payload = b"p" * size

    def step():
        peer.conn.send_bytes(payload)
        peer.conn.recv_bytes()

    took = sorted(run_for(seconds, step))
    peer.close()
    emit(f"pingpong_{size}B_median", took[len(took) // 2] * 1e6, "us")
    emit(f"pingpong_{size}B_p99", took[len(took) * 99 // 100] * 1e6, "us")


def stream(ctx, name, role, batch, bytes_per_message, send_one, ack):
    peer = Peer(ctx, role)

    def step():
        for i in range(batch):
            send_one(peer.conn, i)
        ack(peer.conn)
        peer.conn.recv_bytes()

    took = run_for(stream.seconds, step)
    peer.close()
    rate = batch * len(took) / sum(took)
    emit(f"{name}_msgs", rate, "msgs/s")
    if bytes_per_message:
        emit(f"{name}_bytes", rate * bytes_per_message / 1e6, "MB/s")


def bytes_stream(ctx, name, size, batch):
    payload = b"s" * size
    stream(ctx, name, sink, batch, size,
           lambda c, i: c.send_bytes(payload), lambda c: c.send_bytes(b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="timed seconds per workload")
    parser.add_argument("--quick", action="store_true",
                        help="a short run for smoke tests")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 0.05
    ctx = multiprocessing.get_context("fork")
    stream.seconds = args.seconds
    for size in (0, 64, 1024, 16384):
        pingpong(ctx, size, args.seconds)
    bytes_stream(ctx, "stream_64B", 64, 1000)
    stream(ctx, "typed_small", typed_sink, 1000, 0,
           lambda c, i: c.send((i, "x")), lambda c: c.send((-1, "")))
    bytes_stream(ctx, "stream_1MiB", 1 << 20, 16)
    bytes_stream(ctx, "message_64MiB", 64 << 20, 1)


if __name__ == "__main__":
    main()
