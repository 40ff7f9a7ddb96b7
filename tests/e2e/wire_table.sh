#!/bin/sh
# lib/wire/wire_table.c, wire_types.h, wire_views.h and wire_views.c are
# generated from tests/vectors/bolt_message_layouts.json by
# tool/gen_wire_table.py: check that the committed files are up to date, and
# that the generator notices when the layouts change.
set -u
. tests/e2e/lib.sh
ph_require_tool python3
out="${TMPDIR:-/tmp}/wire_gen.$$"
trap 'rm -rf "$out"' EXIT
python3 tool/gen_wire_table.py --out "$out" || fail "tool/gen_wire_table.py failed"
n=0
for f in wire_table.c wire_types.h wire_views.h wire_views.c; do
    [ -s "$out/$f" ] || fail "generator wrote no $f"
    cmp -s "lib/wire/$f" "$out/$f" ||
        fail "lib/wire/$f is stale: run python3 tool/gen_wire_table.py"
    n=$((n + 1))
done
[ "$(ls "$out" | wc -l)" -eq "$n" ] || fail "generator wrote files the check does not know: $(ls "$out")"
ph_done
