#!/usr/bin/env python3
"""Process start + join on CPython (fork, spawn and, where it exists,
forkserver contexts), the counterpart of process_benchmark.cc. Prints JSON
lines with impl "cpython": start_join_<method>_median / _p99 in us.
"""
import argparse
import json
import multiprocessing
import time


def noop():
    pass


def measure(ctx, seconds, min_runs):
    took = []
    total = 0.0
    while total < seconds or len(took) < min_runs:
        start = time.perf_counter()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        d = time.perf_counter() - start
        took.append(d)
        total += d
    took.sort()
    return took[len(took) // 2] * 1e6, took[len(took) * 99 // 100] * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 0.1 if args.quick else 2.0
    methods = [m for m in ("fork", "spawn", "forkserver")
               if m in multiprocessing.get_all_start_methods()]
    for method in methods:
        median, p99 = measure(multiprocessing.get_context(method), seconds,
                              3 if args.quick else 20)
        for name, value in (("median", median), ("p99", p99)):
            print(json.dumps({"name": f"start_join_{method}_{name}",
                              "value": round(value, 3), "unit": "us",
                              "impl": "cpython"}), flush=True)


if __name__ == "__main__":
    main()
