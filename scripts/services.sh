#!/usr/bin/env bash
# Provides the database servers the backend tests use, on a Debian machine:
#   PostgreSQL on 127.0.0.1:5432, user postgres, trust authentication from 127.0.0.1;
#   MariaDB    on 127.0.0.1:3306, user root without a password from 127.0.0.1.
# For each: installs the Debian package when it is absent (postgresql, mariadb-server; needs
# root and the Debian mirrors), creates the cluster or data directory when there is none,
# allows that access when it is not allowed yet, and starts the server when it is down.
# Idempotent: on a machine where both already run that way it changes nothing.
# It never fails the caller: scripts/test checks afterwards what is reachable and says loudly
# which backend it skips.
set -u

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
  if ! is_root; then
    echo "services: cannot install $* (apt needs root; run scripts/test as root or install it yourself)" >&2
    return 1
  fi
  echo "services: installing $* (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}

# ---------------------------------------------------------------- PostgreSQL
postgres_login() { psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; }

setup_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql || return 1
  fi
  postgres_login && return 0
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)"
  if [ -z "$version" ]; then
    version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
    is_root || { echo "services: no PostgreSQL cluster, and creating one needs root" >&2; return 1; }
    echo "services: creating PostgreSQL cluster $version/main"
    pg_createcluster "$version" main >/dev/null || return 1
  fi
  local conf="/etc/postgresql/$version/main"
  if is_root; then
    # Listen on 127.0.0.1:5432 (Debian's default is localhost, port 5432 for the first cluster).
    if [ ! -f "$conf/conf.d/90-herald-tests.conf" ] && ! grep -rqs "^listen_addresses" "$conf/conf.d"; then
      printf "listen_addresses = '127.0.0.1'\nport = 5432\n" >"$conf/conf.d/90-herald-tests.conf"
    fi
    # Trust for user postgres from 127.0.0.1, ahead of Debian's scram-sha-256 line.
    if ! grep -Eq '^host[[:space:]]+all[[:space:]]+(all|postgres)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$conf/pg_hba.conf"; then
      echo "services: allowing user postgres from 127.0.0.1 without a password (pg_hba.conf)"
      sed -i '1i host all postgres 127.0.0.1/32 trust' "$conf/pg_hba.conf"
    fi
  fi
  if pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  else
    echo "services: starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
}

# ---------------------------------------------------------------- MariaDB
mariadb_client() { if command -v mariadb >/dev/null 2>&1; then echo mariadb; else echo mysql; fi; }
mariadb_login() { "$(mariadb_client)" -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }
mariadb_up() { mysqladmin -h127.0.0.1 -P3306 ping >/dev/null 2>&1 || mysqladmin ping >/dev/null 2>&1; }

setup_mariadb() {
  if [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server || return 1
  fi
  mariadb_login && return 0
  is_root || { echo "services: MariaDB is not reachable as root@127.0.0.1, and fixing that needs root" >&2; return 1; }
  if [ ! -d /var/lib/mysql/mysql ]; then
    echo "services: initialising the MariaDB data directory"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null || return 1
  fi
  if ! mariadb_up; then
    echo "services: starting MariaDB"
    install -d -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 30); do mariadb_up && break; sleep 1; done
  fi
  mariadb_login && return 0
  # Debian's root@localhost authenticates by Unix socket; the tests log in over TCP from
  # 127.0.0.1 without a password. Allow exactly that (through the socket, as OS root).
  echo "services: allowing MariaDB user root from 127.0.0.1 without a password"
  "$(mariadb_client)" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  if ! mariadb_login && [ -d /etc/mysql/mariadb.conf.d ] && [ ! -f /etc/mysql/mariadb.conf.d/90-herald-tests.cnf ]; then
    # With name resolution on, 127.0.0.1 is matched as "localhost" (socket authentication).
    printf '[mysqld]\nskip-name-resolve\nbind-address = 127.0.0.1\nport = 3306\n' \
      >/etc/mysql/mariadb.conf.d/90-herald-tests.cnf
    echo "services: restarting MariaDB with skip-name-resolve"
    mysqladmin shutdown >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do mariadb_up || break; sleep 1; done
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  fi
}

setup_postgres || echo "services: PostgreSQL could not be set up" >&2
setup_mariadb || echo "services: MariaDB could not be set up" >&2
for _ in $(seq 1 30); do
  postgres_login && mariadb_login && exit 0
  sleep 1
done
exit 0
