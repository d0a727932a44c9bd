#!/usr/bin/env bash
# Isolation benchmark: the worst inputs at the server while oha sends a steady stream of
# hello requests, on loopback. For each attack it reports, for the steady stream, the p99
# latency and the failures, and for the server its peak RSS (VmHWM, reset before each
# phase). A last phase compares hello throughput with nothing else running against the
# server as it was before these limits (BASELINE_REV), with the same load.
#
#   phase     attack (bench/isolation_attacks.py)                 server flags
#   amplify   4 at once, repeatedly: 1.15 MB globalconfigmap      defaults
#             requests whose answers would be 1.5 GB
#   slowbody  500 connections that stall inside their body        defaults
#   heavy     2 renders at once that run to the render timeout;   steps and loop items
#             /healthz probed every 20 ms                         raised, so renders are heavy
#   noread    200 clients that ask for 15 MB and never read       --memory-limit 512MiB, so that
#                                                                 15 MB answers are allowed
#   regex     4 at once, repeatedly: 600 matches of request-      defaults
#             supplied patterns over a 30 KB subject, distinct
#             bytes; /healthz probed every 20 ms
#   patterns  4 at once, repeatedly: 300 distinct request-        defaults
#             supplied patterns, half near the old 1 MiB cap
#   pipeline  16 connections pipelining 200,000 GET /healthz      --memory-limit 128MiB
#             (or 404s) each, reading nothing
#   holders   4,200 connections from 127.0.0.2 that never finish  defaults; /healthz probed on
#             their head, each reopened when closed               the hook and the probe port
#   nofile    1,500 idle connections from 127.0.0.2               under an open-file limit of
#                                                                 1,024; the log's ERROR lines
#                                                                 are counted
#
# Targets (BENCHMARKS.md): peak RSS < 128 MiB and every call < 1 s during amplify; 0
# failures and p99 < 50 ms for the stream in every phase; /healthz < 100 ms during heavy
# and regex; peak RSS < 128 MiB in every phase run with the default 128 MiB limit;
# hello throughput >= 0.95x the baseline.
#
# Environment: PHASE_SECONDS (default 15), RATE (steady stream, req/s, default 200),
# PHASES (default "amplify slowbody heavy noread regex patterns pipeline holders nofile"),
# BASELINE_REV (default 63c169d, the last commit before these limits; empty to skip) or
# BASELINE_BIN (a baseline binary already built),
# RULEHOOK_BIN (a binary to attack instead of this checkout's release build, e.g. an older
# one for "before" figures; PROBES=0 for one without --probe-listen).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PHASE_SECONDS=${PHASE_SECONDS:-15}
RATE=${RATE:-200}
BASELINE_REV=${BASELINE_REV-63c169d}
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

step() { printf '\n==> %s\n' "$*" >&2; }

command -v oha >/dev/null || { step "installing oha"; cargo install oha --locked --quiet; }
if [[ -n ${RULEHOOK_BIN:-} ]]; then
  BIN=$(realpath "$RULEHOOK_BIN")
else
  step "building the release binary"
  cargo build --release --quiet
  BIN=$PWD/target/release/rulehook
fi
PROBES=${PROBES:-1}

# The rules under attack, beside hello.
RULES=$TMP/rules
mkdir -p "$RULES"
cp rules/hello.yaml examples/globalconfigmap/globalconfigmap.yaml examples/lib/copies.lib.yaml "$RULES/"
cat >"$RULES/heavy.yaml" <<'EOF'
values:
  n: {path: $.parent.spec.n, default: 0}
sync:
  children:
    - $forEach: "{{ n }}"
      $as: i
      $template:
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "c-{{ i }}"}
        data:
          empty:
            - $forEach: "{{ n }}"
              $includeWhen: "{{ eq item -1 }}"
              $template: x
EOF
cat >"$RULES/big.yaml" <<'EOF'
values:
  n: {path: $.parent.spec.n, default: 0}
  text: {path: $.parent.spec.text, default: x}
sync:
  children:
    - $forEach: "{{ n }}"
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "c-{{ item }}"}
      data: {text: "{{ text }}"}
EOF
cp tests/fixtures/matcher.yaml "$RULES/"
HELLO=tests/fixtures/hello-sync-v1.json

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start BIN FLAGS...: starts a server on a free port; sets ADDR, PROBE_ADDR and PID. With
# NOFILE set, under that open-file limit.
start() {
  local bin=$1
  shift
  ADDR=127.0.0.1:$(port)
  PROBE_ADDR=""
  local probe=()
  if [[ $PROBES == 1 ]]; then
    PROBE_ADDR=127.0.0.1:$(port)
    probe=(--probe-listen "$PROBE_ADDR")
  fi
  local limit=()
  [[ -z ${NOFILE:-} ]] || limit=(prlimit "--nofile=$NOFILE:$NOFILE")
  "${limit[@]}" "$bin" serve --rules "$RULES" --listen "$ADDR" --log warn "${probe[@]}" "$@" \
    >"$TMP/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do
    curl -sf "http://$ADDR/readyz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "error: the server did not start" >&2
  cat "$TMP/server.log" >&2
  exit 1
}

stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# stream NAME SECONDS: the steady hello stream, summarised as JSON in $TMP/NAME.oha.
stream() {
  oha --no-tui -z "${2}s" -q "$RATE" -c 8 --latency-correction --disable-keepalive \
    -m POST -T application/json -D "$HELLO" --output-format json \
    "http://$ADDR/hello/sync" >"$TMP/$1.oha"
}

summary() {
  python3 - "$TMP/$1.oha" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
# Requests still open when the run's time is up are cut off by oha itself, not failed.
errors = {k: v for k, v in r.get("errorDistribution", {}).items() if "deadline" not in k}
total = sum(codes.values()) + sum(errors.values())
p99 = r["latencyPercentiles"]["p99"] * 1000
print(f"{total} {total - ok} {p99:.2f}")
EOF
}

declare -A FLAGS=(
  [amplify]=""
  [slowbody]=""
  [heavy]="--max-render-steps 1000000000 --max-loop-items 100000"
  [noread]="--memory-limit 512MiB"
  [regex]=""
  [patterns]=""
  [pipeline]="--memory-limit 128MiB"
  [holders]=""
  [nofile]=""
)
declare -A ATTACK=([nofile]=idle)
ROWS=()
for phase in ${PHASES:-amplify slowbody heavy noread regex patterns pipeline holders nofile}; do
  step "phase $phase (${PHASE_SECONDS}s)"
  [[ $phase == nofile ]] && export NOFILE=1024 || unset NOFILE
  # shellcheck disable=SC2086
  start "$BIN" ${FLAGS[$phase]}
  unset NOFILE
  echo 5 >"/proc/$PID/clear_refs"
  stream "$phase" "$PHASE_SECONDS" &
  streaming=$!
  sleep 1
  PROBE_ADDR=$PROBE_ADDR python3 bench/isolation_attacks.py "$ADDR" "${ATTACK[$phase]:-$phase}" \
    $((PHASE_SECONDS - 3)) >"$TMP/$phase.attack"
  wait "$streaming"
  hwm=$(hwm_mib "$PID")
  errors=$(grep -c ERROR "$TMP/server.log" || true)
  stop
  read -r total failed p99 < <(summary "$phase")
  attack=$(tail -1 "$TMP/$phase.attack")
  ROWS+=("| $phase | $total | $failed | $p99 | $hwm | $errors | \`$attack\` |")
done

step "hello throughput, nothing else running"
throughput() {
  local bin=$1
  PROBES=0 start "$bin"
  oha --no-tui -z 3s -c 32 -m POST -T application/json -D "$HELLO" "http://$ADDR/hello/sync" >/dev/null
  oha --no-tui -z 10s -c 32 -m POST -T application/json -D "$HELLO" --output-format json \
    "http://$ADDR/hello/sync" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["summary"]["requestsPerSec"]))'
  stop
}
if [[ -n ${BASELINE_BIN:-} ]]; then
  BASELINE_REV=given
  base_bin=$(realpath "$BASELINE_BIN")
elif [[ -n $BASELINE_REV ]]; then
  base=$PWD/target/isolation-baseline-$BASELINE_REV
  base_bin=$base/release/rulehook
  if [[ ! -x $base_bin ]]; then
    step "building the baseline $BASELINE_REV"
    rm -rf "$TMP/baseline"
    git worktree add -q --detach "$TMP/baseline" "$BASELINE_REV"
    (cd "$TMP/baseline" && CARGO_TARGET_DIR=$base cargo build --release --quiet)
    git worktree remove --force "$TMP/baseline"
  fi
fi
# Alternating rounds, medians: a 2-CPU machine drifts by several percent from run to run.
NOW=() BEFORE=()
for _ in 1 2 3; do
  NOW+=("$(throughput "$BIN")")
  [[ -z $BASELINE_REV ]] || BEFORE+=("$(throughput "$base_bin")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
now=$(median "${NOW[@]}")
before=""
[[ -z $BASELINE_REV ]] || before=$(median "${BEFORE[@]}")

echo
echo "| phase | stream requests | stream failures | stream p99 (ms) | peak RSS (MiB) | ERROR lines | attack |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
if [[ -n $before ]]; then
  python3 -c "print(f'hello throughput: {$now} req/s now, {$before} req/s before: {$now/$before:.2f}x')"
else
  echo "hello throughput: $now req/s"
fi
