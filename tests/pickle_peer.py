"""The Python side of pickle_interop_test: CPython's own Connection (send,
recv, pickle) on a descriptor inherited from the C++ test.

1. C++ sends values with Send<T>(); each is checked against TO_PYTHON here,
   strictly (same type, same value, nan == nan, -0.0 != 0.0), and answered
   with 'ok' or a description of the difference.
2. Python sends FROM_PYTHON with send(); the C++ side checks each.
3. Python sends pickle.dumps(v, protocol=p) for p in 2..5 with send_bytes.
4. Python sends (value, repr(value)) pairs: C++ compares PyValue::Repr().
5. C++ sends a raw Encode() result; pickle.loads reads it and it is echoed.
"""
import math
import pickle
import sys
from multiprocessing.connection import Connection

MIB16 = bytes(range(256)) * (16 << 12)  # 16 MiB, every byte value

# What the C++ side sends, in order (tests/pickle_interop_test.cc).
TO_PYTHON = [
    -128, 127, 255, -32768, 32767, 65535, -2**31, 2**31 - 1, 2**32 - 1,
    -2**63, 2**63 - 1, 2**64 - 1, -2**127, 2**127 - 1, 2**100, 65,
    True, False,
    1.5, float("inf"), float("-inf"), float("nan"), -0.0, 0.25,
    "h\u00e9llo \u2713 \U0001f600", "",
    b"\x00\xff", b"", MIB16, b"\x01\x02",
    [1, 2, 3], [4, 5], [],
    (7, "seven"), (1, 2.5, "x"), (),
    {"a": 1, "b": 2}, {1: "one"}, {},
    {1, 2, 3}, {"x"}, set(),
    {"k": [(1, None), (2, "y")]},
    None, 5, None, "alt",
    (1, 2, "p"),
    b"\n\x01n\x10\x07",
    {(1, 2): frozenset({3}), "list": [None, True, b"b", 1.0]},
    {frozenset({1, 2}): 1}, {(1, 2): 3},
]

FROM_PYTHON = [
    -2**63, 2**63 - 1, 2**64 - 1, 2**100, -2**127, 2**200, 255, 256, -1,
    True, 1.5, float("inf"), float("nan"), -0.0, 3,
    "h\u00e9llo \u2713 \U0001f600", "",
    b"\x00\xff", b"", MIB16,
    [1, 2, 3], (4, 5), [1, "x"], [],
    {"a": 1}, {1: "x"}, {1, 2}, frozenset({3}), {}, set(), frozenset(),
    {"k": [(1, None), (2, "y")]},
    None, 5, "x",
    (1, 2, "p"),
    b"\n\x04item\x10\xd2\t",
    {"any": [1, (2.5, b"z"), {3: None}, {frozenset({4})}]},
    bytearray(b"ab"),
]

PROTOCOL_VALUES = [
    42, -2**63, 2**100, 1.5, "h\u00e9llo", b"\x00b", (1, "a"), [1, [2]],
    {"a": (1, 2)}, {1, 2}, frozenset({3}), None, True, bytearray(b"ab"),
    [[1, 2]] * 3,
]

REPR_VALUES = [
    None, True, -7, 2**100, 1.5, 1e22, 1e-7, float("inf"), -0.0, 0.1, "it's",
    "a\"b'c", "tab\there\n", b"\x00\xffA'", (1,), (), [1, "a", None],
    {"a": [1, 2]}, set(), frozenset(), {1}, frozenset({2}), ((1, 2), [3]),
    "h\u00e9llo \u2713 \U0001f600",
]


def same(a, b):
    """Strict equality: types match all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def short(v):
    r = repr(v)
    return r if len(r) < 200 else r[:200] + "..."


def main():
    conn = Connection(int(sys.argv[1]))
    # 1. C++ -> Python.
    for i, expected in enumerate(TO_PYTHON):
        got = conn.recv()
        if same(got, expected):
            conn.send("ok")
        else:
            conn.send(f"#{i}: expected {short(expected)}, got {short(got)}")
    # 2. Python -> C++.
    for v in FROM_PYTHON:
        conn.send(v)
    # 3. Each protocol.
    for p in (2, 3, 4, 5):
        for v in PROTOCOL_VALUES:
            conn.send_bytes(pickle.dumps(v, protocol=p))
    # 4. repr.
    conn.send(len(REPR_VALUES))
    for v in REPR_VALUES:
        conn.send((v, repr(v)))
    # 5. A raw pickle from C++'s Encode, loaded by pickle.loads.
    raw = conn.recv_bytes()
    conn.send(pickle.loads(raw))
    if conn.recv() != "done":
        return 4
    try:
        conn.recv_bytes()
    except EOFError:
        return 0
    return 3


if __name__ == "__main__":
    sys.exit(main())
