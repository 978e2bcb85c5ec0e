#!/usr/bin/env bash
# stack.sh — the throwaway integration-test stack: Postgres, Mailpit, mana-notify
# and two mana-auth processes, on alternate loopback ports only.
#
# Usage (called):
#   scripts/stack.sh --dir DIR up            build the binary and start every part
#   scripts/stack.sh --dir DIR down          stop every part and remove DIR
#   scripts/stack.sh --dir DIR stop PART     stop one part; returns once it is gone and its port is closed
#   scripts/stack.sh --dir DIR start PART    start one part; returns once it is healthy again
#   scripts/stack.sh --dir DIR status        show every part
#   scripts/stack.sh --dir DIR logs [N]      last N (200) log lines of auth, auth2, notify + Mailpit's list
#   scripts/stack.sh --dir DIR info          how to reach each part
#   PART = postgres | mailpit | redis | notify | notify2 | auth | auth2 | auth3
# notify2 (a second mana-notify on the same database) is not started by `up`;
# the exactly-once test starts and stops it.
# DIR may also come from MANA_STACK_DIR. `up` writes DIR/ctl, a wrapper that
# other processes (the Go tests, via MANA_STACK_CTL) call as `DIR/ctl stop notify`.
#
# Usage (sourced): defines the functions below without running anything.
#
# All state lives in files in DIR: stack.conf (paths), env (what the tests
# export), <part>.env (each service's environment), <part>.pid, logs/<part>.log.
# Ports used, and nothing else: 5443 (Postgres), 1026 (SMTP), 8026 (Mailpit API),
# 3091 (auth), 3092 (notify), 3093 (auth2), 3094 (notify2), 3095 (the fake Expo
# push server the tests start), 3096 (auth3), 6390 (Redis). The machine's own
# Postgres/Redis are never contacted.

STACK_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# STACK_PORT_OFFSET shifts every port, so stacks of several checkouts can run
# side by side (for example offset 100: 5543, 1126, 8126, 3191, 3192, 3193).
STACK_PORT_OFFSET=${STACK_PORT_OFFSET:-0}
[[ "$STACK_PORT_OFFSET" =~ ^[0-9]+$ ]] || { echo "STACK_PORT_OFFSET must be a non-negative integer" >&2; exit 2; }
PG_PORT=$((5443 + STACK_PORT_OFFSET))
SMTP_PORT=$((1026 + STACK_PORT_OFFSET))
MAILPIT_PORT=$((8026 + STACK_PORT_OFFSET))
AUTH_PORT=$((3091 + STACK_PORT_OFFSET))
NOTIFY_PORT=$((3092 + STACK_PORT_OFFSET))
AUTH2_PORT=$((3093 + STACK_PORT_OFFSET))
# auth3 enforces the production rate limits, counted in the stack's Redis, and
# trusts X-Forwarded-For from loopback so tests can act as distinct clients;
# auth and auth2 count per process with limits too high to bind, so the other
# tests are not throttled.
AUTH3_PORT=$((3096 + STACK_PORT_OFFSET))
REDIS_PORT=$((6390 + STACK_PORT_OFFSET))
NOTIFY2_PORT=$((3094 + STACK_PORT_OFFSET))
EXPO_PORT=$((3095 + STACK_PORT_OFFSET))
STACK_PORTS=("$PG_PORT" "$SMTP_PORT" "$MAILPIT_PORT" "$AUTH_PORT" "$NOTIFY_PORT" "$AUTH2_PORT" "$NOTIFY2_PORT" "$EXPO_PORT" "$AUTH3_PORT" "$REDIS_PORT")

MAILPIT_VERSION=v1.33.1
TEST_SERVICE_KEY=test-service-key
TEST_WEBHOOK_SECRET=test-webhook-secret
# Signs the session cookies of every auth process (shared, as replicas must).
TEST_BETTER_AUTH_SECRET=test-better-auth-secret
# A fixed, non-zero test KEK: base64 of the 32 bytes "mana-integration-test-kek-32byte".
TEST_KEK="$(printf 'mana-integration-test-kek-32byte' | base64)"
# A retired KEK the auth processes also know (MANA_AUTH_KEK_PREVIOUS), so the
# KEK-rotation test can write rows under it and rotate them away while serving.
TEST_KEK_PREVIOUS="$(printf 'mana-integration-test-kek-old-32' | base64)"
DB_URL="postgresql://mana@127.0.0.1:${PG_PORT}/mana_platform?sslmode=disable"

