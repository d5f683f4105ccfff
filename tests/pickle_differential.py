"""The python3 side of pickle_differential_test: CPython's pickle as the
reference for our unpickler.

    python3 tests/pickle_differential.py IN OUT

IN has one line per input: 'h' and the pickle in hex, what
mp::Decode<PyValue>() said ('ok' or a status code), and 'h' and, when ok,
the pickle mp::Encode() wrote back for the decoded PyValue in hex. Each input is loaded
with a restricted Unpickler (find_class and persistent_load raise, so
nothing is imported or run). OUT gets a line per disagreement:

    <index> MISMATCH <detail>   we accepted, and CPython refused, or loads
                                our re-encoding as a different value
    <index> PYONLY <repr>       CPython accepted what we refused

Values are compared in a canonical form that keeps types apart (1, True
and 1.0 differ; -0.0 and 0.0 differ; nan equals nan), with dicts and sets
sorted. Comparing CPython's load of the input with CPython's load of our
re-encoding absorbs what CPython itself merges (the keys 1, True and 1.0 of
one dict), which our PyValue keeps apart. A bytearray counts as bytes (we
decode it as bytes).
"""
import io
import pickle
import resource
import sys


class Refused(Exception):
    pass


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise Refused(f"global {module}.{name}")

    def persistent_load(self, pid):
        raise Refused("persistent id")


def load(data):
    return SafeUnpickler(io.BytesIO(data)).load()


class TooBig(Exception):
    pass


def canon(v, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise TooBig()
    t = type(v)
    if t is float:
        return ("float", repr(v))
    if t in (bytes, bytearray):
        return ("bytes", bytes(v))
    if t in (list, tuple):
        return (t.__name__, tuple(canon(x, budget) for x in v))
    if t is dict:
        items = [(canon(k, budget), canon(x, budget)) for k, x in v.items()]
        return ("dict", tuple(sorted(items, key=repr)))
    if t in (set, frozenset):
        return (t.__name__,
                tuple(sorted((canon(x, budget) for x in v), key=repr)))
    if t in (type(None), bool, int, str):
        return (t.__name__, v)
    raise Refused(f"unexpected type {t.__name__}")


def short(v):
    try:
        r = repr(v)
    except Exception as e:  # deep or recursive values
        r = f"<{type(v).__name__}: {type(e).__name__}>"
    return r if len(r) <= 120 else r[:120] + "..."


def main():
    # A mutated pickle must not take the machine down with it.
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    sys.setrecursionlimit(5000)
    out = open(sys.argv[2], "w")
    for index, line in enumerate(open(sys.argv[1])):
        data_hex, status, ours_hex = line.split()
        data = bytes.fromhex(data_hex[1:])
        try:
            theirs = load(data)
            error = None
        except Exception as e:  # anything CPython raises is a refusal
            error = f"{type(e).__name__}: {e}"
        if status != "ok":
            if error is None:
                print(index, "PYONLY", short(theirs).replace("\n", " "),
                      file=out)
            continue
        if error is not None:
            print(index, "MISMATCH", "CPython refused it:", error[:200],
                  file=out)
            continue
        try:
            ours = load(bytes.fromhex(ours_hex[1:]))
        except Exception as e:
            print(index, "MISMATCH", "CPython cannot load our re-encoding:",
                  f"{type(e).__name__}: {e}"[:200], file=out)
            continue
        try:
            same = canon(theirs, [1 << 20]) == canon(ours, [1 << 20])
        except (TooBig, RecursionError):
            same = False
        if not same:
            print(index, "MISMATCH", "CPython:", short(theirs), "ours:",
                  short(ours), file=out)
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
