#!/usr/bin/env bash
# test.sh — the one test command: formatting, vet, unit tests (race detector),
# then the end-to-end integration tests against a throwaway stack.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
t0=$SECONDS

echo "===== gofmt -l ====="
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt: these files are not formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "===== go vet ./... ====="
go vet ./...
go vet -tags integration ./tests/integration/...

echo "===== staticcheck ====="
staticcheck_bin="$(go env GOPATH)/bin/staticcheck"
if [[ ! -x "$staticcheck_bin" ]]; then
  echo "installing staticcheck (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2)"
  GOBIN="$(go env GOPATH)/bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
"$staticcheck_bin" ./...
"$staticcheck_bin" -tags integration ./tests/integration/...

echo "===== go test -race -count=1 -timeout 5m ./... ====="
go test -race -count=1 -timeout 5m ./...

echo "===== fuzzing (scripts/fuzz.sh, 10 s per target) ====="
scripts/fuzz.sh

echo "===== integration tests ====="
scripts/run-integration-tests.sh

echo "all tests passed in $((SECONDS - t0))s"
