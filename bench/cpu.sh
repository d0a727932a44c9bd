#!/usr/bin/env bash
# Server CPU per request for the hello hook (rules/hello.yaml, POST /hello/sync) at five
# request sizes, for rulehook and the servers it is measured against, in one table.
#
#   bash bench/cpu.sh                               # 3 rounds of 5 s per server and size
#   ROUNDS=5 DURATION=8 bash bench/cpu.sh           # the figures worth keeping
#   BASELINE_BIN=old/rulehook bash bench/cpu.sh     # adds "before" columns for that build
#   SIZES="first v1" DURATION=1 ROUNDS=1 bash bench/cpu.sh   # a quick check of the script
#   RAW_OUT=raw.tsv bash bench/cpu.sh               # also keep every round's figures
#
# CPU per request is the server process's utime + stime (/proc/PID/stat, all its threads)
# over a timed wrk run, divided by the requests wrk got answers to. Before and after the run
# the script waits until the process has stopped using CPU, so the work on the requests still
# open when wrk stops (at most CONNECTIONS) is counted, though they are not: where that is
# more than 1 % of a run's requests (only with the slowest servers on the largest bodies) the
# table says by how much the figure may be high (a few per cent at 5 s; for 1,000 Pods take
# DURATION=10 or more). The clock tick is 10 ms, so a run has to take
# a few hundred ms of CPU for its figure to mean anything: keep DURATION at 3 s or more for
# real figures.
#
# Requests (bytes: the table says exactly; each body compact JSON):
#   first      a new HelloWorld parent, no Pods yet (tests/fixtures/hello-sync-first.json), ~0.9 KB
#   v1         the resync of that parent with its one Pod in children["Pod.v1"]
#              (tests/fixtures/hello-sync-v1.json, compacted), ~2.5 KB
#   pods10     `benchtool pods 10`: a parent observing 10 realistic Pods, ~31 KB
#   pods100    the same with 100 Pods, ~303 KB
#   pods1000   the same with 1,000 Pods, ~3.0 MB
# all sent to the hello rule, which reads the parent's name and spec.who and counts the Pods.
# In every body the parent's metadata.resourceVersion is widened to 8 digits, so that it can
# be rewritten per request without changing the body's length.
#
# Columns (each server started afresh for each run, 2 workers, on a free port):
#   JSON floor      `benchtool validate`: serde_json reading the body into IgnoredAny (every
#                   byte checked, nothing built), µs per body, median of 9 batches; what any
#                   server that checks its input is JSON with serde_json spends at the least
#   rulehook scan   the same from `benchtool validate`: the engine's own check
#                   (`rulehook_engine::is_json`), the scanner every request's unread bytes go
#                   through; the floor of rulehook's render path
#   bare            bench/limit: actix-web reading the whole body and answering rulehook's
#                   bytes for that request, fixed: the physical limit
#   render          rulehook, every request distinct (a wrk Lua script writes a counter into
#                   the parent's resourceVersion), so the answer cache never answers: every
#                   request parsed and rendered. The script fails if the cache counted a hit.
#   cached          rulehook, the same bytes every request: from the answer cache. Only
#                   requests up to 64 KiB are kept, so for 100 and 1,000 Pods this is the
#                   render path again (the raw rounds give the cache's hits and misses;
#                   bodies over 64 KiB count as neither).
#   jsonnet         bench/peers/jsonnet, the same hook in jsonnet, distinct bodies as for render
#   before render / before cached
#                   with BASELINE_BIN: the same two for that rulehook build
# and the ratios render/bare and jsonnet/render (and render/before render).
#
# rulehook runs with `--log warn` (LOG to change it), `--memory-limit $MEMORY_LIMIT` (default
# 512MiB, so `--max-body` is 16 MiB; at the 128 MiB default the 3 MB body fits under the
# 4 MiB `--max-body`, but the request memory budget admits too few of them at once: most of
# the 1,000-Pod requests of 4 connections got 503) and FLAGS (extra serve flags, for both rulehook builds). bench/limit
# and the jsonnet peer take bodies up to 32 MiB. Every answer is checked: each server's
# answer to each body must be rulehook's bytes, and a run with any non-2xx answer or socket
# error stops the script.
#
# Load: wrk -t1 -c CONNECTIONS (default 4) for DURATION s (default 5) after WARMUP s (default
# 1), per server and size. ROUNDS (default 3) rounds; in each, every size runs every server
# in turn, the order rotated from round to round, so that all see the same machine; the
# table gives the medians. The machine has 2 CPUs shared with wrk: run it on a quiet machine.
#
# Environment: RULEHOOK_BIN (default target/release/rulehook, built when missing),
# BASELINE_BIN, ROUNDS, DURATION, WARMUP, CONNECTIONS, SIZES (default
# "first v1 pods10 pods100 pods1000"), LOG, MEMORY_LIMIT, FLAGS, RAW_OUT (a file for the raw
# rounds; they go to stderr too).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-4}
SIZES=${SIZES:-first v1 pods10 pods100 pods1000}
LOG=${LOG:-warn}
MEMORY_LIMIT=${MEMORY_LIMIT:-512MiB}
FLAGS=${FLAGS:-}
WORKERS=2
for v in ROUNDS DURATION WARMUP CONNECTIONS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "error: $v must be a whole number (wrk takes whole seconds)" >&2; exit 2; }
done
TOOLS_TARGET=$ROOT/target/bench-limit
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*" >&2; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

