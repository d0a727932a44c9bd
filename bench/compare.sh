#!/usr/bin/env bash
# Two builds of rulehook, side by side: hello throughput (wrk) and the 1,000-Pod request one
# at a time (oha), in alternating rounds so that both see the same machine.
#
#   bash bench/compare.sh OLD_BINARY NEW_BINARY     # e.g. a build of main and of a branch
#   ROUNDS=5 bash bench/compare.sh ...
#   LOG=info bash bench/compare.sh ...              # with the access log on, written to a file
#   FLAGS="--answer-cache 0" bash bench/compare.sh ...
#                                                   # extra serve flags for both builds; wrk
#                                                   # repeats one request, which builds with
#                                                   # the answer cache answer without rendering
#
# Prints each round, then the medians and NEW/OLD for both figures. A restructuring that must
# not cost speed is held to NEW/OLD ≥ 0.95 for throughput and ≤ 1.05 for the 1,000-Pod time.
# The machine's noise between rounds is a few per cent: use at least 5 rounds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
SEQ_N=${SEQ_N:-30}
LOG=${LOG:-warn}
FLAGS=${FLAGS:-}
OHA_VERSION=1.16.0

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [[ $(oha --version 2>/dev/null) != "oha $OHA_VERSION" ]]; then
  cargo install oha --version "$OHA_VERSION" --locked --quiet
fi
cargo build --release --quiet --manifest-path bench/tools/Cargo.toml --target-dir target/bench-limit
BT=$ROOT/target/bench-limit/release/benchtool

TMP=$(mktemp -d)
cleanup() { pkill -f "serve --rules $TMP/rules" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

"$BT" pods 1000 "$TMP/pods.json" >/dev/null
mkdir -p "$TMP/rules"
"$BT" rules "$TMP/rules" 0 >/dev/null
cp rules/hello.yaml "$TMP/rules/"
cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
LUA

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs one round against `binary`: starts it on a free port, measures, stops it.
round() {
  local binary=$1 p pid rps pods
  p=$(port)
  "$binary" serve --rules "$TMP/rules" --listen "127.0.0.1:$p" --workers 2 --log "$LOG" $FLAGS >"$TMP/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && break
    sleep 0.05
  done
  BENCH_BODY=$ROOT/tests/fixtures/hello-sync-v1.json wrk -t 2 -c 32 -d 2s -s "$TMP/post.lua" "http://127.0.0.1:$p/hello/sync" >/dev/null
  rps=$(BENCH_BODY=$ROOT/tests/fixtures/hello-sync-v1.json wrk -t 2 -c 32 -d "${DURATION}s" -s "$TMP/post.lua" "http://127.0.0.1:$p/hello/sync" | awk '/^Requests\/sec/ {print $2}')
  oha --no-tui -c 1 -n 3 -m POST -T application/json -D "$TMP/pods.json" --output-format quiet "http://127.0.0.1:$p/pods/sync"
  pods=$(oha --no-tui -c 1 -n "$SEQ_N" -m POST -T application/json -D "$TMP/pods.json" --output-format json "http://127.0.0.1:$p/pods/sync" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["latencyPercentiles"]["p50"]*1000, 2))')
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "$rps $pods"
}

: >"$TMP/old.txt"
: >"$TMP/new.txt"
for r in $(seq "$ROUNDS"); do
  # Alternate which build goes first, so neither always runs on a warmer machine.
  if (( r % 2 )); then order=(old new); else order=(new old); fi
  for which in "${order[@]}"; do
    bin=$OLD; [[ $which == new ]] && bin=$NEW
    line=$(round "$bin")
    echo "$line" >>"$TMP/$which.txt"
    read -r rps pods <<<"$line"
    printf 'round %d %-3s hello %10s req/s   1,000 Pods p50 %7s ms\n' "$r" "$which" "$rps" "$pods"
  done
done

python3 - "$TMP/old.txt" "$TMP/new.txt" <<'PY'
import statistics, sys
old = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
new = [tuple(map(float, l.split())) for l in open(sys.argv[2])]
med = lambda rows, i: statistics.median(r[i] for r in rows)
print(f"median hello req/s      old {med(old,0):10.0f}  new {med(new,0):10.0f}  new/old {med(new,0)/med(old,0):.3f}")
print(f"median 1,000 Pods ms    old {med(old,1):10.2f}  new {med(new,1):10.2f}  new/old {med(new,1)/med(old,1):.3f}")
PY
