#!/usr/bin/env bash
# The delivery benchmarks (docs/benchmarks.md shows the results and the command for each).
# Herald sends through a real `herald serve` to herald-testkit's mock push service, shaped
# like an instant stand-in, like FCM (30-60 ms, 100 streams per connection, GOAWAY after
# 2,000 streams) and like a slow service (150-250 ms); then to three origins of which one
# never answers; then two instances sharing a PostgreSQL database; then to nginx
# (bench/nginx-sink.sh) beside web-push for Node and the Rust web-push crate; then three 50k
# broadcasts in a row; then a tag broadcast next to the same `all` broadcast (issue 16).
# Each line reports the rate, the TLS connections Herald opened, the duplicate deliveries
# the stand-in counted, and devices missed or reached outside the audience.
#   bench/run.sh                 all of the above (about 15 minutes on 2 cores)
#   bench/run.sh --million       and a broadcast to 1,000,000 subscriptions on SQLite
#                                (registered by `herald subscriptions import`; 20-30 minutes more)
# Not part of CI; run it on a machine that does nothing else (2 cores is what the targets
# in issue 12 assume). Needs node/npm, nginx (apt-get install -y nginx-light), openssl and
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust; BENCH_POSTGRES=URL for another).
set -euo pipefail
cd "$(dirname "$0")/.."
million=false
case "${1:-}" in
  --million) million=true ;;
  "") ;;
  *) echo "usage: bench/run.sh [--million]" >&2; exit 2 ;;
esac
postgres=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p herald -p herald-bench
(cd bench/webpush-node && { [ -f package-lock.json ] && npm ci --no-audit --no-fund || npm install --no-audit --no-fund; }) >/dev/null
# The Rust web-push crate lives outside the workspace (its hyper 0.14 and OpenSSL stay out
# of Herald's lock file); if it does not build, the nginx run goes on without it.
webpush_rust=()
if (cd bench/webpush-rust && CARGO_TARGET_DIR=target cargo build --release -q); then
  webpush_rust=(--webpush-rust bench/webpush-rust/target/release/webpush-rust-bench)
else
  echo "(the Rust web-push crate did not build; skipped)"
fi
bench() { echo; echo "\$ herald-bench $*"; "$target/release/herald-bench" --herald "$target/release/herald" "$@"; }
# The hung origin: each push to it times out after 5 s, twice, as in issue 12.
hung_env=(--env HERALD_PUSH_TIMEOUT_SECONDS=5 --env HERALD_MAX_ATTEMPTS=2)

echo "## one origin, 10,000 subscriptions"
bench --subscriptions 10000
bench --subscriptions 10000 --latency-ms 30-60 --max-streams 100 --goaway-after 2000
bench --subscriptions 10000 --latency-ms 150-250
echo "## three origins, one of them hung"
bench --subscriptions 8000 --origins 2 --latency-ms 30-60 --max-streams 100 "${hung_env[@]}"
bench --subscriptions 8000 --origins 2 --hung-subscriptions 2000 --latency-ms 30-60 --max-streams 100 "${hung_env[@]}"
echo "## two instances on one PostgreSQL database"
bench --subscriptions 10000 --database "$postgres" --instances 2 --latency-ms 30-60 --max-streams 100 --goaway-after 2000
echo "## nginx, with web-push for Node and the Rust web-push crate in the same run"
bench --subscriptions 10000 --nginx --node "${webpush_rust[@]}"
echo "## three broadcasts in a row"
bench --subscriptions 50000 --rounds 3
echo "## a tag broadcast and the same 'all' broadcast: 50,000 of 60,000 tagged"
bench --subscriptions 60000 --tagged 50000 --audience tags
bench --subscriptions 60000 --tagged 50000 --audience all
if $million; then
  echo "## a million subscriptions on SQLite"
  bench --subscriptions 1000000 --import
fi
