#!/usr/bin/env python3
"""Prints the ratios of a benchmarks/run.sh result file, and the targets.

    python3 benchmarks/report.py benchmarks/results/latest.jsonl [--markdown]

Every ratio is mp divided by the other implementation, from one run. For a
time (unit "us") lower is better; for a rate higher is better.
"""
import argparse
import json
import sys

# (description, numerator (name, impl), denominator (name, impl), bound):
# bound > 0 means ratio >= bound, bound < 0 means ratio <= -bound.
TARGETS = [
    ("ping-pong 64 B median RTT at most 1.15x raw",
     ("pingpong_64B_median", "mp"), ("pingpong_64B_median", "raw"), -1.15),
    ("64 B stream at least 0.9x raw msgs/s",
     ("stream_64B_msgs", "mp"), ("stream_64B_msgs", "raw"), 0.9),
    ("typed small values at least 0.8x the raw 64 B stream",
     ("typed_small_msgs", "mp"), ("stream_64B_msgs", "raw"), 0.8),
    ("typed small values at least 3x CPython's object stream",
     ("typed_small_msgs", "mp"), ("typed_small_msgs", "cpython"), 3.0),
    ("1 MiB stream at least 0.9x raw MB/s",
     ("stream_1MiB_bytes", "mp"), ("stream_1MiB_bytes", "raw"), 0.9),
    ("64 MiB message at least 0.8x raw MB/s",
     ("message_64MiB_bytes", "mp"), ("message_64MiB_bytes", "raw"), 0.8),
    ("fork start+join at most 1.2x raw fork+waitpid",
     ("start_join_fork_median", "mp"), ("start_join_fork_median", "raw"), -1.2),
    ("spawn start+join at most 1.5x raw posix_spawn+waitpid",
     ("start_join_spawn_median", "mp"), ("start_join_spawn_median", "raw"), -1.5),
    ("forkserver start+join at most 2x the library's fork start+join",
     ("start_join_forkserver_median", "mp"), ("start_join_fork_median", "mp"),
     -2.0),
    ("Queue 1->1 small ints at least 10x CPython's items/s",
     ("queue_1to1_int", "mp"), ("queue_1to1_int", "cpython"), 10.0),
    ("Queue 4->4 small ints not slower than its own 1->1",
     ("queue_4to4_int", "mp"), ("queue_1to1_int", "mp"), 1.0),
]


# Rows in this order (by name prefix); other names follow, sorted.
ORDER = ["pingpong_0B", "pingpong_64B", "pingpong_1024B", "pingpong_16384B",
         "stream_64B", "typed_small", "stream_1MiB", "message_64MiB",
         "wait_100", "start_join_fork", "start_join_spawn",
         "start_join_forkserver", "queue_1to1",
         "queue_4to1", "queue_4to4"]


def row_order(name):
    for i, prefix in enumerate(ORDER):
        if name.startswith(prefix + "_") or name == prefix:
            return (i, name)
    return (len(ORDER), name)


def load(path):
    results = {}
    header = ""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                header = line[1:].strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            results[(r["name"], r["impl"])] = (r["value"], r["unit"])
    return header, results


def ratio(results, a, b):
    if a not in results or b not in results or not results[b][0]:
        return None
    return results[a][0] / results[b][0]


def fmt(x):
    return "" if x is None else f"{x:.3g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results")
    parser.add_argument("--markdown", action="store_true",
                        help="print Markdown tables (for the README)")
    args = parser.parse_args()
    header, results = load(args.results)
    names = sorted({name for name, _ in results}, key=row_order)

    cols = ["name", "unit", "mp", "raw", "cpython", "mp/raw", "mp/cpython"]
    # The Pool over MPI ranks (pool_mpi_benchmark) and mpi4py's executor.
    mpi = any(impl in ("mpi", "mpi4py") for _, impl in results)
    if mpi:
        cols += ["mpi", "mpi4py", "mpi/mp", "mpi/mpi4py"]
    rows = []
    for name in names:
        unit = next(results[k][1] for k in results if k[0] == name)
        get = lambda impl: results.get((name, impl), (None,))[0]
        row = [name, unit, fmt(get("mp")), fmt(get("raw")),
               fmt(get("cpython")),
               fmt(ratio(results, (name, "mp"), (name, "raw"))),
               fmt(ratio(results, (name, "mp"), (name, "cpython")))]
        if mpi:
            row += [fmt(get("mpi")), fmt(get("mpi4py")),
                    fmt(ratio(results, (name, "mpi"), (name, "mp"))),
                    fmt(ratio(results, (name, "mpi"), (name, "mpi4py")))]
        rows.append(row)

    targets = []
    for text, a, b, bound in TARGETS:
        r = ratio(results, a, b)
        if r is None:
            continue
        ok = r >= bound if bound > 0 else r <= -bound
        targets.append([text, f"{r:.3g}", "met" if ok else "MISSED"])

    if args.markdown:
        if header:
            print(f"Run: {header}\n")
        table(cols, rows, markdown=True)
        print()
        table(["target", "ratio", ""], targets, markdown=True)
    else:
        if header:
            print(header)
        table(cols, rows)
        print()
        table(["target", "ratio", ""], targets)
    return 0


def table(cols, rows, markdown=False):
    if markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---" for _ in cols) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(str(x)) for x in [c] + [r[i] for r in rows])
              for i, c in enumerate(cols)]
    for r in [cols] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