if [[ -n ${RULEHOOK_BIN:-} ]]; then
  RULEHOOK=$(realpath "$RULEHOOK_BIN")
else
  RULEHOOK=$ROOT/target/release/rulehook
  if [[ ! -x $RULEHOOK ]]; then
    step "building the release binary"
    cargo build --release --quiet
  fi
fi
BASELINE=
[[ -z ${BASELINE_BIN:-} ]] || BASELINE=$(realpath "$BASELINE_BIN")
step "building the limit server, the jsonnet peer and the bench tools"
CARGO_TARGET_DIR=$TOOLS_TARGET cargo build --release --quiet --manifest-path bench/tools/Cargo.toml
CARGO_TARGET_DIR=$TOOLS_TARGET cargo build --release --quiet --manifest-path bench/limit/Cargo.toml
CARGO_TARGET_DIR=$TOOLS_TARGET cargo build --release --quiet --manifest-path bench/peers/jsonnet/Cargo.toml
BT=$TOOLS_TARGET/release/benchtool
LIMIT=$TOOLS_TARGET/release/limit
JSONNET=$TOOLS_TARGET/release/jsonnet-hook

TMP=$(mktemp -d /tmp/rulehook-cpu.XXXXXX)
PID=
cleanup() {
  if [[ -n $PID ]]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
step "requests"
mkdir -p "$TMP/rules"
cp rules/hello.yaml "$TMP/rules/"
declare -A SOURCE=([first]=tests/fixtures/hello-sync-first.json [v1]=tests/fixtures/hello-sync-v1.json)
declare -A LABEL=([first]="new parent" [v1]="resync with its Pod" [pods10]="10 Pods"
  [pods100]="100 Pods" [pods1000]="1,000 Pods")
for size in $SIZES; do
  [[ -n ${LABEL[$size]:-} ]] || { echo "error: unknown size '$size' in SIZES" >&2; exit 2; }
  if [[ $size == pods* ]]; then
    "$BT" pods "${size#pods}" "$TMP/$size.src" >/dev/null
  else
    cp "${SOURCE[$size]}" "$TMP/$size.src"
  fi
  # The body, compact, with the parent's resourceVersion widened to 8 digits; its offset
  # (1-based, for Lua) in $TMP/$size.at.
  python3 - "$TMP/$size.src" "$TMP/$size.json" "$TMP/$size.at" <<'PY'
import json, sys
src, out, at = sys.argv[1:]
raw = open(src, "rb").read()
request = json.loads(raw)
if b"\n" in raw.strip():
    raw = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
rv = request["parent"]["metadata"]["resourceVersion"]
assert rv.isdigit() and int(rv) < 10**7, rv
old = f'"resourceVersion":"{rv}"'.encode()
assert raw.count(old) == 1, f"the parent's resourceVersion {rv} is not unique in {src}"
new = f'"resourceVersion":"{int(rv):08d}"'.encode()
body = raw.replace(old, new)
assert json.loads(body)["parent"]["metadata"]["resourceVersion"] == f"{int(rv):08d}"
open(out, "wb").write(body)
open(at, "w").write(str(body.index(new) + len(new) - 9 + 1))
PY
  printf '    %-8s %9d bytes\n' "$size" "$(wc -c <"$TMP/$size.json")" >&2
done


port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# `start NAME CMD...`: runs a server on $ADDR (set before) in the background; sets PID.
start() {
  local name=$1
  shift
  "$@" >"$TMP/$name.log" 2>&1 &
  PID=$!
}

stop() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
}

