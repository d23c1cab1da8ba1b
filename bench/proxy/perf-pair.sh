#!/usr/bin/env bash
# Hardware counters per request for hotshard with telemetry on and off, one
# process at a time, under the same redis-benchmark load: user instructions,
# user cycles, cache misses and CPU time per request. Instructions move far
# less with a noisy machine than time does (see bench/proxy/README.md).
# Needs Linux perf, redis-server and redis-benchmark; run `npm run build` first.
#
#   bench/proxy/perf-pair.sh [get|set] [pipeline] [requests] [order...]
#   bench/proxy/perf-pair.sh get 16 2000000 on off on off
#
# An order word is `on`, `off` (--no-telemetry), `count` (telemetry on, but
# --telemetry-sample-budget 1: counting only, nearly nothing measured), or
# `v8youngN` / `v8youngN-off` (on / off with --max-semi-space-size=N instead
# of the launcher's 32, src/cli/node-flags.ts; 16 is V8's default).
# PERF_RECORD=1 also keeps a `perf record` profile per leg in /tmp/hotshard-perf-<leg>-<n>.data
# (node runs with --perf-basic-prof so JIT frames have names).
set -euo pipefail
TEST=${1:-get}; PIPELINE=${2:-16}; N=${3:-2000000}; shift $(( $# < 3 ? $# : 3 ))
ORDER=("${@:-on off on off}")
[ ${#ORDER[@]} -eq 1 ] && read -r -a ORDER <<< "${ORDER[0]}"
BASE=${PERF_PAIR_PORT:-7301}
cd "$(dirname "$0")/../.."
command -v perf >/dev/null || { echo "perf-pair: Linux perf is not installed" >&2; exit 2; }
[ -f dist/cli/main.js ] || { echo "perf-pair: no dist/ (run npm run build)" >&2; exit 2; }
NODES=""; for i in 0 1 2 3; do
  redis-server --port $((BASE + i)) --save '' --appendonly no --daemonize yes >/dev/null
  NODES="$NODES${NODES:+,}127.0.0.1:$((BASE + i))"
done
PROXY=$((BASE + 10))
cleanup() { for i in 0 1 2 3; do redis-cli -p $((BASE + i)) shutdown nosave >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
bench() { redis-benchmark -p $PROXY -t "$1" -P "$2" -c 50 -n "$3" -r 100000 -d 64 -q 2>/dev/null; }
# The launcher's V8 flags, given to node directly, so $pid below is hotshard
# itself rather than a launcher restarting node with them.
read -r -a SERVER_FLAGS <<< "$(node -e 'import("./dist/cli/node-flags.js").then((m) => console.log(m.SERVER_NODE_FLAGS.join(" ")))')"
leg=0
for word in "${ORDER[@]}"; do
  case $word in
    on|v8young[0-9]*[0-9]) extra=() ;; off|v8young[0-9]*-off) extra=(--no-telemetry) ;;
    count) extra=(--telemetry-sample-budget 1) ;;
    *) echo "perf-pair: unknown leg '$word' (on, off, count, v8youngN, v8youngN-off)" >&2; exit 2 ;;
  esac
  leg=$((leg + 1))
  flags=("${SERVER_FLAGS[@]}")
  case $word in v8young*) n=${word#v8young}; flags=(--max-semi-space-size=${n%-off}) ;; esac
  [ "${PERF_RECORD:-}" = 1 ] && flags+=(--perf-basic-prof)
  node "${flags[@]}" bin/hotshard.js start --backend redis --redis "$NODES" --resp-port $PROXY \
    --http-port $((PROXY + 1)) --log-level warn "${extra[@]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 50); do redis-cli -p $PROXY ping >/dev/null 2>&1 && break; sleep 0.2; done
  bench set 16 300000 >/dev/null; bench "$TEST" "$PIPELINE" 500000 >/dev/null # fill, warm up
  stat=$(mktemp)
  if [ "${PERF_RECORD:-}" = 1 ]; then
    perf record -g -o "/tmp/hotshard-perf-$word-$leg.data" -p $pid -- sleep 600 >/dev/null 2>&1 &
    rec=$!
  fi
  out=$(perf stat -x, -e instructions:u,cycles:u,cache-misses:u,task-clock -p $pid -o "$stat" -- \
    redis-benchmark -p $PROXY -t "$TEST" -P "$PIPELINE" -c 50 -n "$N" -r 100000 -d 64 -q 2>/dev/null)
  [ -n "${rec:-}" ] && { kill -TERM "$rec"; wait "$rec" 2>/dev/null || true; rec=; }
  get() { grep "$1" "$stat" | head -1 | cut -d, -f1; }
  rps=$(printf '%s' "$out" | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1)
  awk -v w="$word" -v n="$N" -v i="$(get instructions)" -v c="$(get cycles)" -v m="$(get cache-misses)" \
    -v t="$(get task-clock)" -v r="$rps" 'BEGIN { printf "%-5s instructions/req %6d  cycles/req %6d  cache-misses/req %6.1f  cpu-ns/req %6d  %s\n", w, i / n, c / n, m / n, t * 1e6 / n, r }'
  rm -f "$stat"
  kill $pid; wait $pid 2>/dev/null || true
done
