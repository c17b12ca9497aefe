#!/usr/bin/env bash
# How fast the admin console's API calls answer at scale (a benchmark, not a test).
#
# Seeds 1,000,000 subscriptions (FCM, Mozilla, Apple, Windows and other hosts; 5% admins),
# three broadcasts' worth of outbox rows (3,000,000; the third with 200,000 still pending,
# due tomorrow), 100 messages, 50 reminders and two hours / seven days / thirty days of
# rollups, in bulk SQL (a recursive CTE on SQLite, generate_series on PostgreSQL). Then starts
# `herald serve` on that database and times every call the console makes, five times each,
# and prints the median and the slowest in milliseconds. Target: < 300 ms each.
#
#   bench/console.sh sqlite|postgres|both     (default both)
#   HERALD_BIN    herald binary (default target/release/herald)
#   SUBSCRIPTIONS how many to seed (default 1000000)
#
# Nothing is delivered: the pending rows are due tomorrow, and the only push host allowed is
# one that cannot exist. PostgreSQL: 127.0.0.1:5432, user postgres (trust); the database
# herald_bench_console is dropped and created again.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
bin="${HERALD_BIN:-$root/target/release/herald}"
subs="${SUBSCRIPTIONS:-1000000}"
which="${1:-both}"
token="bench-console-admin-token-0123456789"
[ -x "$bin" ] || { echo "no herald binary at $bin (cargo build --release -p herald)" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now_ms=$(($(date +%s) * 1000))

# The seed, in SQL both engines take; SERIES(n) is replaced per engine by a row source of
# i = 1..n, and FMT_ID(i) by a zero-padded text id.
seed_sql() {
  cat <<SQL
INSERT INTO subscriptions (id, owner_kind, owner_id, endpoint, endpoint_hash, p256dh, auth, secret_hash,
  created_at, push_service)
SELECT FMT_ID(i), CASE WHEN i % 20 = 7 THEN 1 ELSE 0 END, 'u' || i,
  CASE WHEN i % 20 <= 10 THEN 'https://fcm.googleapis.com/fcm/send/' || i
       WHEN i % 20 <= 14 THEN 'https://updates.push.services.mozilla.com/wpush/v2/' || i
       WHEN i % 20 <= 17 THEN 'https://web.push.apple.com/' || i
       WHEN i % 20 = 18 THEN 'https://wns2-par02p.notify.windows.com/w/?token=' || i
       ELSE 'https://push.example.net/' || i END,
  'h' || i,
  'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
  'tBHItJI5svbpez7KI4CCXg', 'x', $now_ms - (i % 30) * 86400000,
  CASE WHEN i % 20 <= 10 THEN 1 WHEN i % 20 <= 14 THEN 2 WHEN i % 20 <= 17 THEN 3 WHEN i % 20 = 18 THEN 4 ELSE 0 END
FROM SERIES($subs);
INSERT INTO subscription_activity (subscription_id, last_success_at)
SELECT FMT_ID(i), $now_ms - (i % 1000) * 1000 FROM SERIES($subs);

INSERT INTO messages (id, audience, title, mode, ttl, status, created_at, send_at, expires_at, targets,
  accepted, failed, gone, displayed, clicked)
SELECT 'broadcast' || i, '{"all":"everyone"}', 'Broadcast ' || i, 0, 2419200, 1,
  $now_ms - (4 - i) * 3600000, $now_ms - (4 - i) * 3600000, $now_ms + 86400000 * 20, $subs,
  $subs * 997 / 1000, $subs / 500, $subs / 1000, $subs / 3, $subs / 20
FROM SERIES(3);
INSERT INTO messages (id, audience, title, mode, ttl, status, created_at, send_at, expires_at, targets,
  accepted, failed, gone, displayed, clicked)
SELECT 'note' || i, '{"uid":"u' || i || '"}', 'Invoice ' || i || ' is due', 0, 2419200, 1,
  $now_ms - i * 60000, $now_ms - i * 60000, $now_ms + 86400000 * 20, 1, 1, 0, 0, 0, 0
FROM SERIES(97);

INSERT INTO outbox (message_id, subscription_id, state, attempts, next_attempt_at, last_status)
SELECT 'broadcast1', FMT_ID(i), CASE WHEN i % 1000 = 3 THEN 3 WHEN i % 500 = 1 THEN 2 ELSE 1 END, 1, $now_ms,
  CASE WHEN i % 1000 = 3 THEN 410 WHEN i % 500 = 1 THEN 400 ELSE 201 END
FROM SERIES($subs);
INSERT INTO outbox (message_id, subscription_id, state, attempts, next_attempt_at, last_status)
SELECT 'broadcast2', FMT_ID(i), CASE WHEN i % 1000 = 3 THEN 3 WHEN i % 500 = 1 THEN 2 ELSE 1 END, 1, $now_ms,
  CASE WHEN i % 1000 = 3 THEN 410 WHEN i % 500 = 1 THEN 400 ELSE 201 END
FROM SERIES($subs);
INSERT INTO outbox (message_id, subscription_id, state, attempts, next_attempt_at, last_status)
SELECT 'broadcast3', FMT_ID(i), CASE WHEN i % 5 = 0 THEN 0 WHEN i % 1000 = 3 THEN 3 WHEN i % 500 = 1 THEN 2 ELSE 1 END, 1,
  $now_ms + 86400000, CASE WHEN i % 5 = 0 THEN 503 WHEN i % 1000 = 3 THEN 410 WHEN i % 500 = 1 THEN 400 ELSE 201 END
FROM SERIES($subs);

INSERT INTO message_outcomes (message_id, push_service, state, last_status, targets)
SELECT 'broadcast' || (1 + i % 3), i / 3 % 5, 1 + i / 15 % 3,
  CASE 1 + i / 15 % 3 WHEN 1 THEN 201 WHEN 2 THEN 400 ELSE 410 END, 1000 + i
FROM SERIES(44);

INSERT INTO push_minutes (minute, push_service, outcome, pushes)
SELECT $now_ms / 60000 - i / 20, i % 5, i / 5 % 4, 100 + i % 97 FROM SERIES(2399);
INSERT INTO push_hours (hour, push_service, outcome, pushes)
SELECT $now_ms / 3600000 - i / 20, i % 5, i / 5 % 4, 6000 + i % 97 FROM SERIES(3359);
INSERT INTO subscription_days (day, shard, created, pruned)
SELECT $now_ms / 86400000 - i / 8, i % 8, 4000 + i, i % 50 FROM SERIES(239);

INSERT INTO reminders (id, template, schedule, timezone, paused, next_fire_at, fired, created_at)
SELECT 'reminder' || i, '{"to":{"all":"clients"},"title":"Reminder ' || i || '"}', '{"daily":"09:00"}',
  'Europe/Kyiv', 0, $now_ms + 3600000 * i, 0, $now_ms FROM SERIES(50);
SQL
}

# A request's time in ms, five times: "median max".
time_call() {
  local method="$1" path="$2" body="${3:-}"
  local times=()
  for _ in 1 2 3 4 5; do
    local args=(-s -o "$work/out" -w '%{http_code} %{time_total}' -X "$method" -H "Authorization: Bearer $token")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
    local result
    result=$(curl "${args[@]}" "http://127.0.0.1:$port$path")
    local code="${result%% *}"
    case "$code" in 2??) ;; *) echo "  $method $path answered $code: $(head -c 300 "$work/out")" >&2; exit 1 ;; esac
    times+=("${result##* }")
    if [ "$method" = DELETE ]; then break; fi
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v m="$method" -v p="$path" '
    { t[NR] = $1 * 1000 } END { printf "  %-7s %-70s median %7.1f ms   max %7.1f ms\n", m, substr(p, 1, 70), t[int((NR + 1) / 2)], t[NR] }'
}

