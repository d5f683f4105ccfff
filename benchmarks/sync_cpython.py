#!/usr/bin/env python3
"""CPython's multiprocessing on sync_benchmark.cc's workloads (fork
context), JSON lines with impl "cpython", median of 5:
lock_uncontended (ns per acquire() + release()), lock_guard_uncontended
(ns per `with lock: pass`), event_pingpong (us per round
trip with two Events), value_increment_4proc (increments/s of a Value under
its lock from 4 processes).
"""
import argparse
import json
import multiprocessing
import statistics
import time


def lock_ns(ctx, n):
    lock = ctx.Lock()
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    return (time.perf_counter() - start) * 1e9 / n


def lock_with_ns(ctx, n):
    lock = ctx.Lock()
    start = time.perf_counter()
    for _ in range(n):
        with lock:
            pass
    return (time.perf_counter() - start) * 1e9 / n


def pong(ping, pong_, n):
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong_.set()


def event_round_trip_us(ctx, n):
    ping, pong_ = ctx.Event(), ctx.Event()
    p = ctx.Process(target=pong, args=(ping, pong_, n))
    p.start()
    start = time.perf_counter()
    for _ in range(n):
        ping.set()
        pong_.wait()
        pong_.clear()
    us = (time.perf_counter() - start) * 1e6 / n
    p.join()
    return us


def increment(v, go, n):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def value_increments_per_second(ctx, n):
    v = ctx.Value("q", 0)
    go = ctx.Event()
    ps = [ctx.Process(target=increment, args=(v, go, n)) for _ in range(4)]
    for p in ps:
        p.start()
    start = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
    s = time.perf_counter() - start
    assert v.value == 4 * n
    return 4 * n / s


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("fork")
    locks = 100000 if args.quick else 1000000
    trips = 2000 if args.quick else 20000
    increments = 10000 if args.quick else 50000
    for name, unit, run in (
            ("lock_uncontended", "ns", lambda: lock_ns(ctx, locks)),
            ("lock_guard_uncontended", "ns", lambda: lock_with_ns(ctx, locks)),
            ("event_pingpong", "us", lambda: event_round_trip_us(ctx, trips)),
            ("value_increment_4proc", "ops/s",
             lambda: value_increments_per_second(ctx, increments))):
        value = statistics.median(run() for _ in range(5))
        print(json.dumps({"name": name, "value": round(value, 4), "unit": unit,
                          "impl": "cpython"}), flush=True)


if __name__ == "__main__":
    main()
