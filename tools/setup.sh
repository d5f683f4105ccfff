#!/usr/bin/env bash
# Installs what building and testing this project needs on Debian 12 /
# Ubuntu: Bazel 4.2 (Debian's bazel-bootstrap), Abseil, protobuf, GoogleTest,
# Google Benchmark, OpenSSL's libcrypto, g++, clang with libFuzzer (fuzz/),
# python3 (the interoperability tests and the benchmarks talk to CPython),
# and OpenMPI with mpi4py (the Pool over MPI ranks, pool/mpi, its tests under
# mpirun, and the MPIPoolExecutor baseline of its benchmark).
# With --windows, also what the Windows build needs (README "Windows"): the
# mingw-w64 cross compiler, Wine, Skylib, and the sources of Abseil and
# protobuf (tools/fetch_sources.sh).
# Packages already installed are skipped, so a second run takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
windows=false
for arg in "$@"; do
  case $arg in
    --windows) windows=true ;;
    *) echo "usage: tools/setup.sh [--windows]" >&2; exit 2 ;;
  esac
done

packages=(
  bazel-bootstrap
  bazel-skylib
  clang-14
  libclang-rt-14-dev
  libfuzzer-14-dev
  g++
  libabsl-dev
  libbenchmark-dev
  libgmock-dev
  libgtest-dev
  libprotobuf-dev
  libopenmpi-dev
  libssl-dev
  openmpi-bin
  protobuf-compiler
  python3
  python3-mpi4py
)
if $windows; then
  packages+=(dpkg-dev g++-mingw-w64-x86-64-posix wine64)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if $windows; then
  tools/fetch_sources.sh
fi