# Deadlines in seconds.
PG_DEADLINE=${STACK_PG_DEADLINE:-60}
SERVICE_DEADLINE=${STACK_SERVICE_DEADLINE:-60}
STOP_DEADLINE=${STACK_STOP_DEADLINE:-20}

stack_log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
stack_die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

stack_require_dir() {
  [[ -n "${STACK_DIR:-}" ]] || stack_die "no stack dir: pass --dir DIR or set MANA_STACK_DIR"
}

# ---------------------------------------------------------------------------
# Tools

# stack_find_pgbin prints the newest /usr/lib/postgresql/*/bin, installing
# PostgreSQL with apt when it is missing and we are root.
stack_find_pgbin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
    if [[ $EUID -ne 0 ]]; then
      stack_die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; install them (apt-get install -y postgresql) or run as root"
    fi
    stack_log "PostgreSQL binaries missing: apt-get update && apt-get install -y postgresql"
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    [[ -n "$bin" && -x "$bin/initdb" ]] || stack_die "PostgreSQL installed but no initdb in /usr/lib/postgresql/*/bin"
  fi
  printf '%s\n' "$bin"
}

# stack_find_mailpit prints the path of mailpit $MAILPIT_VERSION, installing it
# with `go install` (GOBIN set) when it is missing or another version.
stack_find_mailpit() {
  local gobin cand
  gobin="$(go env GOBIN)"
  [[ -n "$gobin" ]] || gobin="$(go env GOPATH)/bin"
  for cand in "$(command -v mailpit 2>/dev/null || true)" "$gobin/mailpit"; do
    [[ -n "$cand" && -x "$cand" ]] || continue
    if go version -m "$cand" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/axllent/mailpit[[:space:]]+${MAILPIT_VERSION}[[:space:]]"; then
      printf '%s\n' "$cand"
      return 0
    fi
  done
  stack_log "installing mailpit ${MAILPIT_VERSION} into $gobin (go install)"
  mkdir -p "$gobin"
  GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@${MAILPIT_VERSION}" >&2 \
    || stack_die "go install github.com/axllent/mailpit@${MAILPIT_VERSION} failed"
  [[ -x "$gobin/mailpit" ]] || stack_die "mailpit not found in $gobin after go install"
  printf '%s\n' "$gobin/mailpit"
}

# stack_find_redis prints the path of redis-server, installing it with apt
# when it is missing and we are root.
stack_find_redis() {
  local bin
  bin="$(command -v redis-server 2>/dev/null || true)"
  if [[ -z "$bin" ]]; then
    [[ $EUID -eq 0 ]] || stack_die "redis-server not found; install it (apt-get install -y redis-server) or run as root"
    stack_log "redis-server missing: apt-get update && apt-get install -y redis-server"
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >&2
    bin="$(command -v redis-server 2>/dev/null || true)"
    [[ -n "$bin" ]] || stack_die "redis-server installed but not on PATH"
  fi
  printf '%s\n' "$bin"
}

# as_pg runs a command as the postgres OS user when we are root (initdb refuses root).
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      local q
      printf -v q '%q ' "$@"
      su postgres -s /bin/sh -c "$q"
    fi
  else
    "$@"
  fi
}

# ---------------------------------------------------------------------------
# Process and port helpers

# port_in_use PORT: true when anything listens on PORT (any address).
port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ]]
    return
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
  (exec 3<>"/dev/tcp/::1/$port") 2>/dev/null && return 0
  return 1
}

port_owner() {
  command -v ss >/dev/null 2>&1 && ss -Htlnp "sport = :$1" 2>/dev/null | head -3
}

# pid_alive PID: true while PID exists and is not a zombie (a stopped child of
# an exited shell may linger as a zombie when PID 1 does not reap).
pid_alive() {
  local pid=$1 st
  [[ -n "$pid" && -r "/proc/$pid/stat" ]] || return 1
  st="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

http_code() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true; }

