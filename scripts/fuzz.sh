#!/usr/bin/env bash
# Fuzzes Herald's parsers briefly: each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 20).
#   scripts/fuzz.sh                 every target
#   scripts/fuzz.sh endpoint audience   just these
# cargo-fuzz needs nightly features; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# Installs cargo-fuzz from crates.io when it is missing. Exits non-zero when a target finds a
# crash (the input is kept under fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -O
failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== fuzzing $target for ${seconds}s"
  if cargo fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      >"target/fuzz-$target.log" 2>&1; then
    grep -E '^Done [0-9]+ runs' "target/fuzz-$target.log" || true
  else
    echo "!! $target failed; see fuzz/target/fuzz-$target.log and fuzz/artifacts/$target/"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "target/fuzz-$target.log" | head -5 || true
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets ran ${seconds}s each without a crash"
