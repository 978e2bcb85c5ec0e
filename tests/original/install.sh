#!/usr/bin/env bash
# install.sh — install THE ORIGINAL mana-auth (Better Auth 1.6 on Bun, from the
# monorepo tarball in <repo>/../shared/original) once into a cache and print
# the directory of the installed monorepo extract on stdout. run.sh starts it.
#
#   tests/original/install.sh   -> prints e.g. /root/.cache/mana-test/original-0123abcd4567/
#
# The recipe is the one of tests/fixtures/original/build.sh (which keeps its
# own copy): extract the tarball, copy package.root.json / package.mana-auth.json
# over the workspace's package.json files, `bun install` with Bun from
# scripts/install-bun.sh. bun.lock beside this script pins every resolved
# package (--frozen-lockfile), so the cache holds exactly what the lock says.
#
# Cache: ${MANA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mana-test}/original-<hash>, where
# <hash> covers the tarball, both package files, bun.lock, the Bun version and
# this recipe; Bun's package cache is <cache>/bun-install-cache. Idempotent and
# quick when cached (it only hashes its inputs). Parallel runs wait on a lock.
# Needs: npm (for Bun), tar, sha256sum, the npm registry (nothing else online).
# Overrides: MANA_ORIGINAL_DIR (default <repo>/../shared/original), BUN_VERSION.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHARED=${MANA_ORIGINAL_DIR:-$REPO/../shared/original}
TARBALL=$SHARED/mana-monorepo-907a3add.tar.gz
LOCK=$HERE/bun.lock
export BUN_VERSION=${BUN_VERSION:-1.4.4}
CACHE_ROOT=${MANA_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mana-test}
RECIPE=original-install-v1

die() { echo "install.sh: $*" >&2; exit 1; }

for f in "$TARBALL" "$SHARED/package.root.json" "$SHARED/package.mana-auth.json"; do
  [[ -f "$f" ]] || die "missing $f (the original's tarball and package files; see $SHARED/README.md)"
done

hash=$( {
  echo "$RECIPE bun@$BUN_VERSION"
  sha256sum "$TARBALL" "$SHARED/package.root.json" "$SHARED/package.mana-auth.json" | cut -d' ' -f1
  if [[ -f "$LOCK" ]]; then sha256sum "$LOCK" | cut -d' ' -f1; else echo no-lock; fi
} | sha256sum | cut -c1-12)
DIR=$CACHE_ROOT/original-$hash
STAMP=$DIR/.complete

if [[ -f "$STAMP" ]]; then
  printf '%s\n' "$DIR"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.original-$hash.lock"
if command -v flock >/dev/null 2>&1; then flock -w 300 9 || die "timed out waiting for $CACHE_ROOT/.original-$hash.lock"; fi
if [[ -f "$STAMP" ]]; then
  printf '%s\n' "$DIR"
  exit 0
fi

BUN=$("$REPO/scripts/install-bun.sh")
echo "install.sh: installing the original into $DIR (bun@$BUN_VERSION)" >&2
rm -rf "$DIR"
WORK=$(mktemp -d "$CACHE_ROOT/.original-$hash.XXXXXX")
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
tar xzf "$TARBALL" -C "$WORK"
chmod -R u+w "$WORK"
cp "$SHARED/package.root.json" "$WORK/package.json"
cp "$SHARED/package.mana-auth.json" "$WORK/services/mana-auth/package.json"
chmod u+w "$WORK/package.json" "$WORK/services/mana-auth/package.json"
args=(install --no-progress)
if [[ -f "$LOCK" ]]; then
  cp "$LOCK" "$WORK/bun.lock"
  args+=(--frozen-lockfile)
fi
if ! (cd "$WORK" && BUN_INSTALL_CACHE_DIR=$CACHE_ROOT/bun-install-cache "$BUN" "${args[@]}" >"$WORK/.bun-install.log" 2>&1); then
  tail -n 40 "$WORK/.bun-install.log" >&2
  die "bun install failed"
fi
[[ -f "$WORK/services/mana-auth/src/index.ts" && -d "$WORK/services/mana-auth/node_modules/better-auth" ]] ||
  die "the install lacks services/mana-auth or its better-auth"
printf '%s\n' "$BUN" >"$WORK/.bun"
chmod 755 "$WORK"
mv "$WORK" "$DIR"
trap - EXIT
date -u +%FT%TZ >"$STAMP"
printf '%s\n' "$DIR"
