#!/usr/bin/env bash
# Profiles Herald during one broadcast: builds with line tables (own target dir, so the normal
# release build is untouched), runs herald-bench, attaches `perf record` to `herald serve`
# once the broadcast starts, and prints where the CPU went by component.
#   bench/profile.sh [subscriptions=20000] [seconds=1] [herald-bench flags...]
#   bench/profile.sh 20000 1 --nginx          against nginx (bench/nginx-sink.sh)
# Needs perf (linux-perf) and perf_event_paranoid <= 2; cpu-clock sampling works in VMs.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
seconds=${2:-1}
shift $(($# < 2 ? $# : 2))
target=${PROFILE_TARGET_DIR:-target/profile}
out=$(mktemp -d)
CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR="$target" \
  cargo build --release -p herald -p herald-bench
"$target/release/herald-bench" --herald "$target/release/herald" --subscriptions "$n" "$@" \
  >"$out/bench.txt" 2>"$out/bench.err" &
bench=$!
until grep -q "broadcast starting" "$out/bench.err"; do
  kill -0 $bench 2>/dev/null || { cat "$out/bench.err"; exit 1; }
  sleep 0.05
done
pid=$(pgrep -f "$target/release/herald serve" | head -1)
perf record -q -e cpu-clock -F 2999 --call-graph dwarf,16384 -o "$out/perf.data" -p "$pid" -- sleep "$seconds"
wait $bench
cat "$out/bench.txt"
perf script -i "$out/perf.data" -F comm,tid,ip,sym 2>/dev/null | python3 bench/perf_breakdown.py
echo "raw profile: $out/perf.data (perf report -i $out/perf.data --children)"
