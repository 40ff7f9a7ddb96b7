#!/bin/sh
# Install the Debian packages named as arguments that are not installed yet,
# plus Node.js/npm (for the interop tests) when the commands are missing.
# Does nothing when everything is present.
set -e
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
[ -z "$missing" ] && ! { command -v node >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1; } && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "peerheap: installing missing Debian packages:$missing" >&2
$SUDO apt-get update -qq >&2
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi
# Debian splits npm out of nodejs; NodeSource's nodejs ships it.
command -v npm >/dev/null 2>&1 || $SUDO apt-get install -y -qq --no-install-recommends npm >&2
exit 0
