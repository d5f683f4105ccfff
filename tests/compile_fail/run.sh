#!/usr/bin/env bash
# Checks that each program here fails to compile with the messages its
# `// EXPECT:` lines name (misuse must be a clear compile error).
set -euo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
for src in *.cc; do
  name=${src%.cc}
  if bazel build "//tests/compile_fail:$name" >"$log" 2>&1 </dev/null; then
    echo "compile_fail: $name compiled, but must not" >&2
    failed=1
    continue
  fi
  while IFS= read -r expected; do
    if ! grep -qF -- "$expected" "$log"; then
      echo "compile_fail: $name failed without saying '$expected':" >&2
      grep -E 'error|note' "$log" | head -20 >&2
      failed=1
    fi
  done < <(sed -n 's|^// EXPECT: ||p' "$src")
  ((failed)) || echo "compile_fail: $name fails to compile, as it must ($(grep -c 'error:' "$log") error line(s))"
done
exit $failed
