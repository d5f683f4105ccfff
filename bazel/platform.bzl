"""Per-OS sources for the platform layer."""

def os_srcs(concept):
    """`concept`_win.cc on Windows, `concept`_posix.cc elsewhere."""
    return select({
        "@platforms//os:windows": [concept + "_win.cc"],
        "//conditions:default": [concept + "_posix.cc"],
    })

# local_defines of every target with Windows sources: <windows.h> without
# the min/max macros that MSVC's would define (they break std::min/max).
WINDOWS_DEFINES = select({
    "@platforms//os:windows": ["NOMINMAX"],
    "//conditions:default": [],
})

def _windows_incompatible():
    return select({
        "@platforms//os:windows": ["@platforms//:incompatible"],
        "//conditions:default": [],
    })

# For target_compatible_with. POSIX_ONLY: the target is POSIX by nature
# (signals, fork, zombies, raw socketpair benchmarks), so `bazel test
# --config=mingw //...` skips it. NOT_YET_ON_WINDOWS: the Windows port of
# what it needs is still to be written (README "Windows" lists them).
POSIX_ONLY = _windows_incompatible()
NOT_YET_ON_WINDOWS = _windows_incompatible()
