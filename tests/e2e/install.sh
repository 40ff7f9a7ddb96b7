#!/bin/sh
# make install puts the binary, both libraries, the public headers and a
# working pkg-config file under PREFIX; a program builds against it.
set -eu
BUILD=${PH_BUILD:-build}
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
[ "$BUILD" = build ] || exit 0 # sanitizer builds need their runtime to link against
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
cc "$dir/use.c" -I"$dir/include" $(pkg-config --cflags --libs peerheap) -Wl,-rpath,"$dir/lib" -o "$dir/use"
"$dir/use"
