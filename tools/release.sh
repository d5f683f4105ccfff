#!/usr/bin/env bash
# Makes the source archive of a release, the thing a user pins with
# http_archive: dist/multiprocessing-<VERSION>.tar.gz, its sha256 beside it
# (.sha256), and prints the WORKSPACE snippet the README starts its
# "Using it from your Bazel repository" section with.
#
#   tools/release.sh                 # HEAD, which must be clean
#   tools/release.sh --allow-dirty   # HEAD plus uncommitted changes to tracked
#                                    # files (tests use it; never for a release)
#   tools/release.sh --out DIR       # where the archive goes (default dist/)
#
# The archive is `git archive` of one commit under the prefix
# multiprocessing-<VERSION>/, gzip'd without a timestamp, so the same commit
# always gives the same bytes and the same sha256 on this toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist
allow_dirty=false
while (($#)); do
  case $1 in
    --out) out=$2; shift 2 ;;
    --allow-dirty) allow_dirty=true; shift ;;
    *) echo "usage: tools/release.sh [--allow-dirty] [--out DIR]" >&2; exit 2 ;;
  esac
done
version=$(<VERSION)
if [[ ! $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "release: VERSION is '$version', not MAJOR.MINOR.PATCH" >&2
  exit 1
fi
grep -q "^## $version\b" CHANGELOG.md || {
  echo "release: CHANGELOG.md has no '## $version' section" >&2
  exit 1
}
rev=HEAD
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  if ! $allow_dirty; then
    echo "release: the work tree has uncommitted changes (commit them, or --allow-dirty for a test archive)" >&2
    exit 1
  fi
  # A commit object of the work tree's tracked files, not on any branch.
  rev=$(git stash create)
fi
name=multiprocessing-$version
mkdir -p "$out"
archive=$out/$name.tar.gz
git archive --format=tar --prefix="$name/" "$rev" | gzip -n -9 >"$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
echo "$sha  $name.tar.gz" >"$archive.sha256"
cat <<SNIPPET
# $archive (sha256 $sha)
load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

http_archive(
    name = "multiprocessing",
    sha256 = "$sha",
    strip_prefix = "$name",
    urls = ["file://$(realpath "$archive")"],
)
SNIPPET
