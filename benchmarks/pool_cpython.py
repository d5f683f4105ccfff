#!/usr/bin/env python3
"""CPython's multiprocessing.Pool (fork context) on the workloads of
pool_benchmark.cc. Prints JSON lines with impl "cpython" (medians and 99th
percentiles in us): pool_map_100k, pool_tasks_1ms, pool_start_close_join.
"""
import multiprocessing
import os
import sys
import time

# pool_harness.py lies beside this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pool_harness  # noqa: E402
from pool_harness import measure  # noqa: E402

report = pool_harness.reporter("cpython")


def square(x):
    return x * x


def sleep_one_ms(x):
    time.sleep(0.001)
    return x


def main():
    seconds, runs = pool_harness.parse_args(__doc__)
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
