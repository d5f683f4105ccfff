"""CPython's side of shared_memory/python_interop_test.cc.

attach NAME: attaches to a segment C++ created, checks b"from c++" at 0,
  writes b"from python" at 100, exits 0.
create NAME: creates NAME (100 bytes) with b"from python", waits until C++
  writes 1 at offset 50, then closes and unlinks it, exits 0.
"""
import sys
import time
from multiprocessing import resource_tracker, shared_memory


def main():
    mode, name = sys.argv[1], sys.argv[2]
    if mode == "attach":
        shm = shared_memory.SharedMemory(name=name)
        # CPython 3.11 registers attached segments with its resource tracker,
        # which would unlink C++'s segment when this process exits (a known
        # CPython bug, fixed by track=False in 3.13): not ours to unlink.
        resource_tracker.unregister(shm._name, "shared_memory")
        if bytes(shm.buf[:8]) != b"from c++":
            return 1
        if shm.size < 4096:
            return 2
        shm.buf[100:111] = b"from python"
        shm.close()
        return 0
    shm = shared_memory.SharedMemory(name=name, create=True, size=100)
    shm.buf[:11] = b"from python"
    deadline = time.time() + 30
    while shm.buf[50] != 1:
        if time.time() > deadline:
            return 3
        time.sleep(0.005)
    shm.close()
    shm.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
