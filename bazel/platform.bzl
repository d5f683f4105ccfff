"""Per-OS sources for the platform layer."""

def os_srcs(concept):
    """`concept`_win.cc on Windows, `concept`_posix.cc elsewhere."""
    return select({
        "@platforms//os:windows": [concept + "_win.cc"],
        "//conditions:default": [concept + "_posix.cc"],
    })

# local_defines of every target with Windows sources, the same under every
# Windows compiler (mingw-w64's and MSVC's toolchains each define some of
# these their own way, MSVC's Bazel toolchain _WIN32_WINNT=0x0601): the W
# functions as the plain names, the Windows 10 API, <windows.h> without the
# min/max macros (they break std::min/max) and without the rarely used
# headers, among them the old <winsock.h>, which clashes with <winsock2.h>
# when included first.
WINDOWS_DEFINES = select({
    "@platforms//os:windows": [
        "NOMINMAX",
        "UNICODE",
        "WIN32_LEAN_AND_MEAN",
        "_UNICODE",
        "_WIN32_WINNT=0x0A00",
    ],
    "//conditions:default": [],
})

def windows_linkopts(libraries, elsewhere = []):
    """linkopts naming Windows system libraries (["ws2_32"]) for each linker.

    MSVC's and clang-cl's link.exe take `/DEFAULTLIB:ws2_32.lib`, gcc's and
    clang's mingw-w64 drivers `-lws2_32`; `elsewhere` is what other systems
    get.
    """
    return select({
        "//bazel:msvc": ["/DEFAULTLIB:%s.lib" % lib for lib in libraries],
        "//bazel:clang_cl": ["/DEFAULTLIB:%s.lib" % lib for lib in libraries],
        "@platforms//os:windows": ["-l" + lib for lib in libraries],
        "//conditions:default": elsewhere,
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
