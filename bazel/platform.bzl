"""Per-OS sources for the platform layer."""

def os_srcs(concept):
    """`concept`_win.cc on Windows, `concept`_posix.cc elsewhere."""
    return select({
        "@platforms//os:windows": [concept + "_win.cc"],
        "//conditions:default": [concept + "_posix.cc"],
    })
