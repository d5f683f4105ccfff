"""C++ toolchains that cross-compile for Windows with Debian's mingw-w64.

`--config=mingw` (see .bazelrc and bazel/mingw/BUILD) selects gcc, the
"-posix" flavour of the compiler, whose libstdc++ has std::thread.
`--config=mingw-clang` selects clang 14 targeting x86_64-w64-mingw32 with
the same headers and libstdc++: a second Windows compiler, which CI uses
to compile (not link) the tree with -Werror, to catch what gcc accepts and
other compilers do not.
"""

load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")
load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "artifact_name_pattern",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)

_PREFIX = "/usr/bin/x86_64-w64-mingw32-"

# gcc's mingw-w64 libstdc++ headers, which clang is pointed at (left to
# itself it would mix in the host's /usr/include).
_GCC = "/usr/lib/gcc/x86_64-w64-mingw32/12-posix"
_LIBSTDCXX = [
    _GCC + "/include/c++",
    _GCC + "/include/c++/x86_64-w64-mingw32",
    _GCC + "/include/c++/backward",
]
_CLANG_RESOURCES = "/usr/lib/llvm-14/lib/clang/"

_COMPILE_ACTIONS = [
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
]

_LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

def _flags(actions, flags):
    return flag_set(actions = actions, flag_groups = [flag_group(flags = flags)])

def _impl(ctx):
    clang = ctx.attr.compiler == "clang"
    tools = {
        "gcc": "g++-posix",
        "cpp": "cpp-posix",
        "ld": "ld",
        "ar": "ar",
        "nm": "nm",
        "objcopy": "objcopy",
        "objdump": "objdump",
        "strip": "strip",
        "gcov": "gcov-posix",
    }
    tool_paths = {k: _PREFIX + v for k, v in tools.items()}
    clang_flags = []
    if clang:
        tool_paths["gcc"] = "/usr/bin/clang++-14"
        clang_flags = ["--target=x86_64-w64-mingw32", "-nostdinc++"]
        for d in _LIBSTDCXX:
            clang_flags += ["-isystem", d]
    features = [
        feature(
            name = "mingw_flags",
            enabled = True,
            flag_sets = [
                # Bazel checks that every included header is declared; with
                # canonical system header paths gcc reports external headers
                # under paths Bazel does not recognise.
                _flags(_COMPILE_ACTIONS, clang_flags + [
                    "-std=c++17",
                ] + ([] if clang else [
                    "-fno-canonical-system-headers",
                ]) + [
                    "-D_WIN32_WINNT=0x0A00",
                    "-DWIN32_LEAN_AND_MEAN",
                    "-DNOMINMAX",
                    "-DUNICODE",
                    "-D_UNICODE",
                ]),
                # One self-contained .exe per binary (no libstdc++ DLLs to
                # ship next to it); Abseil's BUILD adds these two libraries
                # for MSVC only.
                _flags(_LINK_ACTIONS, ["-static", "-ldbghelp", "-lbcrypt"]),
            ],
        ),
        feature(
            name = "opt",
            flag_sets = [_flags(_COMPILE_ACTIONS, ["-O2", "-DNDEBUG"])],
        ),
        feature(
            name = "dbg",
            flag_sets = [_flags(_COMPILE_ACTIONS, ["-g", "-O0"])],
        ),
        feature(name = "supports_pic", enabled = False),
    ]
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "mingw-w64-x86_64-" + ctx.attr.compiler,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "x86_64-w64-mingw32",
        target_cpu = "x64_windows",
        target_libc = "mingw",
        compiler = "mingw-" + ctx.attr.compiler,
        abi_version = "mingw",
        abi_libc_version = "mingw",
        tool_paths = [tool_path(name = k, path = v) for k, v in tool_paths.items()],
        cxx_builtin_include_directories = [
            "/usr/lib/gcc/x86_64-w64-mingw32/",
            "/usr/x86_64-w64-mingw32/include",
            "/usr/share/mingw-w64/include",
        ] + ([_CLANG_RESOURCES] if clang else []),
        artifact_name_patterns = [
            _artifact("executable", "", ".exe"),
            _artifact("dynamic_library", "", ".dll"),
        ],
        features = features,
    )

def _artifact(category, prefix, extension):
    return artifact_name_pattern(
        category_name = category,
        prefix = prefix,
        extension = extension,
    )

mingw_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "compiler": attr.string(default = "gcc", values = ["gcc", "clang"]),
    },
    provides = [CcToolchainConfigInfo],
)
