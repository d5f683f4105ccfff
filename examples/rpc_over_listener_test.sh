#!/usr/bin/env bash
# Runs rpc_over_listener with a wrong-key client and then rpc_client.py, and
# checks what both sides print. On Linux over a Unix socket. For Windows
# (bazel/mingw/wine_test.sh sets $WINE) the server runs under Wine and
# listens on TCP, and the client is this machine's CPython: the Windows
# build's TCP and handshake against CPython's multiprocessing.connection.
set -euo pipefail
dir=$(mktemp -d /tmp/mp-rpc-XXXXXX)  # short: Unix socket paths are short
trap 'rm -rf "$dir"' EXIT

if [[ -n ${WINE:-} ]]; then
  timeout 60 "$WINE" examples/rpc_over_listener.exe 127.0.0.1:0 sesame 2 \
    >"$dir/server.raw" 2>&1 &
  server=$!
  clean() { tr -d '\r' <"$dir/server.raw"; }  # Windows text mode's CRLF
else
  timeout 60 examples/rpc_over_listener "$dir/adder.sock" sesame 2 \
    >"$dir/server.raw" 2>&1 &
  server=$!
  clean() { cat "$dir/server.raw"; }
fi
# The address the server listens on, as it prints it.
address=
for _ in $(seq 300); do
  address=$(clean | sed -n 's/^Listening on //p')
  [[ -n $address && ( $address == *:* || -S $address ) ]] && break
  sleep 0.1
done
[[ -n $address ]] || { echo "FAIL: the server did not start:"; clean; exit 1; }

# A client with the wrong key is refused on both sides.
if timeout 30 python3 examples/rpc_client.py "$address" guess >"$dir/bad.out" 2>&1; then
  echo "FAIL: a client with the wrong key got through"; exit 1
fi
grep -q AuthenticationError "$dir/bad.out" || { echo "FAIL: no AuthenticationError:"; cat "$dir/bad.out"; exit 1; }

client=$(timeout 30 python3 examples/rpc_client.py "$address" sesame)
# A request of another shape is answered with an error, not a crash.
odd=$(timeout 30 python3 -c '
import sys
from multiprocessing.connection import Client
a = sys.argv[1]
if not a.startswith("/"):
    h, _, p = a.rpartition(":"); a = (h, int(p))
with Client(a, authkey=b"sesame") as c:
    c.send([1.5, None]); print(c.recv().split(":")[0])
    c.send((2, 40)); print(c.recv())
' "$address")
wait "$server"
[[ $odd == $'error\n42' ]] || { echo "FAIL: an odd request got:"; echo "$odd"; exit 1; }
expected_client=$'7\nhelloworld'
expected_server="Listening on $address
Refused a client: authentication failed: digest received was wrong
Server done"
status=0
[[ $client == "$expected_client" ]] || { echo "FAIL: client printed:"; echo "$client"; status=1; }
[[ $(clean) == "$expected_server" ]] || { echo "FAIL: server printed:"; clean; status=1; }
[[ $status == 0 ]] && echo "ok: rpc_over_listener + rpc_client.py ($address)"
exit $status
