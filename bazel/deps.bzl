"""Third-party dependencies of @multiprocessing, for our WORKSPACE and yours.

Call `multiprocessing_dependencies()` from a WORKSPACE. Every repository it
declares is skipped when the calling WORKSPACE already declared one of that
name (the `maybe()` idiom), so a consumer keeps its own Abseil, protobuf or
GoogleTest. See bazel/README.md for the two sources each dependency can come
from and why.
"""

# Which source the pinned dependencies come from. "upstream" (the default):
# the release archives below, checked against their sha256. "system": the
# same versions as installed by Debian 12's -dev packages, wrapped by the
# overlays in bazel/system/ (no network needed). "source": the same versions'
# sources from Debian's source packages (tools/fetch_sources.sh puts them in
# bazel/source/.trees/; GoogleTest's are in /usr/src/googletest), built by
# Bazel, with the overlays in bazel/source/ where upstream's BUILD files need
# rules we do not have; `--config=mingw` uses it, as Windows needs libraries
# compiled for Windows. Set with `--repo_env=MULTIPROCESSING_DEPS=...`.
_MODE_ENV = "MULTIPROCESSING_DEPS"

_PINNED = {
    "com_google_absl": struct(
        version = "20220623.1",
        urls = ["https://github.com/abseil/abseil-cpp/archive/refs/tags/20220623.1.tar.gz"],
        sha256 = "91ac87d30cc6d79f9ab974c51874a704de9c2647c40f6932597329a282217ba8",
        strip_prefix = "abseil-cpp-20220623.1",
    ),
    "com_google_protobuf": struct(
        version = "3.21.12",
        urls = ["https://github.com/protocolbuffers/protobuf/archive/refs/tags/v21.12.tar.gz"],
        sha256 = "22fdaf641b31655d4b2297f9981fa5203b2866f8332d3c6333f6b0107bb320de",
        strip_prefix = "protobuf-21.12",
    ),
    "com_google_googletest": struct(
        version = "1.12.1",
        urls = ["https://github.com/google/googletest/archive/refs/tags/release-1.12.1.tar.gz"],
        sha256 = "81964fe578e9bd7c94dfdb09c8e4d6e6759e19967e397dbea48d1c10e45d0df2",
        strip_prefix = "googletest-release-1.12.1",
    ),
    "bazel_skylib": struct(
        version = "1.0.3",
        urls = ["https://github.com/bazelbuild/bazel-skylib/releases/download/1.0.3/bazel-skylib-1.0.3.tar.gz"],
        sha256 = "1c531376ac7e5a180e0237938a2536de0c54d93f5c278634818e0efc952dd56c",
        strip_prefix = "",
    ),
    "com_github_google_benchmark": struct(
        version = "1.7.1",
        urls = ["https://github.com/google/benchmark/archive/refs/tags/v1.7.1.tar.gz"],
        sha256 = "6430e4092653380d9dc4ccb45a1e2dc9259d581f4866dc0759713126056bc1d7",
        strip_prefix = "benchmark-1.7.1",
    ),
}

def _here(rctx, *parts):
    # Resolves inside whichever repository this .bzl file lives in, so the
    # same macro works from our WORKSPACE and from a consumer's.
    p = rctx.path(Label("//bazel:deps.bzl")).dirname
    for part in parts:
        p = p.get_child(part)
    return p

def _link_tree(rctx, src):
    for entry in src.readdir():
        rctx.symlink(entry, entry.basename)

# Where the "source" mode finds each tree (default: bazel/source/.trees/NAME),
# and what the "system" mode links for repositories without an overlay in
# bazel/system/ (Debian's bazel-skylib package).
_SOURCE_TREES = {"com_google_googletest": "/usr/src/googletest"}
_SYSTEM_TREES = {"bazel_skylib": "/usr/share/bazel/tools/skylib"}

def _link_overlay(rctx, overlay, tree):
    """Links `overlay`'s entries, then those of `tree` it does not replace."""
    taken = {}
    if overlay.exists:
        for entry in overlay.readdir():
            rctx.symlink(entry, entry.basename)
            taken[entry.basename] = True
    for entry in tree.readdir():
        if entry.basename not in taken:
            rctx.symlink(entry, entry.basename)

def _system_tree(rctx, name):
    if name in _SYSTEM_TREES:
        return rctx.path(_SYSTEM_TREES[name])
    return _here(rctx, "system", name)

def _pinned_repository_impl(rctx):
    mode = rctx.os.environ.get(_MODE_ENV, "upstream")
    name = rctx.attr.name
    if mode == "source" and name in ["bazel_skylib", "com_github_google_benchmark"]:
        # Not built from source: Skylib is Starlark only, and the benchmarks
        # are POSIX programs.
        mode = "system"
    if mode == "system":
        _link_tree(rctx, _system_tree(rctx, name))
    elif mode == "source":
        if name in _SOURCE_TREES:
            tree = rctx.path(_SOURCE_TREES[name])
        else:
            tree = _here(rctx, "source", ".trees", name)
        if not tree.exists:
            fail("%s: no source tree at %s; run tools/fetch_sources.sh" % (name, tree))
        _link_overlay(rctx, _here(rctx, "source", name), tree)
    elif mode == "upstream":
        pin = _PINNED[rctx.attr.name]
        result = rctx.download_and_extract(
            url = pin.urls,
            sha256 = pin.sha256,
            stripPrefix = pin.strip_prefix,
            allow_fail = True,
        )
        if not result.success:
            fail(("@multiprocessing could not download %s %s from %s. " +
                  "Without network access, say where the libraries come " +
                  "from instead: --repo_env=%s=system (Debian's -dev " +
                  "packages: tools/setup.sh installs them) or " +
                  "--repo_env=%s=source (tools/fetch_sources.sh), in your " +
                  ".bazelrc; or declare @%s yourself before calling " +
                  "multiprocessing_dependencies().") %
                 (name, pin.version, pin.urls[0], _MODE_ENV, _MODE_ENV, name))
    else:
        fail("%s must be 'upstream', 'system' or 'source', not %r" % (_MODE_ENV, mode))

