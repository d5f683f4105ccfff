#!/usr/bin/env python3
"""Prints the ratios of a benchmarks/run.sh result file, and the targets.

    python3 benchmarks/report.py benchmarks/results/latest.jsonl [--markdown]

Every ratio is mp divided by the other implementation, from one run. For a
time (unit "us") lower is better; for a rate higher is better.

Implementations: "mp" (this library), "raw" (the fastest plain code for the
workload, no library), "raw_unbuffered" (stream_64B: the previous raw, a
read() for each header and each payload), "raw_self" (spawn: posix_spawn of
the benchmark's own binary, which exits at once), "cpython", and for the
Pool "mpi"/"mpi4py". A shared-memory Pipe transport, once built, reports
its rows under the same names with impl "shm" (pingpong_64B_median,
stream_64B_msgs); until then its targets print "not built".

The second table is issue 23's: each of its rows with mp, the raw baseline
the target is measured against, CPython, and the target met or missed.
"""
import argparse
import json
import sys

# (description, numerator (name, impl), denominator (name, impl), bound):
# bound > 0 means ratio >= bound, bound < 0 means ratio <= -bound.
TARGETS = [
    ("ping-pong 64 B median RTT at most 1.15x raw",
     ("pingpong_64B_median", "mp"), ("pingpong_64B_median", "raw"), -1.15),
    ("typed small values at least 3x CPython's object stream",
     ("typed_small_msgs", "mp"), ("typed_small_msgs", "cpython"), 3.0),
    ("1 MiB stream at least 0.9x raw MB/s",
     ("stream_1MiB_bytes", "mp"), ("stream_1MiB_bytes", "raw"), 0.9),
    ("64 MiB message at least 0.8x raw MB/s",
     ("message_64MiB_bytes", "mp"), ("message_64MiB_bytes", "raw"), 0.8),
    ("spawn start+join at most 1.5x posix_spawn of the same binary",
     ("start_join_spawn_median", "mp"), ("start_join_spawn_median", "raw_self"),
     -1.5),
    ("forkserver start+join at most 2x the library's fork start+join",
     ("start_join_forkserver_median", "mp"), ("start_join_fork_median", "mp"),
     -2.0),
    ("Queue 1->1 small ints at least 10x CPython's items/s",
     ("queue_1to1_int", "mp"), ("queue_1to1_int", "cpython"), 10.0),
    ("Queue 4->4 small ints not slower than its own 1->1",
     ("queue_4to4_int", "mp"), ("queue_1to1_int", "mp"), 1.0),
]

# Issue 23's table: (workload, result name, mp impl, baseline impl and what
# it is, bound on mp/baseline as in TARGETS, target text). The Queue row
# compares the library with itself (4->4 over 1->1), CPython likewise.
ISSUE_ROWS = [
    ("64 B message stream", "stream_64B_msgs", "mp", "raw",
     "one write() per message; reader read()s 64 KiB, parses every frame",
     0.9, ">= 0.9x raw buffered"),
    ("typed small values (int, \"x\")", "typed_small_msgs", "mp", "raw",
     "hand-coded 8-byte int + 1-byte string frame, same buffered I/O",
     0.8, ">= 0.8x raw buffered"),
    ("fork start+join", "start_join_fork_median", "mp", "raw",
     "fork + _exit(0) + waitpid", -1.2, "<= 1.2x raw"),
    ("spawn start+join", "start_join_spawn_median", "mp", "raw",
     "posix_spawn(/bin/true) + waitpid", -3.0, "<= 3x raw"),
    ("spawn hello world (only //process)", "spawn_hello_world_median", "mp",
     "raw", "posix_spawn(/bin/true) + waitpid", -3.0, "<= 3x raw"),
    ("Wait() over 100 pipes (round via a child)", "wait_100_median", "mp",
     "raw", "poll() on a prebuilt pollfd array", -1.2, "<= 1.2x raw"),
    ("Wait() over 100 pipes (one call, one ready)", "wait_100_ready_median",
     "mp", "raw", "poll() on a prebuilt pollfd array", -1.2, "<= 1.2x raw"),
    ("shm Pipe: 64 B ping-pong round trip", "pingpong_64B_median", "shm",
     "raw", "socketpair, one write/one read each way", -1 / 3,
     "<= 1/3 raw"),
    ("shm Pipe: 64 B stream", "stream_64B_msgs", "shm", "raw",
     "one write() per message; buffered reader", 5.0, ">= 5x raw buffered"),
]


