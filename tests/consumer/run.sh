#!/usr/bin/env bash
# Builds and runs programs of other Bazel workspaces against this checkout,
# the three ways a user depends on @multiprocessing:
#   1. this directory's workspace through local_repository (it also has its
#      own platform/, ipc/ and process/ headers, to prove ours cannot clash);
#   2. the same workspace through http_archive of a release archive that
#      tools/release.sh makes of this checkout (a file:// URL);
#   3. the README's "Using it from your Bazel repository" files, copied
#      verbatim into an empty workspace; only the archive's URL and sha256
#      lines are replaced, by those of the archive made in step 2.
#   4. without network and without saying where libraries come from, the
#      deps macro's error says what to do.
# The builds share a disk cache, so our libraries compile once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${TMPDIR:-/tmp}/mp-consumer
cache=${HOME}/.cache/mp-consumer-disk-cache
mkdir -p "$work" "$cache"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {  # run DIR TARGET EXPECTED: bazel run TARGET in DIR, check its output.
  local dir=$1 target=$2 expected=$3 out
  if ! out=$(cd "$dir" && bazel run --disk_cache="$cache" "$target" 2>"$log" </dev/null); then
    cat "$log" >&2
    echo "consumer: bazel run $target in $dir failed" >&2
    exit 1
  fi
  (cd "$dir" && bazel shutdown 2>/dev/null) || true
  echo "$out"
  if ! grep -qF -- "$expected" <<<"$out"; then
    echo "consumer: $target in $dir did not print '$expected'" >&2
    exit 1
  fi
}

echo "consumer: 1. local_repository"
run "$here" //:hello "hello, consumer"

echo "consumer: 2. http_archive of tools/release.sh's archive"
snippet=$("$repo/tools/release.sh" --allow-dirty --out "$work/dist")
archive=$(ls "$work"/dist/multiprocessing-*.tar.gz)
sha=$(cut -d' ' -f1 "$archive.sha256")
rm -rf "$work/archive"
mkdir -p "$work/archive"
cp -r "$here"/{BUILD,hello.cc,.bazelrc,platform,ipc,process} "$work/archive/"
{
  echo 'workspace(name = "consumer")'
  grep -v '^#' <<<"$snippet"
  sed -n '/^load("@multiprocessing/,$p' "$here/WORKSPACE"
} >"$work/archive/WORKSPACE"
run "$work/archive" //:hello "hello, consumer"

echo "consumer: 3. the README's files, verbatim"
rm -rf "$work/readme"
mkdir -p "$work/readme"
# Each fenced block of that section whose first line names a file.
python3 - "$repo/README.md" "$work/readme" "file://$archive" "$sha" <<'PY'
import os, re, sys
readme, dest, url, sha = sys.argv[1:]
text = open(readme).read()
section = text.split("## Using it from your Bazel repository", 1)[1]
section = section.split("\n## ", 1)[0]
names = {"# WORKSPACE": "WORKSPACE", "# BUILD": "BUILD",
         "# .bazelrc": ".bazelrc", "// app.cc": "app.cc"}
found = set()
for block in re.findall(r"```\w*\n(.*?)```", section, re.S):
    first = block.split("\n", 1)[0]
    if first in names:
        if names[first] == "WORKSPACE":
            block, n = re.subn(r'sha256 = "[^"]*"', f'sha256 = "{sha}"', block)
            block, m = re.subn(r'urls = \["[^"]*"\]', f'urls = ["{url}"]', block)
            assert n == 1 and m == 1, "the http_archive lost its sha256 or urls line"
        open(os.path.join(dest, names[first]), "w").write(block)
        found.add(names[first])
missing = set(names.values()) - found
if missing:
    sys.exit(f"consumer: the README's section has no block for {sorted(missing)}")
PY
run "$work/readme" //:app "1 4 9"

echo "consumer: 4. no MULTIPROCESSING_DEPS and no network: a message saying what to do"
# On a machine with network access the download simply succeeds.
if ! (cd "$work/readme" && bazel query --repo_env=MULTIPROCESSING_DEPS=upstream \
        @com_google_absl//absl/base >/dev/null 2>"$log" </dev/null); then
  if ! grep -q "could not download com_google_absl.*--repo_env=MULTIPROCESSING_DEPS=system" "$log"; then
    cat "$log" >&2
    echo "consumer: a failed download did not explain itself" >&2
    exit 1
  fi
  grep -o "@multiprocessing could not download com_google_absl[^.]*" "$log"
fi
(cd "$work/readme" && bazel shutdown 2>/dev/null) || true
