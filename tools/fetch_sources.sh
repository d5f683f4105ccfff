#!/usr/bin/env bash
# Fetches the sources of Abseil and protobuf that the Windows (mingw-w64)
# build compiles, from Debian's source packages: the same versions as the
# pins in bazel/deps.bzl (Abseil 20220623.1, protobuf 3.21.12) and as the
# prebuilt Linux libraries, without network access beyond Debian's mirror.
# Unpacks them to bazel/source/.trees/<repository>, which the "source" mode
# of bazel/deps.bzl links (`--config=mingw` selects that mode). /etc is not
# touched: apt reads a private deb-src list. A second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
trees=bazel/source/.trees
declare -A packages=([com_google_absl]=abseil [com_google_protobuf]=protobuf)
declare -A versions=([com_google_absl]=20220623.1 [com_google_protobuf]=3.21.12)

todo=()
for repo in "${!packages[@]}"; do
  [[ -f $trees/$repo/.version && $(<"$trees/$repo/.version") == "${versions[$repo]}" ]] || todo+=("$repo")
done
((${#todo[@]})) || exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/parts"
# deb-src entries mirroring the machine's own deb entries.
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -e $f ]] && sed 's/^Types: deb$/Types: deb-src/' "$f" >"$work/parts/$(basename "$f")"
done
if [[ -f /etc/apt/sources.list ]]; then
  sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$work/sources.list"
else
  : >"$work/sources.list"
fi
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
  -o "Dir::State::Lists=$work/lists" -o "APT::Get::Only-Source=true")
[[ $(id -u) -ne 0 ]] || apt_opts+=(-o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
for repo in "${todo[@]}"; do
  pkg=${packages[$repo]}
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only -qq "$pkg=$(apt-cache "${apt_opts[@]}" showsrc "$pkg" | sed -n "s/^Version: \(${versions[$repo]}[^ ]*\)$/\1/p" | head -n1)")
  rm -rf "${trees:?}/$repo"
  mkdir -p "$trees"
  dpkg-source --no-check -x "$work"/"${pkg}"_*.dsc "$trees/$repo" >/dev/null
  echo "${versions[$repo]}" >"$trees/$repo/.version"
  echo "fetch_sources: $pkg ${versions[$repo]} -> $trees/$repo" >&2
done
