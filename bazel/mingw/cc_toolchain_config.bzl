"""A C++ toolchain that cross-compiles for Windows with Debian's mingw-w64.

Selected by `--config=mingw` (see .bazelrc and bazel/mingw/BUILD). It uses
the "-posix" flavour of the compiler, whose libstdc++ has std::thread.
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
    features = [
        feature(
            name = "mingw_flags",
            enabled = True,
            flag_sets = [
                # Bazel checks that every included header is declared; with
                # canonical system header paths gcc reports external headers
                # under paths Bazel does not recognise.
                _flags(_COMPILE_ACTIONS, [
                    "-std=c++17",
                    "-fno-canonical-system-headers",
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
        toolchain_identifier = "mingw-w64-x86_64",
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "x86_64-w64-mingw32",
        target_cpu = "x64_windows",
        target_libc = "mingw",
        compiler = "mingw-gcc",
        abi_version = "mingw",
        abi_libc_version = "mingw",
        tool_paths = [tool_path(name = k, path = _PREFIX + v) for k, v in tools.items()],
        cxx_builtin_include_directories = [
            "/usr/lib/gcc/x86_64-w64-mingw32/",
            "/usr/x86_64-w64-mingw32/include",
            "/usr/share/mingw-w64/include",
        ],
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
    attrs = {},
    provides = [CcToolchainConfigInfo],
)