run_engine() {
  local engine="$1" url
  echo "== $engine: seeding $subs subscriptions, 3 broadcasts ($((3 * subs)) outbox rows)"
  case "$engine" in
    sqlite)
      url="sqlite://$work/bench.db"
      ;;
    postgres)
      psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS herald_bench_console' -c 'CREATE DATABASE herald_bench_console'
      url="postgres://postgres@127.0.0.1:5432/herald_bench_console"
      ;;
  esac
  # The schema: `herald init` creates the database and applies the migrations (`cleanup`
  # refuses a database that does not exist yet).
  HERALD_CONFIG=/dev/null HERALD_DATABASE_URL="$url" HERALD_ADMIN_TOKEN="$token" "$bin" init >/dev/null
  local started=$SECONDS
  case "$engine" in
    sqlite)
      seed_sql | sed -E \
        -e "s/FROM SERIES\(([0-9]+)\)/FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \1) SELECT i FROM n)/" \
        -e "s/FMT_ID\(i\)/printf('s%021d', i)/g" > "$work/seed.sql"
      (echo 'PRAGMA synchronous = OFF; BEGIN;'; cat "$work/seed.sql"; echo 'COMMIT; ANALYZE;') \
        | sqlite3 "$work/bench.db"
      ;;
    postgres)
      seed_sql | sed -E \
        -e "s/FROM SERIES\(([0-9]+)\)/FROM generate_series(1::bigint, \1) AS g(i)/" \
        -e "s/FMT_ID\(i\)/'s' || lpad(i::text, 21, '0')/g" > "$work/seed.sql"
      psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres herald_bench_console -f "$work/seed.sql"
      # What autovacuum does after a bulk load, done now so the numbers are not its race.
      psql -q -h 127.0.0.1 -U postgres herald_bench_console -c 'VACUUM ANALYZE'
      ;;
  esac
  echo "   seeded in $((SECONDS - started)) s"

  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  HERALD_CONFIG=/dev/null HERALD_LISTEN="127.0.0.1:$port" HERALD_DATABASE_URL="$url" HERALD_ADMIN_TOKEN="$token" \
    HERALD_PUSH_HOST_ALLOWLIST=push.herald-bench.invalid HERALD_LOG=warn "$bin" serve >"$work/herald.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

  local middle
  middle=$(printf 's%021d' $((subs / 2)))
  local before
  before=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/messages?limit=21" \
    | python3 -c 'import json,sys; m=json.load(sys.stdin)["messages"][20]; print(m["createdAt"].replace("+","%2B") + "&beforeId=" + m["id"])')
  time_call GET "/api/v1/subscriptions?limit=1"                         # sign-in
  time_call GET "/api/v1/overview"
  time_call GET "/api/v1/messages?limit=21"
  time_call GET "/api/v1/messages?limit=21&before=$before"
  time_call GET "/api/v1/messages?limit=21&title=invoice&status=done"
  time_call GET "/api/v1/messages?limit=21&since=2020-01-01T00:00:00Z&until=2099-01-01T00:00:00Z"
  time_call GET "/api/v1/messages/broadcast3"
  time_call GET "/api/v1/messages/broadcast3/delivery"
  time_call GET "/api/v1/reminders?limit=1000"
  time_call POST "/api/v1/reminders/preview" '{"schedule":{"weekly":{"days":["mon","fri"],"time":"09:00"}},"timezone":"Europe/Kyiv","count":5}'
  time_call GET "/api/v1/subscriptions?limit=51"
  time_call GET "/api/v1/subscriptions?limit=51&after=$middle"
  time_call GET "/api/v1/subscriptions?limit=51&uid=u123457"
  time_call DELETE "/api/v1/subscriptions/$middle"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  if [ "$engine" = postgres ]; then
    psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE herald_bench_console'
  else
    rm -f "$work"/bench.db*
  fi
}

case "$which" in
  sqlite|postgres) run_engine "$which" ;;
  both) run_engine sqlite; run_engine postgres ;;
  *) echo "usage: $0 [sqlite|postgres|both]" >&2; exit 2 ;;
esac