# `post SIZE OUT`: POSTs the size's body to the running server; prints the status code.
post() {
  curl -s -o "$2" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$TMP/$1.json" "http://$ADDR/hello/sync" || true
}

# `wait_answer NAME SIZE`: until the server answers the size's body with 200 (10 s at most),
# the answer in $TMP/got.json.
wait_answer() {
  local i
  for ((i = 0; i < 500; i++)); do
    [[ $(post "$2" "$TMP/got.json") == 200 ]] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.02
  done
  echo "error: $1 did not answer the $2 request with 200; its output:" >&2
  cat "$TMP/$1.log" >&2
  exit 1
}

rulehook_cmd() {
  # shellcheck disable=SC2086
  CMD=("$1" serve --rules "$TMP/rules" --listen "$ADDR" --workers "$WORKERS" --log "$LOG"
    --memory-limit "$MEMORY_LIMIT" $FLAGS)
}

# The reference answers: rulehook's to each body. bench/limit answers these bytes.
step "rulehook's answers"
ADDR=127.0.0.1:$(port)
rulehook_cmd "$RULEHOOK"
start reference "${CMD[@]}"
for size in $SIZES; do
  wait_answer reference "$size"
  cp "$TMP/got.json" "$TMP/$size.answer"
  printf '    %-8s %s\n' "$size" "$(head -c 300 "$TMP/$size.answer")" >&2
done
stop

CLK_TCK=$(getconf CLK_TCK)
# `cpu_ticks PID`: utime and stime of the process, all threads, in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; }
# `settle PID`: waits (2 s at most) until the process has used no CPU for 100 ms; prints
# its utime and stime then.
settle() {
  local a b i
  a=$(cpu_ticks "$1")
  for ((i = 0; i < 20; i++)); do
    sleep 0.1
    b=$(cpu_ticks "$1")
    [[ $a == "$b" ]] && break
    a=$b
  done
  echo "$a"
}
metric() {
  curl -sf "http://$ADDR/metrics" 2>/dev/null | awk -v m="$1" '$1 == m {printf "%.0f", $2}' || true
}

# `wrk_run SIZE DISTINCT FIRST SECONDS OUT`
wrk_run() {
  local at=
  [[ $2 == 1 ]] && at=$(cat "$TMP/$1.at")
  if ! BENCH_BODY=$TMP/$1.json BENCH_AT=$at BENCH_FIRST=$3 \
    wrk -t 1 -c "$CONNECTIONS" -d "${4}s" --timeout 30s -s "$ROOT/bench/post.lua" "http://$ADDR/hello/sync" >"$5" 2>&1 ||
    grep -qE 'Non-2xx|Socket errors' "$5"; then
    echo "error: wrk failed, or $SERVER answered non-2xx or dropped connections, on the $1 request:" >&2
    cat "$5" >&2
    tail -n 20 "$TMP/$SERVER.log" >&2
    exit 1
  fi
}

