#!/usr/bin/env python3
"""Draws a benchmarks/run.sh result file as a PNG: for each workload, this
library's result relative to raw POSIX and to CPython (log scale; above 1
means mp is better, whether the unit is a time or a rate).

    python3 benchmarks/chart.py benchmarks/results/latest.jsonl out.png

Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import os
import sys

try:
    import matplotlib
except ImportError:
    # Debian's matplotlib belongs to Debian's python3; another python3 (a
    # pyenv one, say) may come first on PATH.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("chart.py needs matplotlib: apt-get install python3-matplotlib")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402


def speedup(results, name, ours, other):
    """How many times better `ours` is than `other` on `name` (>1: ours
    wins)."""
    r = report.ratio(results, (name, ours), (name, other))
    if r is None:
        return None
    unit = results[(name, ours)][1]
    return 1 / r if unit in ("ns", "us", "ms", "s") else r


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    header, results = report.load(sys.argv[1])
    # One bar pair per workload: skip p99 (medians tell the story) and the
    # message rate of workloads that also report bytes.
    all_names = sorted({name for name, _ in results}, key=report.row_order)
    names = [n for n in all_names if not n.endswith("_p99") and not (
        n.endswith("_msgs") and n[:-len("_msgs")] + "_bytes" in all_names)]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(names) + 1.5))
    y = range(len(names))
    # The shared-memory Pipe (impl "shm") against the same raw code.
    for offset, ours, other, color in ((-0.27, "mp", "raw", "tab:gray"),
                                       (0, "mp", "cpython", "tab:blue"),
                                       (0.27, "shm", "raw", "tab:orange")):
        values = [speedup(results, n, ours, other) or 0 for n in names]
        ax.barh([i + offset for i in y], values, height=0.27, color=color,
                label=f"{ours} vs {other}")
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(list(y))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("times better than the other implementation (log scale)")
    ax.set_title(header or "multiprocessing for C++", fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)
    print(f"wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
