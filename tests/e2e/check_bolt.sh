#!/bin/sh
# make check-bolt (tool/check_bolt.py): the real tree passes; in a scratch
# copy, a quote altered by one word, a quote of a BOLT we do not have, a
# "BOLT #N:" inside a line, a spec file edited by hand and a tree without
# quotes each fail, naming what is wrong. Each scratch tree is first checked
# unaltered, so a failure is the alteration's doing.
set -u
. tests/e2e/lib.sh
ph_require_tool python3

T=$(mktemp -d "${TMPDIR:-/tmp}/check_bolt.XXXXXX") || fail "cannot create a scratch directory"
trap 'rm -rf "$T"' EXIT
OUT="$T/out"
PIN=$(python3 -c 'import json; print(json.load(open("tests/vectors/bolt_message_layouts.json"))["source"]["commit"][:12])')

# check ROOT [FILE...]: run the checker on ROOT; exit status in $rc, output in $OUT
check() {
    _root=$1
    shift
    python3 tool/check_bolt.py --root "$_root" "$@" >"$OUT" 2>&1
    rc=$?
}

# must_fail WHAT REGEX: the last check failed with exit 1 and a line matching REGEX
must_fail() {
    if [ "$rc" -ne 1 ]; then
        cat "$OUT"
        fail "$1: exit status $rc, not 1"
    fi
    if ! grep -q -- "$2" "$OUT"; then
        cat "$OUT"
        fail "$1: no line matching '$2'"
    fi
    grep -q '^check-bolt: FAILED' "$OUT" || { cat "$OUT"; fail "$1: no 'check-bolt: FAILED' line"; }
}

must_pass() {
    if [ "$rc" -ne 0 ]; then
        cat "$OUT"
        fail "$1: exit status $rc"
    fi
    grep -q "^check-bolt: [0-9][0-9]* quotes in [0-9][0-9]* files verified against BOLTs $PIN\$" "$OUT" ||
        { cat "$OUT"; fail "$1: no success line naming the pinned commit $PIN"; }
}

# (a) the real tree, through make as CI runs it
make --no-print-directory check-bolt >"$OUT" 2>&1
rc=$?
must_pass "make check-bolt on the tree"
n=$(sed -n 's/^check-bolt: \([0-9]*\) quotes.*/\1/p' "$OUT")
[ "$n" -ge 30 ] || fail "only $n BOLT quotes in the tree (30 or more expected)"
echo "tree: $(cat "$OUT")"

# A scratch tree: the pin, the spec files and the source under test.
mk_tree() { # DIR
    mkdir -p "$1/tests/vectors" "$1/lib/bolt8" "$1/lib/node"
    cp tests/vectors/bolt_message_layouts.json "$1/tests/vectors/"
    cp -R tests/vectors/bolts "$1/tests/vectors/bolts"
    cp lib/bolt8/noise.c "$1/lib/bolt8/"
    cp lib/node/gossip_query.c "$1/lib/node/"
}
R="$T/tree"
mk_tree "$R"
check "$R"
must_pass "unaltered scratch tree"

# line_of FILE TEXT: the number of the first line holding TEXT
line_of() { grep -n -F -- "$2" "$1" | head -n 1 | cut -d: -f1; }

# (b) one word of a one-line quote: "incremented" -> "decremented"
q='/* BOLT #8: The nonce `sn` MUST be incremented after this step. */'
ln=$(line_of "$R/lib/bolt8/noise.c" "$q")
[ -n "$ln" ] || fail "lib/bolt8/noise.c no longer has the quote this test alters: $q"
sed -i "${ln}s/MUST be incremented/MUST be decremented/" "$R/lib/bolt8/noise.c"
[ "$(grep -c 'MUST be decremented' "$R/lib/bolt8/noise.c")" = 1 ] || fail "the alteration did not apply"
check "$R"
must_fail "one word altered in a one-line quote" \
    "^lib/bolt8/noise.c:$ln: BOLT #8 quote not found: \"The nonce \`sn\` MUST be decremented"
