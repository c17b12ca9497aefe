#!/usr/bin/env bash
# The fan-out benchmark: herald against web-push for Node on one local TLS sink, at 10k and
# 50k subscriptions. Not part of CI; run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p herald -p herald-bench
(cd bench/webpush-node && { [ -f package-lock.json ] && npm ci --no-audit --no-fund || npm install --no-audit --no-fund; })
for n in 10000 50000; do
  echo "## $n subscriptions"
  target/release/herald-bench --subscriptions "$n" --node
done
