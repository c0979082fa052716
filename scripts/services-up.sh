#!/usr/bin/env bash
# Make sure Postgres (5432), Redis (6379) and NATS with JetStream (4222) answer on
# 127.0.0.1, starting each one that is down. Used by `just services-up` and `.ci/run`.
#
# Why a script: these machines have no Docker engine; the services are Debian packages
# that normally run before a session starts, but may have stopped. Each is checked with
# its own client (pg_isready, redis-cli ping) or a bash /dev/tcp probe, started only
# if it is down, then waited for. Exits non-zero, loudly, if any never comes up.
set -euo pipefail

WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-30}"

log() { printf 'services-up: %s\n' "$*" >&2; }

tcp_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pg_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432
  else
    tcp_open 127.0.0.1 5432
  fi
}

redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]
  else
    tcp_open 127.0.0.1 6379
  fi
}

nats_up() {
  tcp_open 127.0.0.1 4222
}

pg_start() {
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

redis_start() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

nats_start() {
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

ensure() { # name check start
  local name="$1" check="$2" start="$3"
  if "$check"; then
    log "$name is up"
    return 0
  fi
  log "$name is down; starting it"
  if ! "$start"; then
    log "ERROR: starting $name failed"
    return 1
  fi
  local waited=0
  until "$check"; do
    if ((waited >= WAIT_SECONDS * 5)); then
      log "ERROR: $name did not come up within ${WAIT_SECONDS}s"
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "$name started"
}

failed=0
ensure postgres pg_up pg_start || failed=1
ensure redis redis_up redis_start || failed=1
ensure nats nats_up nats_start || failed=1

if ((failed)); then
  log "ERROR: some services are not running (see above)"
  exit 1
fi
