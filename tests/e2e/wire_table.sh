#!/bin/sh
# lib/wire/wire_table.c is generated from tests/vectors/bolt_message_layouts.json
# by tool/gen_wire_table.py: check that the committed file is up to date.
set -u
if ! command -v python3 >/dev/null 2>&1; then
    echo "skip: no python3"
    exit 0
fi
python3 tool/gen_wire_table.py | diff -u lib/wire/wire_table.c - >/dev/null \
    || { echo "FAIL: lib/wire/wire_table.c is stale: run python3 tool/gen_wire_table.py > lib/wire/wire_table.c"; exit 1; }
echo ok
