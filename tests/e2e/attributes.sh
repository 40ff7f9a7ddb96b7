#!/bin/sh
# The compiler attributes of the public headers (lib/util/error.h) are live:
# with the project's warning flags, a caller's build fails when it passes a
# literal NULL to a PH_NONNULL parameter, or drops the ph_err of a
# PH_MUST_USE function; the same calls done right build. Each case is
# compiled on its own (-c, nothing linked) with PH_CC, the build's compiler:
# a PH_NONNULL or PH_MUST_USE that expanded to nothing makes this fail.
set -u
. tests/e2e/lib.sh
CC=${PH_CC:-cc}
ph_require_tool "$CC"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
INC=
for d in lib/*/; do
    INC="$INC -I${d%/}"
done

# compile NAME HEADER BODY: compile a function of BODY with HEADER included;
# its exit status; the compiler's messages in $dir/NAME.log
compile() {
    printf '#include "%s"\n#include <stddef.h>\nvoid f(void);\nvoid f(void)\n{\n%s\n}\n' \
        "$2" "$3" >"$dir/$1.c"
    # shellcheck disable=SC2086 # flag list
    "$CC" -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE $INC -c "$dir/$1.c" \
        -o "$dir/$1.o" >"$dir/$1.log" 2>&1
}

# rejects NAME HEADER BAD GOOD WORD: BAD does not build and the compiler's
# complaint mentions WORD; GOOD (the same call, done right) builds
rejects() {
    compile "$1-good" "$2" "$4" || { cat "$dir/$1-good.log"; fail "$1: the correct call does not build"; }
    if compile "$1-bad" "$2" "$3"; then
        fail "$1: a build with '$3' succeeded: the attribute is not in effect"
    fi
    grep -qi -- "$5" "$dir/$1-bad.log" ||
        { cat "$dir/$1-bad.log"; fail "$1: the build failed, but not over '$5'"; }
    echo "ok: $1"
}

rejects hex_encode hex.h \
    'const unsigned char in[1] = {0}; ph_hex_encode(in, 1, NULL);' \
    'const unsigned char in[1] = {0}; char out[3]; ph_hex_encode(in, 1, out);' nonnull
rejects wire_msg_type wire.h \
    '(void)ph_wire_msg_type(NULL);' \
    'extern ph_wire_msg *m; (void)ph_wire_msg_type(m);' nonnull
rejects outq_pending outq.h \
    '(void)ph_outq_pending(NULL);' \
    'extern ph_outq *q; (void)ph_outq_pending(q);' nonnull
rejects report_print_table report.h \
    'extern ph_report *r; ph_ignore_err(ph_report_print_table(r, NULL));' \
    'extern ph_report *r; extern FILE *out; ph_ignore_err(ph_report_print_table(r, out));' nonnull
rejects must_use hex.h \
    'unsigned char out[1]; ph_hex_decode_fixed("00", out, 1);' \
    'unsigned char out[1]; ph_ignore_err(ph_hex_decode_fixed("00", out, 1));' unused
ph_done
