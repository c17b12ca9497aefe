#!/usr/bin/env bash
# Starts the local PostgreSQL and MariaDB servers the backend tests use, if they are down.
# Idempotent: safe to run when they are already up.
set -u
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if command -v mysqladmin >/dev/null 2>&1 && ! mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 30); do
  pg_ready=1; my_ready=1
  pg_isready -h 127.0.0.1 -p 5432 -q || pg_ready=0
  mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1 || my_ready=0
  [ "$pg_ready$my_ready" = "11" ] && exit 0
  sleep 1
done
echo "warning: PostgreSQL or MariaDB did not come up" >&2
