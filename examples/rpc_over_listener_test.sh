#!/usr/bin/env bash
# Runs rpc_over_listener with a wrong-key client and then rpc_client.py, and
# checks what both sides print.
set -euo pipefail
dir=$(mktemp -d /tmp/mp-rpc-XXXXXX)  # short: Unix socket paths are short
trap 'rm -rf "$dir"' EXIT
address=$dir/adder.sock

timeout 60 examples/rpc_over_listener "$address" sesame >"$dir/server.out" 2>&1 &
server=$!
for _ in $(seq 300); do [[ -S $address ]] && break; sleep 0.1; done

# A client with the wrong key is refused on both sides.
if timeout 30 python3 examples/rpc_client.py "$address" guess >"$dir/bad.out" 2>&1; then
  echo "FAIL: a client with the wrong key got through"; exit 1
fi
grep -q AuthenticationError "$dir/bad.out" || { echo "FAIL: no AuthenticationError:"; cat "$dir/bad.out"; exit 1; }

client=$(timeout 30 python3 examples/rpc_client.py "$address" sesame)
wait "$server"
expected_client=$'7\n"helloworld"'
expected_server="Listening on $address
Refused a client: authentication failed: digest received was wrong
Server done"
status=0
[[ $client == "$expected_client" ]] || { echo "FAIL: client printed:"; echo "$client"; status=1; }
[[ $(cat "$dir/server.out") == "$expected_server" ]] || { echo "FAIL: server printed:"; cat "$dir/server.out"; status=1; }
[[ $status == 0 ]] && echo "ok: rpc_over_listener + rpc_client.py"
exit $status
