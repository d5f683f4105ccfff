#!/usr/bin/env bash
# Runs a command (e.g. `bazel test --config=mingw //...`) with a ready Wine:
# the prefix created outside Bazel's sandbox and a persistent wineserver, as
# parallel Windows tests under Wine crash now and then without one.
set -euo pipefail
export WINEPREFIX=${WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/multiprocessing/wine}
export WINEDEBUG=-all
wineserver=/usr/lib/wine/wineserver64
[[ -x $wineserver ]] || wineserver=$(command -v wineserver)
if [[ ! -f $WINEPREFIX/system.reg ]]; then
  mkdir -p "$WINEPREFIX"
  /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1
  "$wineserver" -w
fi
# A server already up for this prefix (another run) is used as it is.
if "$wineserver" -p 2>/dev/null; then
  trap '"$wineserver" -k 2>/dev/null || true' EXIT
fi
"$@"
