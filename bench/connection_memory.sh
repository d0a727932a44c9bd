#!/usr/bin/env bash
# What one connection costs at its worst: N connections held in each state that keeps memory
# on the server, and the growth of its peak RSS (VmHWM) divided by N. The figures behind
# CONNECTION_BYTES and TLS_CONNECTION_EXTRA_BYTES in src/connection/capacity.rs.
#
#   state     each connection
#   idle      sends nothing
#   head      sends 15 KiB of a request head (just under the 16 KiB cap) and stops
#   pipeline  pipelines 20,000 small requests (probes and 404s) and reads nothing
#
# Environment: N (default 1000), TLS=1 to measure over HTTPS (self-signed, with openssl).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-1000}
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
cargo build --release --quiet
BIN=$PWD/target/release/rulehook
tls_flags=()
if [[ ${TLS:-0} == 1 ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    -days 1 -subj /CN=localhost 2>/dev/null
  tls_flags=(--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem")
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk "/$1/ {print \$2}" "/proc/$2/status"; }

echo "| state | connections | per connection (KB) |"
echo "|---|---|---|"
for state in idle head pipeline; do
  ADDR=127.0.0.1:$(port)
  "$BIN" serve --rules rules --listen "$ADDR" --log warn --memory-limit 128MiB \
    --max-connections $((N + 100)) --max-connections-per-peer 0 "${tls_flags[@]}" \
    >"$TMP/server.log" 2>&1 &
  PID=$!
  sleep 1
  before=$(kib VmRSS "$PID")
  python3 - "$ADDR" "$state" "$N" "${TLS:-0}" <<'EOF'
import socket, ssl, sys, time
addr, state, n, tls = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
host, port = addr.split(":")
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
held = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    if tls:
        s = context.wrap_socket(s)
    if state == "head":
        s.sendall(b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * 15000)
    elif state == "pipeline":
        one = b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n" if i % 2 else b"GET / HTTP/1.1\r\n\r\n"
        s.settimeout(0.05)
        try:
            s.sendall(one * 20000)
        except (OSError, ssl.SSLError):
            pass
    held.append(s)
time.sleep(3)
EOF
  after=$(kib VmHWM "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true
  echo "| $state | $N | $(( (after - before) * 1024 / N / 1000 )) |"
done
