#!/usr/bin/env python3
"""CPython's multiprocessing.Queue on queue_benchmark.cc's workloads (fork
context): P producers put N items, C consumers get them, items/s from "go"
(once every process runs) to the last join, median of 3, JSON lines with
impl "cpython".
"""
import argparse
import json
import multiprocessing
import statistics
import time


def consume(q, ready):
    ready.put(1)
    while True:
        item = q.get()
        if item is None:
            return


def produce(q, ready, go, n, item):
    ready.put(1)
    go.get()
    for i in range(n):
        if item is None:
            q.put(i)
        else:
            digits = str(i)
            q.put(digits + item[len(digits):])


def items_per_second(ctx, producers, consumers, items, item):
    q = ctx.Queue()
    # Ready/go: the clock starts once every process runs.
    ready, go = ctx.SimpleQueue(), ctx.SimpleQueue()
    cs = [ctx.Process(target=consume, args=(q, ready)) for _ in range(consumers)]
    ps = [ctx.Process(target=produce, args=(q, ready, go, items // producers, item))
          for _ in range(producers)]
    for p in cs + ps:
        p.start()
    for _ in cs + ps:
        ready.get()
    start = time.perf_counter()
    for _ in ps:
        go.put(1)
    for p in ps:
        p.join()
    for _ in cs:
        q.put(None)
    for p in cs:
        p.join()
    return items / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    n = 20000 if args.quick else 400000
    ctx = multiprocessing.get_context("fork")
    for p, c in ((1, 1), (4, 1), (4, 4)):
        for name, item, count in (("int", None, n), ("1KiB", "x" * 1024, n // 4)):
            bench = f"queue_{p}to{c}_{name}"
            if args.only not in bench:
                continue
            runs = [items_per_second(ctx, p, c, count, item) for _ in range(5)]
            print(json.dumps({"name": bench,
                              "value": round(statistics.median(runs)),
                              "unit": "items/s", "impl": "cpython"}), flush=True)


if __name__ == "__main__":
    main()
