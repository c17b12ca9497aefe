#!/usr/bin/env python3
"""Per-row cost of the outbox's claim and settle statements in SQLite alone, in variants.

Builds a file database with Herald's subscriptions and outbox tables (10,000 subscriptions
with realistic field sizes, one broadcast's outbox rows), then claims in batches of 64 and
settles each batch in one transaction, timing both, for each variant given:

  claim variants:  0  the claim returns only the outbox columns
                   5  plus five correlated subqueries into subscriptions (one per column)
                   j  plus one subquery returning the columns as a JSON array
  settle flags:    s  read each subscription's push service by id (one SELECT per batch)
                   l  set subscriptions.last_success_at (the wide row)
                   n  upsert the narrow subscription_activity row instead
                   -  neither

  bench/sqlite_statements.py 5:sl j:n 0:-

Python's sqlite3 module uses the system's libsqlite3. To measure the version Herald's driver
bundles, build it from libsqlite3-sys's amalgamation and put it first on the library path:

  gcc -O2 -shared -fPIC ~/.cargo/registry/src/*/libsqlite3-sys-0.30.1/sqlite3/sqlite3.c \
      -o /tmp/libsqlite3.so.0 -lpthread -ldl -lm
  LD_LIBRARY_PATH=/tmp bench/sqlite_statements.py 5:sl j:n

Python adds its own cost per row (a few µs); compare variants with each other, not with the
server's figures.
"""
import os
import sqlite3
import sys
import tempfile
import time
import uuid

SUBSCRIPTIONS = 10_000
BATCH = 64
SCHEMA = """
CREATE TABLE subscriptions (id TEXT PRIMARY KEY, owner_kind INTEGER NOT NULL, owner_id TEXT NOT NULL,
  endpoint TEXT NOT NULL, endpoint_hash TEXT NOT NULL UNIQUE, p256dh TEXT NOT NULL, auth TEXT NOT NULL,
  secret_hash TEXT NOT NULL, user_agent TEXT, created_at INTEGER NOT NULL, last_success_at INTEGER,
  push_service INTEGER NOT NULL DEFAULT 0, time_zone TEXT, languages TEXT);
CREATE INDEX subscriptions_owner ON subscriptions (owner_kind, owner_id);
CREATE INDEX subscriptions_service ON subscriptions (owner_kind, push_service);
CREATE TABLE subscription_activity (subscription_id TEXT PRIMARY KEY, last_success_at INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL, lease_until INTEGER NOT NULL DEFAULT 0,
  fetched INTEGER NOT NULL DEFAULT 0, last_status INTEGER);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 0;
CREATE INDEX outbox_message ON outbox (message_id, subscription_id);
CREATE INDEX outbox_unattempted ON outbox (message_id) WHERE state = 0 AND attempts = 0;
"""
SUBQUERY = "(SELECT {} FROM subscriptions s WHERE s.id = outbox.subscription_id)"
RETURNING = {
    "0": "",
    "5": ", " + ", ".join(SUBQUERY.format(c) for c in ["endpoint", "p256dh", "auth", "time_zone", "languages"]),
    "j": ", " + SUBQUERY.format("json_array(endpoint, p256dh, auth, push_service, time_zone, languages)"),
}


def database(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.executescript(SCHEMA)
    db.execute("BEGIN")
    for i in range(SUBSCRIPTIONS):
        db.execute(
            "INSERT INTO subscriptions (id, owner_kind, owner_id, endpoint, endpoint_hash, p256dh, auth, "
            "secret_hash, user_agent, created_at) VALUES (?, 0, ?, ?, ?, ?, ?, ?, 'Mozilla/5.0', 1)",
            (uuid.uuid4().hex, str(i), "https://127.0.0.1:8443/push/" + os.urandom(60).hex(),
             os.urandom(32).hex(), "B" + os.urandom(43).hex()[:86], os.urandom(11).hex(), os.urandom(32).hex()),
        )
    db.execute("INSERT INTO outbox (message_id, subscription_id, next_attempt_at) "
               "SELECT 'message', id, 1 FROM subscriptions")
    db.execute("COMMIT")
    return db


def run(variant):
    claim, settle = variant.split(":")
    with tempfile.TemporaryDirectory() as dir:
        db = database(os.path.join(dir, "bench.db"))
        claim_sql = ("UPDATE outbox SET next_attempt_at = ? WHERE id IN (SELECT id FROM outbox WHERE state = 0 "
                     "AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) "
                     "RETURNING id, message_id, attempts, subscription_id" + RETURNING[claim])
        claim_time = settle_time = 0.0
        rows_done = 0
        while True:
            started = time.perf_counter()
            rows = db.execute(claim_sql, (10**12, 10, BATCH)).fetchall()
            claim_time += time.perf_counter() - started
            if not rows:
                break
            rows_done += len(rows)
            ids = [r[0] for r in rows]
            subs = [r[3] for r in rows]
            marks = ",".join("?" * len(rows))
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            if "s" in settle:
                db.execute(f"SELECT id, push_service FROM subscriptions WHERE id IN ({marks})", subs).fetchall()
            db.execute(f"UPDATE outbox SET state = 1, attempts = attempts + 1, last_status = 201 "
                       f"WHERE state = 0 AND id IN ({marks})", ids)
            if "l" in settle:
                db.execute(f"UPDATE subscriptions SET last_success_at = 5 WHERE id IN ({marks})", subs)
            if "n" in settle:
                db.execute(f"INSERT INTO subscription_activity (subscription_id, last_success_at) "
                           f"SELECT id, 5 FROM subscriptions WHERE id IN ({marks}) "
                           f"ON CONFLICT (subscription_id) DO UPDATE SET last_success_at = excluded.last_success_at",
                           subs)
            db.execute("COMMIT")
            settle_time += time.perf_counter() - started
        db.close()
    print(f"{variant:6} claim {claim_time * 1e6 / rows_done:5.1f} µs/row   settle {settle_time * 1e6 / rows_done:5.1f} µs/row"
          f"   (SQLite {sqlite3.sqlite_version})")


for v in sys.argv[1:] or ["5:sl", "j:n"]:
    run(v)