part_port() {
  case "$1" in
    postgres) echo "$PG_PORT" ;;
    mailpit) echo "$MAILPIT_PORT" ;;
    notify) echo "$NOTIFY_PORT" ;;
    notify2) echo "$NOTIFY2_PORT" ;;
    auth) echo "$AUTH_PORT" ;;
    auth2) echo "$AUTH2_PORT" ;;
    auth3) echo "$AUTH3_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    *) stack_die "unknown part '$1' (postgres|mailpit|redis|notify|notify2|auth|auth2|auth3)" ;;
  esac
}

part_health_url() {
  case "$1" in
    mailpit) echo "http://127.0.0.1:${MAILPIT_PORT}/api/v1/messages" ;;
    notify) echo "http://127.0.0.1:${NOTIFY_PORT}/health" ;;
    notify2) echo "http://127.0.0.1:${NOTIFY2_PORT}/health" ;;
    auth) echo "http://localhost:${AUTH_PORT}/health" ;;
    auth2) echo "http://localhost:${AUTH2_PORT}/health" ;;
    auth3) echo "http://localhost:${AUTH3_PORT}/health" ;;
  esac
}

pg_query() {
  PGCONNECT_TIMEOUT=2 "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U mana -d "${2:-mana_platform}" -tA -c "$1"
}

stack_load_conf() {
  stack_require_dir
  [[ -f "$STACK_DIR/stack.conf" ]] || stack_die "$STACK_DIR is not a stack dir (no stack.conf); run 'up' first"
  # shellcheck disable=SC1091
  source "$STACK_DIR/stack.conf"
}

# ---------------------------------------------------------------------------
# Postgres

pg_init() {
  local pgdir="$STACK_DIR/pg"
  mkdir -p "$pgdir"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$pgdir"; fi
  as_pg "$PGBIN/initdb" -D "$pgdir/data" --username=mana --auth=trust -E UTF8 --locale=C --no-sync \
    >"$STACK_DIR/logs/initdb.log" 2>&1 || { cat "$STACK_DIR/logs/initdb.log" >&2; stack_die "initdb failed"; }
  as_pg mkdir -p "$pgdir/sock"
}

pg_start() {
  local pgdir="$STACK_DIR/pg"
  port_in_use "$PG_PORT" && stack_die "port $PG_PORT (Postgres) is already in use: $(port_owner "$PG_PORT")"
  stack_log "starting postgres on 127.0.0.1:$PG_PORT"
  as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -W -s \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pgdir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  ln -sf "$pgdir/postgres.log" "$STACK_DIR/logs/postgres.log"
  local db=mana_platform
  [[ -f "$STACK_DIR/pg/db_created" ]] || db=postgres
  local deadline=$((SECONDS + PG_DEADLINE))
  until pg_query 'select 1' "$db" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      tail -n 50 "$pgdir/postgres.log" >&2 || true
      stack_die "postgres did not answer 'select 1' within ${PG_DEADLINE}s"
    fi
    sleep 0.2
  done
  if [[ ! -f "$STACK_DIR/pg/db_created" ]]; then
    pg_query 'CREATE DATABASE mana_platform' postgres >/dev/null
    touch "$STACK_DIR/pg/db_created"
    pg_query 'select 1' >/dev/null || stack_die "database mana_platform does not answer"
  fi
  head -1 "$pgdir/data/postmaster.pid" >"$STACK_DIR/postgres.pid"
  stack_log "postgres ready (pid $(cat "$STACK_DIR/postgres.pid"))"
}

# pg_stop [MODE]: fast by default (ctl stop), immediate at teardown.
pg_stop() {
  local mode=${1:-fast} pgdir="$STACK_DIR/pg"
  if [[ -f "$pgdir/data/postmaster.pid" ]]; then
    stack_log "stopping postgres (-m $mode)"
    as_pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m "$mode" -s -w -t "$STOP_DEADLINE" stop >/dev/null 2>&1 || true
  fi
  local pid
  pid="$(cat "$STACK_DIR/postgres.pid" 2>/dev/null || true)"
  wait_gone postgres "$pid" "$PG_PORT"
  rm -f "$STACK_DIR/postgres.pid"
}

