"""Per-OS sources for the platform layer."""

def os_srcs(concept):
    """`concept`_win.cc on Windows, `concept`_posix.cc elsewhere."""
    return select({
        "@platforms//os:windows": [concept + "_win.cc"],
        "//conditions:default": [concept + "_posix.cc"],
    })

# local_defines of every target with Windows sources: <windows.h> without
# the min/max macros that MSVC's would define (they break std::min/max), and
# without the rarely used headers, among them the old <winsock.h>, which
# clashes with <winsock2.h> when included first.
WINDOWS_DEFINES = select({
    "@platforms//os:windows": [
        "NOMINMAX",
        "WIN32_LEAN_AND_MEAN",
    ],
    "//conditions:default": [],
})

def _windows_incompatible():
    return select({
        "@platforms//os:windows": ["@platforms//:incompatible"],
        "//conditions:default": [],
    })

# For target_compatible_with, so `bazel test --config=mingw //...` skips the
# target. POSIX_ONLY: POSIX by nature (signals, fork, zombies, Unix sockets,
# raw socketpair benchmarks). NEEDS_CPYTHON_PEER: the test binary starts
# python3 as its peer, and there is no Windows CPython under Wine here
# (README "Windows").
POSIX_ONLY = _windows_incompatible()
NEEDS_CPYTHON_PEER = _windows_incompatible()
