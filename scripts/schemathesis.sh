#!/usr/bin/env bash
# Property-based API testing with schemathesis against Herald's own OpenAPI document.
#
# Builds and starts target/debug/herald on a free port with a fresh SQLite database
# and a known admin token, installs schemathesis into target/schemathesis-venv when missing,
# and runs a short `st run` that checks every answer against the document: no server error
# (5xx), a documented status, the documented content type and headers, a body that fits the
# response schema. Exits non-zero when schemathesis finds a failure or the server logged a
# panic; the server is stopped at exit. Tunables: ST_MAX_EXAMPLES (default 20), ST_SEED,
# ST_EXTRA (more st flags).
#
# No request leaves the machine: the server allows only a push host that cannot exist
# (push.herald-schemathesis.invalid), so every generated endpoint is refused before any DNS
# look-up or connection, and nothing is ever delivered.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

# Build (a no-op after `cargo test --workspace`: the same selection, so the same features and
# binary), so the run never tests a stale binary.
cargo test -q --workspace --locked --no-run
venv="$root/target/schemathesis-venv"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="schemathesis-admin-token-0123456789"
log="$work/herald.log"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

HERALD_CONFIG=/dev/null \
HERALD_LISTEN="127.0.0.1:$port" \
HERALD_DATABASE_URL="sqlite://$work/h.db" \
HERALD_ADMIN_TOKEN="$token" \
HERALD_VAPID_SUBJECT="mailto:schemathesis@example.com" \
HERALD_PUSH_HOST_ALLOWLIST="push.herald-schemathesis.invalid" \
HERALD_PUBLIC_RATE_LIMIT_PER_MINUTE=0 \
HERALD_LOG="herald=info,warn" \
  "$root/target/debug/herald" serve >"$log" 2>&1 &
server_pid=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "herald exited during start:"; cat "$log"; exit 1
  fi
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

status=0
# A fixed seed and hash seed keep CI deterministic: one generator run, the same every time.
export PYTHONHASHSEED=0
ST_SEED="${ST_SEED:-140897498403459381233123455872604940843}"
run_st() {
  # shellcheck disable=SC2086
  "$venv/bin/st" run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${ST_MAX_EXAMPLES:-20}" \
    --phases examples,coverage,fuzzing,stateful \
    --request-timeout 20 \
    --workers 1 \
    --suppress-health-check all \
    --warnings off \
    ${ST_SEED:+--seed "$ST_SEED"} \
    --report junit --report-dir "$root/target/schemathesis-report" \
    ${ST_EXTRA:-}
}
st_out="$work/st.out"
run_st 2>&1 | tee "$st_out" || status=$?
# schemathesis 4.32 occasionally stops on an internal KeyError (an error of the tool, marked
# 🚫, not a failed check on Herald, marked ❌); run once more before calling it a failure.
if [ "$status" -ne 0 ] && ! grep -q "❌" "$st_out" && grep -q "KeyError" "$st_out"; then
  echo "schemathesis stopped on an internal error; running it once more"
  status=0
  run_st || status=$?
fi

if grep -q "panicked" "$log"; then
  echo "herald panicked during the run:"
  grep -A3 "panicked" "$log" | head -40
  status=1
fi
if grep -qE "ERROR" "$log"; then
  echo "herald logged errors during the run (first 20):"
  grep -E "ERROR" "$log" | head -20
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "herald died during the run:"; tail -30 "$log"; status=1
fi
exit "$status"
