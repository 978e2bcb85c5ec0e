#!/usr/bin/env bash
# benchmark.sh — issue 14's benchmark: start a throwaway stack (scripts/stack.sh,
# ports shifted by STACK_PORT_OFFSET, default 700), build cmd/manabench, run the
# matrix against the stack's `auth` process (rate limits too high to bind) and
# print a markdown table; tear the stack down on exit. Not part of scripts/test.sh:
# it measures, it asserts nothing. See docs/performance.md.
#
#   scripts/benchmark.sh                                  the matrix, defaults (about 4 minutes)
#   BENCH_SECONDS=3 BENCH_WARMUP=1 BENCH_CONC="8" scripts/benchmark.sh   a short run
#   BENCH_ROUNDS=3 scripts/benchmark.sh                   each cell 3 times, interleaved: medians (about 11 minutes)
#   GROWTH=1 scripts/benchmark.sh                         + 1k vs 100k users / 1M sessions (about 7 more minutes)
#   GROWTH=1 BENCH_MATRIX=0 scripts/benchmark.sh          the growth comparison alone
#
# Environment (defaults in brackets):
#   STACK_PORT_OFFSET [700]   BENCH_SECONDS [10]   BENCH_WARMUP [2]   BENCH_CONC ["1 8 32"]
#   BENCH_MODES ["signup login validate me refresh"]   BENCH_HASH_SECONDS [5]   BENCH_MAIL_SAMPLES [100]
#   BENCH_MATRIX [1]   BENCH_ROUNDS [1] (matrix rounds; the table shows medians)   GROWTH [0]   GROWTH_ROUNDS [3]   GROWTH_CONC [8]
#   GROWTH_MODES ["signup login validate me refresh"]   GROWTH_SMALL [1000]   GROWTH_LARGE [100000]
#   GROWTH_SESSIONS [10] (sessions per seeded user)   BENCH_OUT [a new /tmp/mana-bench-out.* dir, kept]
#   BENCH_FLOOD [1000] (concurrent logins of the memory run; 0 = none)   BENCH_FLOOD_SECONDS [20]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$(pwd)"
STACK_SH="$REPO_ROOT/scripts/stack.sh"

export STACK_PORT_OFFSET=${STACK_PORT_OFFSET:-700}
SECONDS_MEASURED=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
CONC=${BENCH_CONC:-"1 8 32"}
MODES=${BENCH_MODES:-"signup login validate me refresh"}
HASH_SECONDS=${BENCH_HASH_SECONDS:-5}
MAIL_SAMPLES=${BENCH_MAIL_SAMPLES:-100}
FLOOD=${BENCH_FLOOD:-1000}
FLOOD_SECONDS=${BENCH_FLOOD_SECONDS:-20}
MATRIX=${BENCH_MATRIX:-1}
ROUNDS=${BENCH_ROUNDS:-1}
GROWTH=${GROWTH:-0}
GROWTH_ROUNDS=${GROWTH_ROUNDS:-3}
GROWTH_CONC=${GROWTH_CONC:-8}
GROWTH_MODES=${GROWTH_MODES:-"signup login validate me refresh"}
GROWTH_SMALL=${GROWTH_SMALL:-1000}
GROWTH_LARGE=${GROWTH_LARGE:-100000}
GROWTH_SESSIONS=${GROWTH_SESSIONS:-10}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/mana-bench-out.XXXXXX)}
mkdir -p "$OUT"

# Always under /tmp: as root, Postgres runs as the postgres user and must reach the dir.
STACK_DIR="$(mktemp -d /tmp/mana-bench.XXXXXX)"
export MANA_STACK_DIR="$STACK_DIR"
GROWTH_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

