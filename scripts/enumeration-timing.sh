#!/usr/bin/env bash
# Measures the enumeration timing of forgot-password, resend-verification,
# register and sign-in (audit F10, F11) on the integration stack's
# PostgreSQL: 200 interleaved samples per class and route, medians and
# ratios printed and written to MANA_TIMING_OUT (default
# docs/figures/enumeration-timing.txt). A measurement, not part of
# scripts/test.sh. Takes about two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${MANA_TIMING_OUT:-$PWD/docs/figures/enumeration-timing.txt}"
mkdir -p "$(dirname "$out")"
MANA_TIMING=1 MANA_TIMING_OUT="$out" GO_TEST_RUN='^TestEnumerationTiming$' scripts/run-integration-tests.sh
echo "figures written to $out"
cat "$out"
