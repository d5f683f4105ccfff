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
import os
import time


# Each workload runs REPETITIONS times and the median of each metric is
# printed, as the C++ binary does with Google Benchmark's repetitions.
REPETITIONS = 5
_collected = {}


def emit(name, value, unit):
    _collected.setdefault((name, unit), []).append(value)


def flush():
    for (name, unit), values in _collected.items():
        values.sort()
        print(json.dumps({"name": name, "value": round(values[len(values) // 2], 6),
                          "unit": unit, "impl": "cpython"}), flush=True)
    _collected.clear()


def pin_to_cpu(cpu):
    """As PinToCpu() in bench_util.h: parent on CPU 0, child on CPU 1."""
    if (os.cpu_count() or 1) >= 2:  # not the affinity: a child inherits one CPU
        os.sched_setaffinity(0, {cpu})


def serve(handle):
    """A child's main: announces itself, then calls handle(conn) per message
    until EOF."""
    def main(conn, parent_end):
        parent_end.close()  # or EOF never comes
        pin_to_cpu(1)
        conn.send_bytes(b"")
        try:
            while True:
                handle(conn)
        except EOFError:
            pass
    return main


def _echo(conn):
    conn.send_bytes(conn.recv_bytes())


def _sink(conn):
    if not conn.recv_bytes():
        conn.send_bytes(b"")


def _typed_sink(conn):
    if conn.recv()[0] == -1:
        conn.send_bytes(b"")


echo, sink, typed_sink = serve(_echo), serve(_sink), serve(_typed_sink)


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


def wait_writer(control, writers, parent_ends):
    for c in parent_ends:  # or EOF never comes
        c.close()
    pin_to_cpu(1)
    try:
        while True:
            writers[int.from_bytes(control.recv_bytes(), "little")].send_bytes(b"x")
    except EOFError:
        pass


def wait_latency(ctx, seconds):
    """wait() over 100 idle one-way pipes, one of which a child writes to."""
    from multiprocessing.connection import wait
    pipes = [ctx.Pipe(duplex=False) for _ in range(100)]
    readers = [r for r, _ in pipes]
    writers = [w for _, w in pipes]
    control_r, control_w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=wait_writer,
                    args=(control_r, writers, readers + [control_w]))
    p.start()
    control_r.close()
    for w in writers:
        w.close()
    k = [0]

    def step():
        k[0] = (k[0] + 37) % 100
        control_w.send_bytes(k[0].to_bytes(4, "little"))  # as the C++ side
        ready = wait(readers)
        assert ready == [readers[k[0]]]
        ready[0].recv_bytes()

    took = sorted(run_for(seconds, step))
    control_w.close()
    p.join()
    emit("wait_100_median", took[len(took) // 2] * 1e6, "us")
    emit("wait_100_p99", took[len(took) * 99 // 100] * 1e6, "us")


def wait_ready(ctx, seconds):
    """One wait() call over 100 pipes, one of which holds an unread message
    (no other process involved)."""
    from multiprocessing.connection import wait
    pipes = [ctx.Pipe(duplex=False) for _ in range(100)]
    readers = [r for r, _ in pipes]
    pipes[37][1].send_bytes(b"x")

    def step():
        assert wait(readers) == [readers[37]]

    took = sorted(run_for(seconds, step))
    for r, w in pipes:
        r.close()
        w.close()
    emit("wait_100_ready_median", took[len(took) // 2] * 1e6, "us")
    emit("wait_100_ready_p99", took[len(took) * 99 // 100] * 1e6, "us")


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
    else:
        args.seconds /= REPETITIONS
    pin_to_cpu(0)  # children pin themselves to CPU 1
    ctx = multiprocessing.get_context("fork")
    stream.seconds = args.seconds
    workloads = [
        lambda size=size: pingpong(ctx, size, args.seconds)
        for size in (0, 64, 1024, 16384)
    ] + [
        lambda: bytes_stream(ctx, "stream_64B", 64, 1000),
        lambda: stream(ctx, "typed_small", typed_sink, 1000, 0,
                       lambda c, i: c.send((i, "x")),
                       lambda c: c.send((-1, ""))),
        lambda: bytes_stream(ctx, "stream_1MiB", 1 << 20, 16),
        lambda: bytes_stream(ctx, "message_64MiB", 64 << 20, 1),
        lambda: wait_latency(ctx, args.seconds),
        lambda: wait_ready(ctx, args.seconds),
    ]
    # Interleaved: every workload once, then again, REPETITIONS times.
    for _ in range(1 if args.quick else REPETITIONS):
        for run in workloads:
            run()
    flush()


if __name__ == "__main__":
    main()
