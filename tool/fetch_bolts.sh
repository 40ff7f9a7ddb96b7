#!/bin/sh
# Copies the BOLT files that `make check-bolt` checks the code's quotes
# against into tests/vectors/bolts/, verbatim, from a local clone (or bare
# mirror) of https://github.com/lightning/bolts at the commit the wire table
# is pinned to (tests/vectors/bolt_message_layouts.json, source.commit), and
# writes COMMIT (that commit) and SHA256SUMS (the files' sha256). Never run
# by the build: the spec text is committed, so check-bolt needs no network.
# Usage: sh tool/fetch_bolts.sh GIT_DIR   (e.g. bolts/.git, or a bare repo)
set -eu
[ $# -eq 1 ] || { echo "usage: sh tool/fetch_bolts.sh GIT_DIR" >&2; exit 2; }
GIT_DIR_ARG=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
COMMIT=$(python3 -c 'import json; print(json.load(open("tests/vectors/bolt_message_layouts.json"))["source"]["commit"])')
FILES="01-messaging.md 02-peer-protocol.md 07-routing-gossip.md 08-transport.md 09-features.md"
OUT=tests/vectors/bolts
git --git-dir="$GIT_DIR_ARG" cat-file -e "$COMMIT^{commit}" ||
    { echo "tool/fetch_bolts.sh: commit $COMMIT is not in $GIT_DIR_ARG" >&2; exit 1; }
mkdir -p "$OUT"
for f in $FILES; do
    git --git-dir="$GIT_DIR_ARG" show "$COMMIT:$f" >"$OUT/$f.tmp"
    mv "$OUT/$f.tmp" "$OUT/$f"
done
printf '%s\n' "$COMMIT" >"$OUT/COMMIT"
(cd "$OUT" && sha256sum $FILES >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
echo "tool/fetch_bolts.sh: $FILES at $COMMIT in $OUT"