# `measure SERVER SIZE`: one run; appends "round server size requests sent ticks µs hits
# misses" to the raw rounds.
measure() {
  SERVER=$1
  local size=$2 distinct=1 kind=$1 bin=
  ADDR=127.0.0.1:$(port)
  case $SERVER in
    bare) start "$SERVER" "$LIMIT" --listen "$ADDR" --workers "$WORKERS" --response "$TMP/$size.answer" ;;
    jsonnet) start "$SERVER" "$JSONNET" --listen "$ADDR" --workers "$WORKERS" --file bench/peers/jsonnet/hello.jsonnet ;;
    render | cached) bin=$RULEHOOK ;;
    before_render | before_cached) bin=$BASELINE ;;
  esac
  if [[ -n $bin ]]; then
    rulehook_cmd "$bin"
    start "$SERVER" "${CMD[@]}"
  fi
  [[ $SERVER == *cached ]] && distinct=0
  wait_answer "$SERVER" "$size"
  if ! cmp -s "$TMP/got.json" "$TMP/$size.answer"; then
    if [[ $SERVER == before_* ]]; then
      echo "warning: the baseline answers the $size request differently: $(head -c 300 "$TMP/got.json")" >&2
    else
      echo "error: $SERVER does not answer rulehook's bytes to the $size request: $(head -c 300 "$TMP/got.json")" >&2
      exit 1
    fi
  fi
  wrk_run "$size" "$distinct" 10000000 "$WARMUP" "$TMP/warmup.wrk"
  local hits0 misses0 t0 t1 hits1 misses1 n sent user0 sys0 user1 sys1
  hits0=$(metric rulehook_answer_cache_hits_total)
  misses0=$(metric rulehook_answer_cache_misses_total)
  read -r user0 sys0 < <(settle "$PID")
  wrk_run "$size" "$distinct" 50000000 "$DURATION" "$TMP/run.wrk"
  read -r user1 sys1 < <(settle "$PID")
  t0=$((user0 + sys0)) t1=$((user1 + sys1))
  hits1=$(metric rulehook_answer_cache_hits_total)
  misses1=$(metric rulehook_answer_cache_misses_total)
  stop
  n=$(awk '/ requests in / {print $1}' "$TMP/run.wrk")
  sent=$(awk '$1 == "sent" {print $2}' "$TMP/run.wrk")
  local hits=- misses=-
  if [[ -n $hits0 && -n $hits1 ]]; then
    hits=$((hits1 - hits0)) misses=$((misses1 - misses0))
    if [[ $distinct == 1 && $hits != 0 ]]; then
      echo "error: $SERVER answered $hits of the distinct $size requests from its cache" >&2
      exit 1
    fi
  fi
  local us
  us=$(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$SERVER" "$size" "$n" "$sent" $((t1 - t0)) "$us" "$hits" "$misses" \
    $((user1 - user0)) $((sys1 - sys0)) >>"$TMP/raw.tsv"
  printf 'round %s %-8s %-14s %8s answered %8s sent %6s ticks %10s µs/request  cache hits %s misses %s\n' \
    "$ROUND" "$size" "$SERVER" "$n" "$sent" $((t1 - t0)) "$us" "$hits" "$misses" >&2
}

