#!/usr/bin/env bash
# run-integration-tests.sh — start the throwaway stack (scripts/stack.sh up),
# run the end-to-end tests in tests/integration against it, tear it down.
#
#   scripts/run-integration-tests.sh            run everything, always tear down
#   KEEP_STACK=1 scripts/run-integration-tests.sh   leave the stack running afterwards
#   GO_TEST_RUN=TestLockout scripts/run-integration-tests.sh   only some tests (go test -run)
#
# Ports (127.0.0.1 only, each + STACK_PORT_OFFSET): 5443 Postgres, 1026 SMTP, 8026 Mailpit, 3091 auth,
# 3092 notify, 3093 auth2. The machine's own databases are never touched.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$(pwd)"
STACK_SH="$REPO_ROOT/scripts/stack.sh"

# Always under /tmp: as root, Postgres runs as the postgres user and must reach the dir.
STACK_DIR="$(mktemp -d /tmp/mana-it.XXXXXX)"
export MANA_STACK_DIR="$STACK_DIR"

on_exit() {
  local rc=$?
  set +e
  if ((rc != 0)); then
    echo
    echo "===== integration run FAILED (exit $rc): logs before teardown ====="
    "$STACK_SH" --dir "$STACK_DIR" logs 200
  fi
  if [[ "${KEEP_STACK:-}" == 1 && -f "$STACK_DIR/stack.conf" ]]; then
    echo
    echo "===== KEEP_STACK=1: the stack is still running ====="
    "$STACK_SH" --dir "$STACK_DIR" info
  else
    "$STACK_SH" --dir "$STACK_DIR" down
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$STACK_SH" --dir "$STACK_DIR" up

# shellcheck disable=SC1091
source "$STACK_DIR/env"

echo "===== go test -tags integration ./tests/integration/... ====="
args=(-tags integration -count=1 -v -timeout 10m)
if [[ -n "${GO_TEST_RUN:-}" ]]; then args+=(-run "$GO_TEST_RUN"); fi
start_ns=$(date +%s%N)
set +e
go test "${args[@]}" ./tests/integration/...
rc=$?
set -e
end_ns=$(date +%s%N)
elapsed_ms=$(((end_ns - start_ns) / 1000000))
printf 'integration tests: wall time %d.%03ds (exit %d)\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) "$rc"
if ((rc != 0)); then
  exit "$rc"
fi
echo "integration tests passed"