# ---------------------------------------------------------------------------
# Mailpit and the mana services

# spawn NAME ENVFILE CMD...: start CMD detached (own session, stdin closed,
# stdout+stderr appended to logs/NAME.log) with exactly the environment in
# ENVFILE plus PATH and HOME, and record its pid in NAME.pid.
spawn() {
  local name=$1 envfile=$2
  shift 2
  local -a vars=()
  if [[ -n "$envfile" ]]; then mapfile -t vars <"$envfile"; fi
  local log="$STACK_DIR/logs/$name.log"
  printf '===== %s: starting %s =====\n' "$(date -Iseconds)" "$name" >>"$log"
  setsid env -i PATH="$PATH" HOME="${HOME:-/root}" "${vars[@]}" "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$STACK_DIR/$name.pid"
}

wait_healthy() {
  local name=$1 url=$2 deadline=$((SECONDS + SERVICE_DEADLINE)) pid code=""
  pid="$(cat "$STACK_DIR/$name.pid")"
  while :; do
    code="$(http_code "$url")"
    [[ "$code" == 200 ]] && break
    if ! pid_alive "$pid"; then
      tail -n 40 "$STACK_DIR/logs/$name.log" >&2 || true
      stack_die "$name (pid $pid) exited before $url answered 200; log: $STACK_DIR/logs/$name.log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$STACK_DIR/logs/$name.log" >&2 || true
      stack_die "$name: $url did not answer 200 within ${SERVICE_DEADLINE}s (last status '$code')"
    fi
    sleep 0.2
  done
  stack_log "$name ready (pid $pid, $url)"
}

# wait_gone NAME PID PORT: until PID has exited and PORT is closed; TERM was
# already sent, KILL after the deadline.
wait_gone() {
  local name=$1 pid=$2 port=$3 deadline=$((SECONDS + STOP_DEADLINE)) killed=0
  while pid_alive "$pid" || port_in_use "$port"; do
    if ((SECONDS >= deadline)); then
      if ((killed)); then stack_die "$name (pid ${pid:-?}) still alive or port $port still open after SIGKILL"; fi
      stack_log "$name did not stop within ${STOP_DEADLINE}s, sending SIGKILL"
      if pid_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
      killed=1
      deadline=$((SECONDS + 10))
    fi
    sleep 0.1
  done
}

proc_stop() {
  local name=$1 port pid
  port="$(part_port "$name")"
  pid="$(cat "$STACK_DIR/$name.pid" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && pid_alive "$pid"; then
    stack_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  wait_gone "$name" "$pid" "$port"
  rm -f "$STACK_DIR/$name.pid"
}

mailpit_start() {
  port_in_use "$SMTP_PORT" && stack_die "port $SMTP_PORT (Mailpit SMTP) is already in use: $(port_owner "$SMTP_PORT")"
  port_in_use "$MAILPIT_PORT" && stack_die "port $MAILPIT_PORT (Mailpit API) is already in use: $(port_owner "$MAILPIT_PORT")"
  stack_log "starting mailpit (SMTP 127.0.0.1:$SMTP_PORT, API 127.0.0.1:$MAILPIT_PORT)"
  spawn mailpit "" "$MAILPIT_BIN" \
    --smtp "127.0.0.1:$SMTP_PORT" --listen "127.0.0.1:$MAILPIT_PORT" \
    --smtp-auth-accept-any --smtp-auth-allow-insecure --smtp-disable-rdns \
    --database "$STACK_DIR/mailpit.db" --disable-version-check
  wait_healthy mailpit "$(part_health_url mailpit)"
}

redis_start() {
  port_in_use "$REDIS_PORT" && stack_die "port $REDIS_PORT (Redis) is already in use: $(port_owner "$REDIS_PORT")"
  stack_log "starting redis (127.0.0.1:$REDIS_PORT, no persistence)"
  spawn redis "" "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$STACK_DIR"
  local deadline=$((SECONDS + SERVICE_DEADLINE)) pid
  pid="$(cat "$STACK_DIR/redis.pid")"
  # PING over bash's /dev/tcp: redis-cli is not always installed beside the server.
  until [[ "$( (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3) 2>/dev/null)" == *PONG* ]]; do
    pid_alive "$pid" || stack_die "redis (pid $pid) exited; log: $STACK_DIR/logs/redis.log"
    ((SECONDS < deadline)) || stack_die "redis did not answer PING within ${SERVICE_DEADLINE}s"
    sleep 0.1
  done
  stack_log "redis ready (pid $pid, 127.0.0.1:$REDIS_PORT)"
}