_pinned_repository = repository_rule(
    implementation = _pinned_repository_impl,
    environ = [_MODE_ENV],
    local = True,
)

def _shim_repository_impl(rctx):
    _link_tree(rctx, _here(rctx, "shims", rctx.attr.name))

_shim_repository = repository_rule(implementation = _shim_repository_impl, local = True)

# OpenMPI (pool/mpi): a system library, as libcrypto is, but optional. The
# rule never fails: without mpi.h the repository's :mpi target fails to build
# with a message saying what to install, so only targets that depend on it
# (the MPI pool and its tests, example and benchmark) are affected. Where
# mpi.h is: `mpicc --showme:incdirs`, else the usual directories, or
# --repo_env=MULTIPROCESSING_MPI_INCLUDE=/dir ("none": behave as without MPI).
_MPI_INCLUDE_DIRS = [
    "/usr/lib/x86_64-linux-gnu/openmpi/include",
    "/usr/lib/aarch64-linux-gnu/openmpi/include",
    "/usr/include/x86_64-linux-gnu/mpi",
    "/usr/include/aarch64-linux-gnu/mpi",
    "/usr/lib64/openmpi/include",
    "/usr/include/openmpi-x86_64",
    "/usr/include/openmpi",
    "/usr/include",
]

def _mpi_include_dir(rctx):
    override = rctx.os.environ.get("MULTIPROCESSING_MPI_INCLUDE")
    if override == "none":
        return None  # as if there were no MPI here
    candidates = [override] if override else []
    mpicc = rctx.which("mpicc")
    if mpicc and not override:
        r = rctx.execute([mpicc, "--showme:incdirs"])
        if r.return_code == 0:
            candidates += r.stdout.strip().split(" ")
    candidates += _MPI_INCLUDE_DIRS
    for d in candidates:
        if d and rctx.path(d + "/mpi.h").exists:
            return d
    return None

def _mpi_lib_dirs(rctx):
    mpicc = rctx.which("mpicc")
    if mpicc:
        r = rctx.execute([mpicc, "--showme:libdirs"])
        if r.return_code == 0:
            return [d for d in r.stdout.strip().split(" ") if d]
    return []

def _system_mpi_impl(rctx):
    include = _mpi_include_dir(rctx)
    if include == None:
        rctx.file("BUILD", """# No MPI found on this machine (no mpi.h; looked with `mpicc --showme`
# and in the usual places). Only targets that depend on @system_mpi//:mpi
# fail, with this message.
genrule(
    name = "missing",
    outs = ["mpi_missing.h"],
    cmd = "echo 'OpenMPI was not found when this repository was set up: install it (Debian: apt-get install libopenmpi-dev openmpi-bin, or tools/setup.sh), set MULTIPROCESSING_MPI_INCLUDE to the directory of mpi.h if it is elsewhere, then bazel sync --configure or bazel clean --expunge' >&2; exit 1",
)

cc_library(
    name = "mpi",
    hdrs = [":missing"],
    visibility = ["//visibility:public"],
)
""")
        return
    rctx.symlink(include, "include")
    linkopts = ["-L" + d for d in _mpi_lib_dirs(rctx)] + ["-lmpi"]
    rctx.file("BUILD", """# OpenMPI from the system: headers found at {include}.
cc_library(
    name = "mpi",
    hdrs = glob(["include/**/*.h"]),
    includes = ["include"],
    # The C API only (no libmpi_cxx, deprecated C++ bindings).
    defines = ["OMPI_SKIP_MPICXX", "MPICH_SKIP_MPICXX"],
    linkopts = {linkopts},
    visibility = ["//visibility:public"],
)
""".format(include = include, linkopts = repr(linkopts)))

_system_mpi = repository_rule(
    implementation = _system_mpi_impl,
    environ = ["MULTIPROCESSING_MPI_INCLUDE", "PATH"],
    local = True,
    configure = True,
)

def _maybe(rule, name):
    if name not in native.existing_rules():
        rule(name = name)

def multiprocessing_offline_standins():
    """Offline stand-ins for repositories Bazel 4.2 itself downloads.

    Call it first in a WORKSPACE that builds without network access (our own
    does). Bazel 4.2 fetches @platforms, @rules_cc, @rules_java and
    @remote_coverage_tools on first use; the stand-ins in bazel/shims/ are
    Bazel 4.2.3's own @platforms, and thin re-exports of its native C++ and
    Java rules. Leave this out when Bazel can download: a stand-in lacks what
    the real rule sets have beyond Bazel 4.2's native rules (rules_cc's
    toolchain helpers, rules_java's newer rules), and the coverage one makes
    `bazel coverage` unusable. Each is skipped if already declared.
    """
    for name in ["platforms", "rules_cc", "rules_java", "remote_coverage_tools"]:
        _maybe(_shim_repository, name)

def multiprocessing_dependencies():
    """Declares Abseil, protobuf, GoogleTest, Skylib and Google Benchmark, unless already declared."""
    for name in _PINNED:
        _maybe(_pinned_repository, name)
    _maybe(_system_mpi, "system_mpi")
