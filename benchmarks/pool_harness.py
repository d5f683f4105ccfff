"""The timing harness pool_cpython.py and pool_mpi4py.py share: their
command line, how a workload is timed, and the JSON lines they print
({"name", "value", "unit", "impl"}, as the C++ benchmarks do; report.py
reads them).
"""
import argparse
import json
import time


def parse_args(description):
    """Parses --quick; returns (seconds, min_runs) for measure()."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    return (0.1, 2) if args.quick else (2.0, 5)


def measure(run, seconds, min_runs):
    """Runs run() for `seconds` and at least `min_runs` times; returns the
    median and 99th percentile in us."""
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


def reporter(impl):
    """Returns report(name, median, p99): prints the two JSON lines of one
    workload for `impl`."""
    def report(name, median, p99):
        for metric, value in (("median", median), ("p99", p99)):
            print(json.dumps({"name": f"{name}_{metric}",
                              "value": round(value, 3), "unit": "us",
                              "impl": impl}), flush=True)
    return report
