#!/usr/bin/env bash
# Writes compile_commands.json at the top of the tree for clangd and other
# tools, from the compile commands Bazel itself would run (`bazel aquery`),
# for every C++ file of //... . Rerun after changing BUILD files.
#
#   tools/compile_commands.sh [bazel flags, e.g. --config=mingw]
#
# Paths are relative to Bazel's execution root, which the entries name as
# their directory, so `bazel build` the targets once first (generated
# headers such as *.pb.h and the _virtual_includes links must exist).
set -euo pipefail
cd "$(dirname "$0")/.."
execroot=$(bazel info "$@" execution_root 2>/dev/null)
bazel aquery "$@" --output=jsonproto 'mnemonic("CppCompile", //...)' 2>/dev/null |
  python3 -c '
import json, sys
execroot = sys.argv[1]
entries = []
for action in json.load(sys.stdin).get("actions", []):
    argv = action["arguments"]
    source = next((a for i, a in enumerate(argv) if i and argv[i - 1] == "-c"), None)
    if source:
        entries.append({"directory": execroot, "arguments": argv, "file": source})
json.dump(entries, open("compile_commands.json", "w"), indent=1)
print(f"compile_commands.json: {len(entries)} files", file=sys.stderr)
' "$execroot"