service_start() {
  local name=$1 port
  port="$(part_port "$name")"
  port_in_use "$port" && stack_die "port $port ($name) is already in use: $(port_owner "$port")"
  local sub=auth
  [[ "$name" == notify* ]] && sub=notify
  stack_log "starting $name (mana serve $sub on :$port)"
  spawn "$name" "$STACK_DIR/$name.env" "$STACK_DIR/mana" serve "$sub"
  wait_healthy "$name" "$(part_health_url "$name")"
}

part_start() {
  case "$1" in
    postgres) pg_start ;;
    mailpit) mailpit_start ;;
    redis) redis_start ;;
    notify | notify2 | auth | auth2 | auth3) service_start "$1" ;;
    *) part_port "$1" >/dev/null ;;
  esac
}

part_stop() {
  case "$1" in
    postgres) pg_stop fast ;;
    mailpit | redis | notify | notify2 | auth | auth2 | auth3) proc_stop "$1" ;;
    *) part_port "$1" >/dev/null ;;
  esac
}

# ---------------------------------------------------------------------------
# Whole stack

write_state() {
  cat >"$STACK_DIR/stack.conf" <<EOF
PGBIN=$(printf '%q' "$PGBIN")
MAILPIT_BIN=$(printf '%q' "$MAILPIT_BIN")
REDIS_BIN=$(printf '%q' "$REDIS_BIN")
STACK_REPO_ROOT=$(printf '%q' "$STACK_REPO_ROOT")
EOF
  # One KEY=VALUE per line, unquoted (read with mapfile, passed to env -i).
  # Short retry bases keep the retry tests fast; the fake Expo server is
  # started by the tests on EXPO_PORT.
  local p
  for p in notify notify2; do
    cat >"$STACK_DIR/$p.env" <<EOF
NODE_ENV=production
PORT=$(part_port "$p")
DATABASE_URL=$DB_URL
SERVICE_KEY=$TEST_SERVICE_KEY
MANA_AUTH_URL=http://127.0.0.1:$AUTH_PORT
SMTP_HOST=127.0.0.1
SMTP_PORT=$SMTP_PORT
SMTP_USER=
SMTP_FROM=Mana Test <noreply@test.local>
NOTIFY_EMAIL_RETRY_BASE=1s
NOTIFY_EMAIL_MAX_ATTEMPTS=5
NOTIFY_PUSH_RETRY_BASE=200ms
NOTIFY_WEBHOOK_RETRY_BASE=200ms
NOTIFY_WEBHOOK_SECRET=$TEST_WEBHOOK_SECRET
NOTIFY_WEBHOOK_ALLOW_PRIVATE=true
EXPO_PUSH_URL=http://127.0.0.1:$EXPO_PORT/--/api/v2/push/send
MANA_AUTH_KEK=$TEST_KEK
MANA_AUTH_KEK_PREVIOUS=$TEST_KEK_PREVIOUS
EOF
  done
  for p in auth auth2 auth3; do
    cat >"$STACK_DIR/$p.env" <<EOF
NODE_ENV=production
PORT=$(part_port "$p")
DATABASE_URL=$DB_URL
BASE_URL=http://localhost:$AUTH_PORT
MANA_AUTH_KEK=$TEST_KEK
MANA_AUTH_KEK_PREVIOUS=$TEST_KEK_PREVIOUS
MANA_NOTIFY_URL=http://127.0.0.1:$NOTIFY_PORT
MANA_SERVICE_KEY=$TEST_SERVICE_KEY
BETTER_AUTH_SECRET=$TEST_BETTER_AUTH_SECRET
CORS_ORIGINS=http://localhost:5173,http://localhost:3091
JWT_AUDIENCE=mana
EOF
    if [[ "$p" == auth3 ]]; then
      printf '%s\n' "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" "MANA_TRUSTED_PROXIES=127.0.0.1/32,::1/128" >>"$STACK_DIR/$p.env"
    else
      # Limits so high they never bind ("off" is refused in production mode).
      echo "MANA_RATE_LIMITS=login=1000000/1m,register=1000000/1m,email=1000000/1m,refresh=1000000/1m,password=1000000/1m,export=1000000/1m" >>"$STACK_DIR/$p.env"
    fi
  done
  cat >"$STACK_DIR/ctl" <<EOF
#!/usr/bin/env bash
# Stack control for the Go tests: \$MANA_STACK_CTL stop|start postgres|mailpit|redis|notify|notify2|auth|auth2|auth3
# The port offset of this stack travels with it: a caller without it in its
# environment must not probe another stack's ports.
export STACK_PORT_OFFSET=$STACK_PORT_OFFSET
exec $(printf '%q' "$STACK_REPO_ROOT/scripts/stack.sh") --dir $(printf '%q' "$STACK_DIR") "\$@"
EOF
  chmod 755 "$STACK_DIR/ctl"
  cat >"$STACK_DIR/env" <<EOF
export AUTH_URL=http://localhost:$AUTH_PORT
export AUTH2_URL=http://localhost:$AUTH2_PORT
export AUTH3_URL=http://localhost:$AUTH3_PORT
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export NOTIFY_URL=http://127.0.0.1:$NOTIFY_PORT
export NOTIFY2_URL=http://127.0.0.1:$NOTIFY2_PORT
export EXPO_FAKE_ADDR=127.0.0.1:$EXPO_PORT
export WEBHOOK_SECRET=$TEST_WEBHOOK_SECRET
export MAILPIT_URL=http://127.0.0.1:$MAILPIT_PORT
export TEST_DATABASE_URL='$DB_URL'
export SERVICE_KEY=$TEST_SERVICE_KEY
export BETTER_AUTH_SECRET=$TEST_BETTER_AUTH_SECRET
export TEST_KEK=$TEST_KEK
export TEST_KEK_PREVIOUS=$TEST_KEK_PREVIOUS
export MANA_STACK_CTL=$(printf '%q' "$STACK_DIR/ctl")
export MANA_STACK_DIR=$(printf '%q' "$STACK_DIR")
EOF
}