# Rows in this order (by name prefix); other names follow, sorted.
ORDER = ["pingpong_0B", "pingpong_64B", "pingpong_1024B", "pingpong_16384B",
         "stream_64B", "typed_small", "stream_1MiB", "message_64MiB",
         "wait_100", "start_join_fork", "start_join_spawn", "spawn_hello_world",
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

    # Other plain-code variants, and the shared-memory transport once it
    # reports, as columns of their own.
    extra = sorted({impl for _, impl in results
                    if impl.startswith("raw_") or impl == "shm"})
    cols = (["name", "unit", "mp", "raw"] + extra +
            ["cpython", "mp/raw", "mp/cpython"])
    # The Pool over MPI ranks (pool_mpi_benchmark) and mpi4py's executor.
    mpi = any(impl in ("mpi", "mpi4py") for _, impl in results)
    if mpi:
        cols += ["mpi", "mpi4py", "mpi/mp", "mpi/mpi4py"]
    rows = []
    for name in names:
        unit = next(results[k][1] for k in results if k[0] == name)
        get = lambda impl: results.get((name, impl), (None,))[0]
        row = ([name, unit, fmt(get("mp")), fmt(get("raw"))] +
               [fmt(get(impl)) for impl in extra] +
               [fmt(get("cpython")),
               fmt(ratio(results, (name, "mp"), (name, "raw"))),
               fmt(ratio(results, (name, "mp"), (name, "cpython")))])
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

    issue_cols = ["issue 23 workload", "unit", "mp", "raw", "cpython",
                  "mp/raw", "target", "", "raw is"]
    issue = issue_rows(results)
    if args.markdown:
        if header:
            print(f"Run: {header}\n")
        table(cols, rows, markdown=True)
        print()
        table(["target", "ratio", ""], targets, markdown=True)
        print()
        table(issue_cols, issue, markdown=True)
    else:
        if header:
            print(header)
        table(cols, rows)
        print()
        table(["target", "ratio", ""], targets)
        print()
        table(issue_cols, issue)
    return 0


def issue_rows(results):
    """Issue 23's table: mp (or shm), its baseline, CPython, the target."""
    rows = []
    for text, name, impl, base, what, bound, target in ISSUE_ROWS:
        unit = next((results[k][1] for k in results if k[0] == name), "")
        get = lambda i: results.get((name, i), (None,))[0]
        if (name, impl) not in results:
            status = "not built" if impl == "shm" else "no result"
            rows.append([text, unit, "", fmt(get(base)), "", "", target,
                         status, what])
            continue
        r = ratio(results, (name, impl), (name, base))
        ok = None if r is None else (r >= bound if bound > 0 else r <= -bound)
        rows.append([text + ("" if impl == "mp" else f" [{impl}]"), unit,
                     fmt(get(impl)), fmt(get(base)),
                     "" if impl == "shm" else fmt(get("cpython")), fmt(r),
                     target, "no result" if ok is None else "met" if ok else "MISSED",
                     what])
    # The Queue compares the library with itself.
    r = ratio(results, ("queue_4to4_int", "mp"), ("queue_1to1_int", "mp"))
    c = ratio(results, ("queue_4to4_int", "cpython"),
              ("queue_1to1_int", "cpython"))
    rows.append(["Queue 4->4 ints vs its own 1->1", "x", fmt(r), "",
                 fmt(c), fmt(r), ">= 1.0x",
                 "no result" if r is None else "met" if r >= 1.0 else "MISSED",
                 "(the library's own 1->1; CPython: its 4->4/1->1)"])
    return rows


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
