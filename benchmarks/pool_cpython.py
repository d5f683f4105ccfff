#!/usr/bin/env python3
"""CPython's multiprocessing.Pool (fork context) on the workloads of
pool_benchmark.cc. Prints JSON lines with impl "cpython" (medians and 99th
percentiles in us): pool_map_100k, pool_tasks_1ms, pool_start_close_join.
"""
import argparse
import json
import multiprocessing
import os
import time


def square(x):
    return x * x


def sleep_one_ms(x):
    time.sleep(0.001)
    return x


def measure(run, seconds, min_runs):
    took = []
    total = 0.0
    while total < seconds or len(took) < min_runs:
        start = time.perf_counter()
        run()
        d = time.perf_counter() - start
        took.append(d)
        total += d
    took.sort()
    return took[len(took) // 2] * 1e6, took[len(took) * 99 // 100] * 1e6


def report(name, median, p99):
    for metric, value in (("median", median), ("p99", p99)):
        print(json.dumps({"name": f"{name}_{metric}", "value": round(value, 3),
                          "unit": "us", "impl": "cpython"}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 0.1 if args.quick else 2.0
    runs = 2 if args.quick else 5
    ctx = multiprocessing.get_context("fork")
    workers = os.cpu_count() or 1
    data = list(range(100000))
    with ctx.Pool(workers) as pool:
        assert pool.map(square, data)[99999] == 99999 * 99999
        report("pool_map_100k",
               *measure(lambda: pool.map(square, data), seconds, runs))
        tasks = list(range(1000))
        report("pool_tasks_1ms",
               *measure(lambda: pool.map(sleep_one_ms, tasks), seconds, runs))

    def start_close_join():
        pool = ctx.Pool(workers)
        pool.close()
        pool.join()
    report("pool_start_close_join", *measure(start_close_join, seconds, runs))


if __name__ == "__main__":
    main()
