#!/bin/sh
# make install puts the binary, both libraries, the public headers and a
# working pkg-config file under PREFIX; a program builds against it, in
# every build: a library built with sanitizers or coverage needs the same
# runtime in the program, so the program is linked with PH_LINK_FLAGS (set
# by make: $(SAN_FLAGS) plus the coverage flags) and built with PH_CC.
set -eu
. tests/e2e/lib.sh
ph_require_tool pkg-config "${PH_CC:-cc}"
BUILD=$PH_BUILD
if [ -z "${PH_LINK_FLAGS+set}" ] && ph_sanitizer; then
    PH_LINK_FLAGS="-fsanitize=address,undefined"
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
make --no-print-directory -s BUILD="$BUILD" install PREFIX="$dir" >/dev/null
for f in bin/peerheap lib/libpeerheap.a lib/libpeerheap.so lib/libpeerheap.so.0 \
         include/peerheap/noise.h include/peerheap/wire.h lib/pkgconfig/peerheap.pc \
         share/man/man1/peerheap.1; do
    [ -e "$dir/$f" ] || { echo "missing $f"; exit 1; }
done
[ ! -e "$dir/include/peerheap/wbuf_impl.h" ] || { echo "internal header installed"; exit 1; }
"$dir/bin/peerheap" --version | grep -q '^peerheap '
cat > "$dir/use.c" <<'C'
#include <peerheap/noise.h>
#include <string.h>
int main(void)
{
    uint8_t key[32] = {1}, pub[33];
    if (ph_noise_global_init() || ph_noise_pubkey(key, pub))
        return 1;
    return strcmp(ph_strerror(PH_ERR_NOISE_BAD_TAG), "handshake: authentication tag mismatch") != 0;
}
C
export PKG_CONFIG_PATH="$dir/lib/pkgconfig"
# shellcheck disable=SC2086 # flag lists
${PH_CC:-cc} ${PH_LINK_FLAGS:-} "$dir/use.c" -I"$dir/include" $(pkg-config --cflags --libs peerheap) \
    -Wl,-rpath,"$dir/lib" -o "$dir/use" || fail "a program does not build against the installed library"
"$dir/use" || fail "the program built against the installed library exited $?"
ph_done
