#!/bin/sh
# Writes the man page peerheap(1) on stdout: tool/peerheap.1.in with each
# command's section made from `peerheap COMMAND --help`, so the page and the
# --help texts (and `peerheap help COMMAND`) cannot drift apart.
# usage: sh tool/gen_man.sh BINARY TEMPLATE VERSION
set -eu
bin=$1 template=$2 version=$3

# Help text -> troff inside .nf/.fi: backslashes and hyphens escaped (a
# hyphen must stay an ASCII '-' when an option is copied from the page),
# and a line starting with '.' or "'" not taken for a request.
escape() {
    sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

commands=$("$bin" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}')
[ -n "$commands" ] || { echo "gen_man.sh: no commands in '$bin --help'" >&2; exit 1; }

sections=$(mktemp)
trap 'rm -f "$sections"' EXIT
for c in $commands; do
    {
        printf '.SS "peerheap %s"\n' "$c"
        printf '.nf\n'
        "$bin" "$c" --help | escape
        printf '.fi\n'
    } >>"$sections"
done

while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    @COMMANDS@) cat "$sections" ;;
    *) printf '%s\n' "$line" | sed "s/@VERSION@/$version/g" ;;
    esac
done <"$template"
