#!/usr/bin/env python3
"""mpi4py's MPIPoolExecutor on the workloads of pool_mpi_benchmark.cc, with 4
worker ranks. Run it as the pool's MPI job (benchmarks/run.sh does):

    mpirun -np 5 python3 -m mpi4py.futures benchmarks/pool_mpi4py.py

Rank 0 runs this script; ranks 1-4 are the executor's workers. Prints JSON
lines with impl "mpi4py" (medians and 99th percentiles in us):
pool4_map_100k, pool4_tasks_1ms. map() is given the chunksize that
Python's Pool (and mp::Pool) picks by default, len / (4 * workers) rounded
up, since MPIPoolExecutor.map's own default (1) would send 100,000 messages.
"""
import os
import sys
import time

from mpi4py.futures import MPIPoolExecutor

# pool_harness.py lies beside this script (also when mpi4py.futures runs it).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pool_harness  # noqa: E402
from pool_harness import measure  # noqa: E402

report = pool_harness.reporter("mpi4py")

WORKERS = 4


def square(x):
    return x * x


def sleep_one_ms(x):
    time.sleep(0.001)
    return x


def default_chunksize(n, workers):
    chunksize, extra = divmod(n, workers * 4)
    return chunksize + 1 if extra else max(chunksize, 1)


def main():
    seconds, runs = pool_harness.parse_args(__doc__)
    data = list(range(100000))
    tasks = list(range(1000))
    with MPIPoolExecutor(max_workers=WORKERS) as executor:
        def map_all(f, items):
            return list(executor.map(
                f, items, chunksize=default_chunksize(len(items), WORKERS)))
        assert map_all(square, data)[99999] == 99999 * 99999
        report("pool4_map_100k",
               *measure(lambda: map_all(square, data), seconds, runs))
        assert len(map_all(sleep_one_ms, tasks)) == 1000
        report("pool4_tasks_1ms",
               *measure(lambda: map_all(sleep_one_ms, tasks), seconds, runs))


if __name__ == "__main__":
    main()