on_exit() {
  local rc=$?
  set +e
  local pid
  for pid in "${GROWTH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${GROWTH_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if ((rc != 0)); then "$STACK_SH" --dir "$STACK_DIR" logs 40; fi
  "$STACK_SH" --dir "$STACK_DIR" down
  log "results kept in $OUT"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$STACK_SH" --dir "$STACK_DIR" up
# shellcheck disable=SC1091
source "$STACK_DIR/stack.conf" # PGBIN
# shellcheck disable=SC1091
source "$STACK_DIR/env" # MAILPIT_URL, TEST_DATABASE_URL
AUTH_PORT=$((3091 + STACK_PORT_OFFSET))
PG_PORT=$((5443 + STACK_PORT_OFFSET))
# A literal loopback address: the tool refuses anything else, and no
# resolver choice between ::1 and 127.0.0.1 enters the figures.
BASE="http://127.0.0.1:$AUTH_PORT"

log "building manabench"
go build -o "$OUT/manabench" ./cmd/manabench
BENCH="$OUT/manabench"
COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# Tracked product files changed since the commit (the stack was built from
# the working tree); untracked files, this tool's own included, do not count.
if [[ -n "$(git status --porcelain --untracked-files=no -- cmd internal migrations 2>/dev/null)" ]]; then COMMIT="$COMMIT+dirty"; fi

# restart_auth: a fresh auth process per endpoint group, so VmHWM is that group's peak.
restart_auth() {
  "$MANA_STACK_CTL" stop auth >/dev/null 2>&1
  "$MANA_STACK_CTL" start auth >/dev/null 2>&1
  cat "$STACK_DIR/auth.pid"
}

# PostgreSQL CPU: this stack's postmaster and its children only, not the
# other clusters on the machine.
PG_PID="$(cat "$STACK_DIR/postgres.pid")"
common=(-warmup "${WARMUP}s" -duration "${SECONDS_MEASURED}s" -database-url "$TEST_DATABASE_URL" -pg-pid "$PG_PID")

if [[ "$MATRIX" == 1 ]]; then
  mkdir -p "$OUT/matrix"
  # With BENCH_ROUNDS > 1 the cells repeat round by round (interleaved), and
  # the table shows each cell's median with the req/s range.
  for round in $(seq "$ROUNDS"); do
    for mode in $MODES; do
      pid="$(restart_auth)"
      aux=()
      if [[ "$mode" == signup ]]; then
        aux=(-aux-pids "$(cat "$STACK_DIR/notify.pid"),$(cat "$STACK_DIR/mailpit.pid")")
      fi
      for c in $CONC; do
        log "round $round/$ROUNDS: $mode c=$c"
        "$BENCH" -mode "$mode" -c "$c" -base "$BASE" -server-pid "$pid" "${aux[@]}" "${common[@]}" \
          -round "$round" -json "$OUT/matrix/$mode-c$c-r$round.json"
      done
    done
  done
  if ((FLOOD > 0)); then
    # Issue 14 part 4: peak RSS with FLOOD logins in flight at once, each
    # answered (they queue for the hashing slots; hence the long timeout).
    log "login flood: c=$FLOOD for ${FLOOD_SECONDS}s (peak RSS)"
    pid="$(restart_auth)"
    "$BENCH" -mode login -c "$FLOOD" -timeout 120s -base "$BASE" -server-pid "$pid" -warmup 2s -duration "${FLOOD_SECONDS}s" \
      -database-url "$TEST_DATABASE_URL" -pg-pid "$PG_PID" -json "$OUT/matrix/login-c$FLOOD-flood.json"
  fi
  log "argon2id hash limit (${HASH_SECONDS}s)"
  "$BENCH" -mode hashlimit -warmup 1s -duration "${HASH_SECONDS}s" -json "$OUT/matrix/hashlimit.json"
  log "register -> mail latency ($MAIL_SAMPLES samples)"
  pid="$(restart_auth)"
  "$BENCH" -mode maillat -samples "$MAIL_SAMPLES" -base "$BASE" -mailpit "$MAILPIT_URL" -server-pid "$pid" \
    -aux-pids "$(cat "$STACK_DIR/notify.pid"),$(cat "$STACK_DIR/mailpit.pid")" \
    -database-url "$TEST_DATABASE_URL" -pg-pid "$PG_PID" -json "$OUT/matrix/maillat.json"
  {
    echo "### mana alone, $(date -u +%Y-%m-%d\ %H:%MZ), commit $COMMIT, $(nproc) CPUs, ${WARMUP}s warm-up + ${SECONDS_MEASURED}s measured, $ROUNDS round(s)"
    echo
    "$BENCH" table "$OUT"/matrix/*.json
  } | tee "$OUT/table.md"
fi

if [[ "$GROWTH" == 1 ]]; then
  mkdir -p "$OUT/growth"
  small_label="$((GROWTH_SMALL / 1000))k"
  large_label="$((GROWTH_LARGE / 1000))k"
  # One auth process per database, side by side, so the two sizes can be
  # interleaved run by run without reseeding. Ports beyond the stack's own.
  declare -A gport gdb gpid
  gport[$small_label]=$((3097 + STACK_PORT_OFFSET))
  gport[$large_label]=$((3098 + STACK_PORT_OFFSET))
  for label in "$small_label" "$large_label"; do
    db="bench_${label}"
    gdb[$label]="postgresql://mana@127.0.0.1:${PG_PORT}/${db}?sslmode=disable"
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U mana -d postgres -c "CREATE DATABASE $db" >/dev/null
    env_file="$STACK_DIR/growth-$label.env"
    sed -e "s|^PORT=.*|PORT=${gport[$label]}|" -e "s|^DATABASE_URL=.*|DATABASE_URL=${gdb[$label]}|" "$STACK_DIR/auth.env" >"$env_file"
    mapfile -t vars <"$env_file"
    setsid env -i PATH="$PATH" HOME="${HOME:-/root}" "${vars[@]}" "$STACK_DIR/mana" serve auth \
      </dev/null >>"$STACK_DIR/logs/growth-$label.log" 2>&1 &
    gpid[$label]=$!
    GROWTH_PIDS+=("$!")
  done
  for label in "$small_label" "$large_label"; do
    for _ in $(seq 300); do
      [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:${gport[$label]}/health")" == 200 ]] && break
      kill -0 "${gpid[$label]}" 2>/dev/null || { tail -20 "$STACK_DIR/logs/growth-$label.log" >&2; exit 1; }
      sleep 0.2
    done
  done
  log "seeding $small_label users and $large_label users, $GROWTH_SESSIONS sessions each"
  "$BENCH" -mode seed -base "http://127.0.0.1:${gport[$small_label]}" -database-url "${gdb[$small_label]}" \
    -users "$GROWTH_SMALL" -sessions-per-user "$GROWTH_SESSIONS" -json "$OUT/growth/seed-$small_label.json"
  "$BENCH" -mode seed -base "http://127.0.0.1:${gport[$large_label]}" -database-url "${gdb[$large_label]}" \
    -users "$GROWTH_LARGE" -sessions-per-user "$GROWTH_SESSIONS" -json "$OUT/growth/seed-$large_label.json"
  for round in $(seq "$GROWTH_ROUNDS"); do
    # Interleaved, and the order alternates by round (small first, then
    # large first), so a drift of the box's load favours neither size.
    order=("$small_label" "$large_label")
    if ((round % 2 == 0)); then order=("$large_label" "$small_label"); fi
    for mode in $GROWTH_MODES; do
      for label in "${order[@]}"; do
        log "growth round $round: $mode c=$GROWTH_CONC on $label"
        "$BENCH" -mode "$mode" -c "$GROWTH_CONC" -base "http://127.0.0.1:${gport[$label]}" \
          -server-pid "${gpid[$label]}" -warmup "${WARMUP}s" -duration "${SECONDS_MEASURED}s" \
          -database-url "${gdb[$label]}" -pg-pid "$PG_PID" -pool-prefix bench-g- -label "$label" -round "$round" \
          -json "$OUT/growth/$mode-$label-r$round.json"
      done
    done
  done
  {
    echo "### growth: $small_label users vs $large_label users ($GROWTH_SESSIONS sessions each), c=$GROWTH_CONC, median of $GROWTH_ROUNDS interleaved runs, commit $COMMIT"
    echo
    "$BENCH" growth -small "$small_label" -large "$large_label" "$OUT"/growth/*-r*.json
  } | tee "$OUT/growth.md"
fi
