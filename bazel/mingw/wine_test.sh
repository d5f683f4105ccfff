#!/usr/bin/env bash
# Runs a Windows test binary under Wine for `bazel test --config=mingw`
# (and a test script with $WINE set, to run its Windows programs with).
# Bazel hands the test absolute Unix paths in its environment; the Windows
# program sees them as Z: drive paths. The Wine prefix and a persistent
# wineserver are prepared by tools/wine.sh (never inside the sandbox: a prefix
# made there is left half-made and tests hang).
set -euo pipefail
if [[ -z ${WINEPREFIX:-} ]]; then
  echo "wine_test: WINEPREFIX is not set; run the tests through tools/wine.sh" >&2
  exit 1
fi
export WINEDEBUG=-all
wine=/usr/lib/wine/wine64
# A test script (sh_test) runs here, on Linux, and starts the Windows
# programs it tests through $WINE, with the Unix paths Bazel gave it.
if [[ $(head -c 2 "$1") != MZ ]]; then
  export WINE=$wine
  exec "$@"
fi
# A gtest binary writes its XML report where XML_OUTPUT_FILE says: one that
# exits 0 without it never ran its tests to the end (Wine has been seen to
# end a process with code 0, which Bazel would count as a pass).
xml=${XML_OUTPUT_FILE:-}
gtest=false
if [[ -n $xml ]] && grep -qa -- --gtest_output "$1"; then
  gtest=true
  rm -f "$xml"
fi
for var in XML_OUTPUT_FILE TEST_TMPDIR TEST_UNDECLARED_OUTPUTS_DIR \
  TEST_PREMATURE_EXIT_FILE TEST_SHARD_STATUS_FILE TEST_WARNINGS_OUTPUT_FILE \
  TEST_INFRASTRUCTURE_FAILURE_FILE TEST_UNUSED_RUNFILES_LOG_FILE; do
  if [[ -n ${!var:-} && ${!var} == /* ]]; then
    export "$var=Z:${!var//\//\\}"
  fi
done
if ! $gtest; then
  exec "$wine" "$@"
fi
rc=0
"$wine" "$@" || rc=$?
if ((rc == 0)) && [[ ! -s $xml ]]; then
  echo "wine_test: $1 exited 0 but wrote no test report: it did not finish" >&2
  exit 1
fi
exit "$rc"