[ "$(grep -c 'quote not found' "$OUT")" = 1 ] || { cat "$OUT"; fail "more than the altered quote reported"; }
cp lib/bolt8/noise.c "$R/lib/bolt8/"

# (b2) one word on the continuation line of a multi-line quote, reported at
# the line where the quote starts: "- with a `channel_announcement` and the
# latest `channel_update` for each end" -> "... for one end"
ln=$(line_of "$R/lib/node/gossip_query.c" 'BOLT #7: if the incoming message does not include `encoded_query_flags`:')
[ -n "$ln" ] || fail "lib/node/gossip_query.c no longer has the multi-line quote this test alters"
sed -i "$((ln + 1))s/\`channel_update\` for each end/\`channel_update\` for one end/" "$R/lib/node/gossip_query.c"
grep -q '`channel_update` for one end' "$R/lib/node/gossip_query.c" || fail "the alteration did not apply"
check "$R"
must_fail "one word altered in a multi-line quote" \
    "^lib/node/gossip_query.c:$ln: BOLT #7 quote not found: \"if the incoming message"
cp lib/node/gossip_query.c "$R/lib/node/"

# the same, checked as a list of files rather than a tree
sed -i "${ln}s/does not include/does include/" "$R/lib/node/gossip_query.c"
(cd "$R" && python3 "$OLDPWD/tool/check_bolt.py" --root . lib/node/gossip_query.c >"$OUT" 2>&1)
rc=$?
must_fail "one word altered, file given on the command line" \
    "^lib/node/gossip_query.c:$ln: BOLT #7 quote not found: \"if the incoming message does include"
cp lib/node/gossip_query.c "$R/lib/node/"

# (c) a quote of a BOLT whose text is not in tests/vectors/bolts
printf '%s\n' '/* BOLT #3: MUST set `locktime` to the value in the commitment transaction. */' \
    'int bolt3_placeholder;' >"$R/lib/node/extra.c"
check "$R"
must_fail "quote of BOLT #3" "^lib/node/extra.c:1: BOLT #3 has no spec file"
printf '%s\n' '/* BOLT #42: MUST do what no BOLT says. */' >"$R/lib/node/extra.c"
check "$R"
must_fail "quote of BOLT #42" "^lib/node/extra.c:1: BOLT #42 has no spec file"

# a "BOLT #N:" that does not start a comment line would go unchecked: refused
printf '%s\n' '/* As BOLT #1: MUST close the connection, in spirit. */' >"$R/lib/node/extra.c"
check "$R"
must_fail "BOLT #1: inside a line" "^lib/node/extra.c:1: BOLT #1: a quote must start its comment line"
rm -f "$R/lib/node/extra.c"
check "$R"
must_pass "scratch tree restored"

# (d) a spec file whose sha256 differs: one word changed in BOLT #7
sed -i '0,/MUST ignore the message\./s//MUST drop the message./' "$R/tests/vectors/bolts/07-routing-gossip.md"
cmp -s tests/vectors/bolts/07-routing-gossip.md "$R/tests/vectors/bolts/07-routing-gossip.md" &&
    fail "the spec alteration did not apply"
check "$R"
must_fail "spec file edited" "07-routing-gossip.md: sha256 differs from .*SHA256SUMS"
cp tests/vectors/bolts/07-routing-gossip.md "$R/tests/vectors/bolts/"
# ... and spec text from another commit than the wire table's pin
echo 0000000000000000000000000000000000000000 >"$R/tests/vectors/bolts/COMMIT"
check "$R"
must_fail "spec text from another commit" "COMMIT: spec text is from 0000000000000000000000000000000000000000"
cp tests/vectors/bolts/COMMIT "$R/tests/vectors/bolts/"
check "$R"
must_pass "scratch tree restored"

# (e) no quotes at all: a scanner that finds nothing must not pass
rm -rf "$R/lib" && mkdir -p "$R/lib/x" && echo 'int x; /* BOLT 7, a plain reference */' >"$R/lib/x/x.c"
check "$R"
must_fail "tree without quotes" "no BOLT quotes found in 1 files"

ph_done