SERVERS=(bare render cached jsonnet)
[[ -z $BASELINE ]] || SERVERS+=(before_render before_cached)
printf 'round\tserver\tsize\trequests\tsent\tticks\tus\tcache_hits\tcache_misses\tuser_ticks\tsys_ticks\n' >"$TMP/raw.tsv"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  step "round $ROUND of $ROUNDS: wrk -t1 -c$CONNECTIONS, ${DURATION}s per run after ${WARMUP}s"
  shift_by=$(((ROUND - 1) % ${#SERVERS[@]}))
  order=("${SERVERS[@]:shift_by}" "${SERVERS[@]:0:shift_by}")
  for size in $SIZES; do
    "$BT" validate --body "$TMP/$size.json" >"$TMP/validate.txt"
    us=$(sed -n 's/^validate_us=//p' "$TMP/validate.txt")
    scan=$(sed -n 's/^scan_us=//p' "$TMP/validate.txt")
    printf '%s\tfloor\t%s\t-\t-\t-\t%s\t-\t-\t-\t-\n' "$ROUND" "$size" "$us" >>"$TMP/raw.tsv"
    printf '%s\tscan\t%s\t-\t-\t-\t%s\t-\t-\t-\t-\n' "$ROUND" "$size" "$scan" >>"$TMP/raw.tsv"
    printf 'round %s %-8s %-14s %10s µs/body\n' "$ROUND" "$size" "JSON floor" "$us" >&2
    printf 'round %s %-8s %-14s %10s µs/body\n' "$ROUND" "$size" "rulehook scan" "$scan" >&2
    for server in "${order[@]}"; do
      measure "$server" "$size"
    done
  done
done
[[ -z ${RAW_OUT:-} ]] || cp "$TMP/raw.tsv" "$RAW_OUT"

for size in $SIZES; do
  printf '%s\t%s\t%s\n' "$size" "$(wc -c <"$TMP/$size.json")" "${LABEL[$size]}"
done >"$TMP/sizes.tsv"

echo
echo "Server CPU per request (utime + stime / requests answered), hello rule, medians of $ROUNDS rounds;"
echo "wrk -t1 -c$CONNECTIONS, ${DURATION} s per run, $WORKERS workers, $(nproc) CPUs, rulehook --log $LOG --memory-limit $MEMORY_LIMIT${FLAGS:+ $FLAGS}"
echo
python3 - "$TMP/raw.tsv" "$TMP/sizes.tsv" "${BASELINE:+1}" "$CLK_TCK" <<'PY'
import csv, statistics, sys
raw, sizes, baseline, hz = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
runs, tail, split = {}, {}, {}
for r in csv.DictReader(open(raw), delimiter="\t"):
    key = (r["server"], r["size"])
    runs.setdefault(key, []).append(float(r["us"]))
    if r["user_ticks"] != "-":
        n = int(r["requests"])
        split.setdefault(key, []).append(
            (int(r["user_ticks"]) * 1e6 / hz / n, int(r["sys_ticks"]) * 1e6 / hz / n))
    if r["sent"] != "-":
        # Requests written but not answered when wrk stopped, as a share of those answered.
        share = (int(r["sent"]) - int(r["requests"])) / int(r["requests"])
        tail[key] = max(tail.get(key, 0.0), share)
med = lambda server, size: statistics.median(runs[(server, size)])
flagged = False
def cell(server, size):
    global flagged
    x = med(server, size)
    text = f"{x:.1f}" if x < 1000 else f"{x:,.0f}"
    share = tail.get((server, size), 0.0)
    if share > 0.01:
        flagged = True
        text += f" (≤{share:.0%} high)"
    return text
head = ["request", "bytes", "JSON floor µs", "rulehook scan µs", "bare µs", "rulehook render µs", "rulehook cached µs", "jsonnet µs"]
if baseline:
    head += ["before render µs", "before cached µs"]
head += ["render/bare", "jsonnet/render"]
if baseline:
    head += ["render/before"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for size, nbytes, label in csv.reader(open(sizes), delimiter="\t"):
    render = med("render", size)
    row = [label, f"{int(nbytes):,}"] + [cell(s, size) for s in ("floor", "scan", "bare", "render", "cached", "jsonnet")]
    if baseline:
        row += [cell("before_render", size), cell("before_cached", size)]
    row += [f"{render / med('bare', size):.2f}", f"{med('jsonnet', size) / render:.2f}"]
    if baseline:
        row += [f"{render / med('before_render', size):.2f}"]
    print("| " + " | ".join(row) + " |")
# Where each server's CPU goes: its own code (user) and the kernel's network stack and
# wake-ups (system). At small sizes a server that does less per request sleeps and wakes
# more often per request, so part of what it saves in user time comes back as system time.
print()
print("User and system CPU per request, µs (medians of the rounds, each taken alone):")
print()
servers = ("bare", "render", "cached", "jsonnet", "before_render", "before_cached")
shown = [s for s in servers if any(k[0] == s for k in split)]
print("| request | " + " | ".join(f"{s} user | {s} system" for s in shown) + " |")
print("|---|" + "---|---|" * len(shown))
for size, nbytes, label in csv.reader(open(sizes), delimiter="\t"):
    row = [label]
    for s in shown:
        pairs = split.get((s, size), [])
        for i in (0, 1):
            row.append(f"{statistics.median(p[i] for p in pairs):.1f}" if pairs else "-")
    print("| " + " | ".join(row) + " |")
if flagged:
    print()
    print("(≤N% high): in some round more than 1 % of the requests were still open when wrk stopped;")
    print("the server's work on them is counted but they are not, so the figure is high by up to")
    print("that share. A longer DURATION or fewer CONNECTIONS makes it smaller.")
PY
