#!/bin/sh
# lib/wire/wire_table.c is generated from tests/vectors/bolt_message_layouts.json
# by tool/gen_wire_table.py: check that the committed file is up to date.
set -u
. tests/e2e/lib.sh
ph_require_tool python3
python3 tool/gen_wire_table.py >"${TMPDIR:-/tmp}/wire_table.$$.c" ||
    { rm -f "${TMPDIR:-/tmp}/wire_table.$$.c"; fail "tool/gen_wire_table.py failed"; }
diff -u lib/wire/wire_table.c "${TMPDIR:-/tmp}/wire_table.$$.c" >/dev/null
rc=$?
rm -f "${TMPDIR:-/tmp}/wire_table.$$.c"
[ $rc -eq 0 ] || fail "lib/wire/wire_table.c is stale: run python3 tool/gen_wire_table.py > lib/wire/wire_table.c"
ph_done