stack_up() {
  stack_require_dir
  mkdir -p "$STACK_DIR/logs"
  chmod 755 "$STACK_DIR"
  local p taken=()
  for p in "${STACK_PORTS[@]}"; do
    if port_in_use "$p"; then taken+=("$p"); fi
  done
  if ((${#taken[@]})); then
    for p in "${taken[@]}"; do stack_log "port $p is already in use: $(port_owner "$p")"; done
    stack_die "port(s) ${taken[*]} already in use — is another test stack running? (ports used: ${STACK_PORTS[*]})"
  fi
  PGBIN="$(stack_find_pgbin)"
  MAILPIT_BIN="$(stack_find_mailpit)"
  REDIS_BIN="$(stack_find_redis)"
  write_state

  local t0=$SECONDS
  stack_log "building mana -> $STACK_DIR/mana"
  (cd "$STACK_REPO_ROOT" && go build -o "$STACK_DIR/mana" ./cmd/mana) || stack_die "go build ./cmd/mana failed"

  pg_init
  pg_start
  mailpit_start
  redis_start
  # The services start at once and each applies migrations at start:
  # this exercises the advisory lock that makes concurrent starts safe.
  local name
  for name in notify auth auth2 auth3; do
    port_in_use "$(part_port "$name")" && stack_die "port $(part_port "$name") ($name) is already in use"
    local sub=auth
    [[ "$name" == notify ]] && sub=notify
    stack_log "starting $name (mana serve $sub on :$(part_port "$name"))"
    spawn "$name" "$STACK_DIR/$name.env" "$STACK_DIR/mana" serve "$sub"
  done
  for name in notify auth auth2 auth3; do
    wait_healthy "$name" "$(part_health_url "$name")"
  done
  stack_log "stack up in $((SECONDS - t0))s: $STACK_DIR"
}

stack_down() {
  stack_require_dir
  [[ -d "$STACK_DIR" ]] || return 0
  if [[ -f "$STACK_DIR/stack.conf" ]]; then
    # shellcheck disable=SC1091
    source "$STACK_DIR/stack.conf"
  fi
  local p
  for p in auth3 auth2 auth notify2 notify redis mailpit; do
    if [[ -f "$STACK_DIR/$p.pid" ]]; then proc_stop "$p" || true; fi
  done
  if [[ -n "${PGBIN:-}" && -f "$STACK_DIR/pg/data/postmaster.pid" ]]; then pg_stop immediate || true; fi
  rm -rf "$STACK_DIR"
  stack_log "stack removed"
}

stack_status() {
  stack_load_conf
  local p pid state
  for p in postgres mailpit redis notify notify2 auth auth2 auth3; do
    pid="$(cat "$STACK_DIR/$p.pid" 2>/dev/null || true)"
    if pid_alive "$pid"; then state=running; else state=stopped; fi
    printf '%-9s %-8s pid=%-8s port=%s\n' "$p" "$state" "${pid:--}" "$(part_port "$p")"
  done
}

stack_logs() {
  stack_require_dir
  local n=${1:-200} p
  for p in auth auth2 auth3 notify notify2; do
    echo "===== last $n lines of $STACK_DIR/logs/$p.log ====="
    tail -n "$n" "$STACK_DIR/logs/$p.log" 2>/dev/null || echo "(no log)"
  done
  echo "===== Mailpit messages (curl -s http://127.0.0.1:$MAILPIT_PORT/api/v1/messages | head -c 5000) ====="
  curl -s -m 5 "http://127.0.0.1:$MAILPIT_PORT/api/v1/messages" | head -c 5000 || echo "(mailpit not reachable)"
  echo
}

stack_info() {
  stack_load_conf
  cat <<EOF
Stack dir:   $STACK_DIR
mana-auth:   http://localhost:$AUTH_PORT   (log $STACK_DIR/logs/auth.log)
mana-auth 2: http://localhost:$AUTH2_PORT   (log $STACK_DIR/logs/auth2.log)
mana-auth 3: http://localhost:$AUTH3_PORT   (rate limits in Redis; log $STACK_DIR/logs/auth3.log)
Redis:       127.0.0.1:$REDIS_PORT
mana-notify: http://127.0.0.1:$NOTIFY_PORT   (log $STACK_DIR/logs/notify.log)
notify2:     http://127.0.0.1:$NOTIFY2_PORT   (started on demand: ctl start notify2)
Mailpit UI:  http://127.0.0.1:$MAILPIT_PORT   (SMTP 127.0.0.1:$SMTP_PORT, log $STACK_DIR/logs/mailpit.log)
Postgres:    $PGBIN/psql -h 127.0.0.1 -p $PG_PORT -U mana -d mana_platform   (log $STACK_DIR/logs/postgres.log)
Test env:    source $STACK_DIR/env   (then: go test -tags integration -count=1 -v ./tests/integration/...)
Control:     $STACK_DIR/ctl stop|start postgres|mailpit|redis|notify|notify2|auth|auth2|auth3 ; $STACK_DIR/ctl status
Stop it:     $STACK_REPO_ROOT/scripts/stack.sh --dir $STACK_DIR down
EOF
}

stack_main() {
  set -euo pipefail
  STACK_DIR="${MANA_STACK_DIR:-}"
  while (($#)); do
    case "$1" in
      --dir) STACK_DIR="$2"; shift 2 ;;
      --dir=*) STACK_DIR="${1#--dir=}"; shift ;;
      *) break ;;
    esac
  done
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    up) stack_up ;;
    down) stack_down ;;
    start | stop)
      [[ $# -eq 1 ]] || stack_die "usage: $cmd postgres|mailpit|redis|notify|notify2|auth|auth2|auth3"
      stack_load_conf
      "part_$cmd" "$1"
      ;;
    status) stack_status ;;
    logs) stack_logs "$@" ;;
    info) stack_info ;;
    *) sed -n '2,22p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  stack_main "$@"
fi
