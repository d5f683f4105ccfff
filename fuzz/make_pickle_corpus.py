#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/pickle_fuzzer.cc: CPython's own pickles.

    python3 fuzz/make_pickle_corpus.py [DIR]      # default fuzz/corpus/pickle
    python3 fuzz/make_pickle_corpus.py --cpp      # the refused-opcode pickles
                                                  # as C++ literals for
                                                  # tests/pickle_safety_test.cc

Each seed is one pickle as pickle.dumps() writes it, named
p<protocol>_<what>: many types, nested and memo-heavy values, batched
containers (over 1000 items), framed protocol 4/5 pickles, protocols 0 and 1
(which we mostly refuse: their str opcodes), and code-running pickles
(GLOBAL, REDUCE, STACK_GLOBAL, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, PERSID,
BINPERSID, EXT1/2/4) that must be refused. The output is deterministic
(the script re-runs itself with PYTHONHASHSEED=0, so sets keep their order).
"""
import copyreg
import io
import os
import pickle
import sys

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)


class Evil:
    """Its unpickling would run os.system (REDUCE of a GLOBAL)."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Plain:
    """A plain instance: NEWOBJ + BUILD in protocol 2 and up."""

    def __init__(self):
        self.a = 1


class WithKwargs:
    """NEWOBJ_EX: __getnewargs_ex__ with keyword arguments (protocol 4)."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __getnewargs_ex__(self):
        return ((1,), {"k": 2})


class Ext:
    """Registered as a copyreg extension: pickled as EXT1/EXT2/EXT4."""


class Ext2:
    pass


class Ext4:
    pass


class PersistentPickler(pickle.Pickler):
    """Pickles every str as a persistent id (PERSID / BINPERSID)."""

    def persistent_id(self, obj):
        return "pid" if isinstance(obj, str) else None


def persistent(obj, protocol):
    out = io.BytesIO()
    PersistentPickler(out, protocol=protocol).dump(obj)
    return out.getvalue()


def ext(cls, code):
    copyreg.add_extension(__name__, cls.__name__, code)
    try:
        return pickle.dumps(cls, protocol=2)
    finally:
        copyreg.remove_extension(__name__, cls.__name__, code)


def values():
    """(name, value) pairs of data pickles."""
    shared = [1, 2, 3]
    text = "shared text"
    recursive = []
    recursive.append(recursive)
    deep = 0
    for _ in range(50):
        deep = [deep]
    yield from [
        ("none", None),
        ("true", True),
        ("false", False),
        ("int_0", 0),
        ("int_1", 1),
        ("int_m1", -1),
        ("int_255", 255),
        ("int_256", 256),
        ("int_65535", 65535),
        ("int_65536", 65536),
        ("int32_max", 2**31 - 1),
        ("int32_min", -(2**31)),
        ("int64_max", 2**63 - 1),
        ("int64_min", -(2**63)),
        ("uint64_max", 2**64 - 1),
        ("int_2_100", 2**100),
        ("int128_min", -(2**127)),
        ("int128_max", 2**127 - 1),
        ("int_2_127", 2**127),
        ("int_2_200", 2**200),
        ("float_0", 0.0),
        ("float_m0", -0.0),
        ("float_1_5", 1.5),
        ("float_inf", float("inf")),
        ("float_minf", float("-inf")),
        ("float_nan", float("nan")),
        ("float_big", 1e308),
        ("float_tiny", 5e-324),
        ("str_empty", ""),
        ("str_a", "a"),
        ("str_unicode", "h\u00e9llo \u2713 \U0001f600"),
        ("str_long", "x" * 300),
        ("str_quotes", "it's \"quoted\"\n\t\\"),
        ("str_surrogate", "\ud800"),
        ("bytes_empty", b""),
        ("bytes_bin", b"\x00\xff\x80'"),
        ("bytes_long", b"y" * 300),
        ("bytearray", bytearray(b"ab")),
        ("tuple_0", ()),
        ("tuple_1", (1,)),
        ("tuple_2", (1, "two")),
        ("tuple_3", (1, 2.0, None)),
        ("tuple_4", (1, 2, 3, 4)),
        ("list_empty", []),
        ("list_ints", [1, 2, 3]),
        ("list_mixed", [None, True, 1, 1.0, "s", b"b", (), [], {}]),
        ("list_1100", list(range(1100))),
        ("dict_empty", {}),
        ("dict_str", {"a": 1, "b": [2]}),
        ("dict_int", {1: "a", 2: (3, 4), -5: None}),
        ("dict_tuple_keys", {(1, 2): "x", (): "y", ("a", (b"b",)): 3}),
        ("dict_frozenset_key", {frozenset({1, 2}): "fs"}),
        ("dict_1100", {i: i for i in range(1100)}),
        ("dict_one_and_true", {1: "one", True: "true", 1.0: "float"}),
        ("set_empty", set()),
        ("set_ints", {1, 2, 3}),
        ("set_mixed", {1, "a", (2, 3), frozenset({4})}),
        ("set_1100", set(range(1100))),
        ("frozenset_empty", frozenset()),
        ("frozenset", frozenset({1, "a"})),
        ("nested", {"k": [(1, {2: {3}}), [[[]]], {"x": (b"y", None)}]}),
        ("memo_list", [shared, shared, shared, (shared, shared)]),
        ("memo_str", (text, text, [text, text], {text: text})),
        ("memo_tuple", ((1, 2), ) * 5),
        ("recursive_list", recursive),
        ("deep_50", deep),
        ("pair", (42, "x")),
        ("pair_list", [(i, "x" * i) for i in range(20)]),
        ("framed_bytes", b"z" * 66000),
        ("framed_list", [i & 0xff for i in range(33000)]),
        ("optional_list", [None, 1, None, 2]),
    ]


def data_seeds():
    # Every value in protocol 4 (what CPython 3.8+ send()s), and in turn in
    # protocol 2, 3 or 5 as well.
    for i, (name, value) in enumerate(values()):
        for protocol in sorted({4, (2, 3, 5)[i % 3]}):
            yield f"p{protocol}_{name}", pickle.dumps(value, protocol=protocol)
    # Protocols 0 and 1 for a few values (mostly refused: STRING/UNICODE).
    for name, value in [("int_1", 1), ("int64_max", 2**63 - 1),
                        ("int_2_100", 2**100), ("float_1_5", 1.5),
                        ("list_ints", [1, 2, 3]), ("dict_int", {1: 2}),
                        ("tuple_2", (1, 2)), ("none", None), ("true", True),
                        ("str_a", "a"), ("memo_list", [[1], [1]])]:
        for protocol in (0, 1):
            yield f"p{protocol}_{name}", pickle.dumps(value, protocol=protocol)


def refused_seeds():
    """(name, pickle, opcode CPython's loads would run) of refused pickles."""
    yield "global_reduce_p0", pickle.dumps(Evil(), protocol=0), "GLOBAL"
    yield "global_reduce_p2", pickle.dumps(Evil(), protocol=2), "GLOBAL"
    yield "stack_global", pickle.dumps(os.system, protocol=4), "STACK_GLOBAL"
    yield "stack_global_reduce", pickle.dumps(Evil(), protocol=4), "STACK_GLOBAL"
    # Hand-made (CPython 3 never writes them, but loads them): INST and OBJ
    # call __main__.Evil(); REDUCE / BUILD / NEWOBJ / NEWOBJ_EX applied to
    # plain data (our first refusal must be the opcode itself, not the
    # GLOBAL in front of it).
    yield "inst", b"(i__main__\nEvil\n.", "INST"
    yield "obj", b"\x80\x02(c__main__\nEvil\no.", "GLOBAL"
    yield "obj_only", b"\x80\x02(K\x01o.", "OBJ"
    yield "reduce_only", b"\x80\x02K\x01)R.", "REDUCE"
    yield "build_only", b"\x80\x02]}b.", "BUILD"
    yield "newobj_only", b"\x80\x02K\x01)\x81.", "NEWOBJ"
    yield "newobj_ex_only", b"\x80\x04K\x01)}\x92.", "NEWOBJ_EX"
    yield "newobj_build", pickle.dumps(Plain(), protocol=2), "GLOBAL"
    yield "newobj_ex", pickle.dumps(WithKwargs(), protocol=4), "STACK_GLOBAL"
    yield "persid", persistent(["a"], 0), "PERSID"
    yield "binpersid", persistent(["a"], 2), "BINPERSID"
    yield "ext1", ext(Ext, 1), "EXT1"
    yield "ext2", ext(Ext2, 300), "EXT2"
    yield "ext4", ext(Ext4, 70000), "EXT4"
    # Not code, but refused as unsupported.
    yield "unicode_p0", pickle.dumps("a", protocol=0), "UNICODE"
    yield "binstring", b"\x80\x02T\x01\x00\x00\x00a.", "BINSTRING"
    yield "short_binstring", b"\x80\x02U\x01a.", "SHORT_BINSTRING"
    yield "next_buffer", b"\x80\x05\x97.", "NEXT_BUFFER"


def cpp_literal(data):
    out = []
    for b in data:
        c = chr(b)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif 32 <= b < 127 and not (out and out[-1].startswith("\\x") and
                                    c in "0123456789abcdefABCDEF"):
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return '"' + "".join(out) + '"'


def main():
    if sys.argv[1:] == ["--cpp"]:
        for name, data, opcode in refused_seeds():
            print(f'    {{"{name}", "{opcode}",\n     std::string({cpp_literal(data)}, {len(data)})}},')
        return
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "pickle")
    os.makedirs(out, exist_ok=True)
    n = 0
    seeds = list(data_seeds()) + [(name, data) for name, data, _ in
                                  refused_seeds()]
    for name, data in seeds:
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        n += 1
    print(f"{n} seeds in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
