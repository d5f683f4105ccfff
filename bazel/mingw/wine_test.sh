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
for var in XML_OUTPUT_FILE TEST_TMPDIR TEST_UNDECLARED_OUTPUTS_DIR \
  TEST_PREMATURE_EXIT_FILE TEST_SHARD_STATUS_FILE TEST_WARNINGS_OUTPUT_FILE \
  TEST_INFRASTRUCTURE_FAILURE_FILE TEST_UNUSED_RUNFILES_LOG_FILE; do
  if [[ -n ${!var:-} && ${!var} == /* ]]; then
    export "$var=Z:${!var//\//\\}"
  fi
done
exec "$wine" "$@"
