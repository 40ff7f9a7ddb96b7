"""Checks a screenshot of the HTML report (tests/e2e/html_report.sh).

usage: html_check.py desktop|phone SHOT.png

Decodes the PNG with Debian's python3-pil when this python has it, else
here (zlib and the five PNG filters; 8-bit RGB or RGBA, not interlaced:
what Chromium writes). Regions are found by colour, not by fixed
coordinates:
  desktop  the main table's header band (#dbe6f4) near the top, at least
           45% of the width (six strategy columns), with text across its
           rows; the first figure below the table (the timeline) holds every
           strategy's colour; below that, the per-peer bars as solid blocks.
  phone    the header band starts at the left margin; the bar charts scale
           to the window: their bars lie inside it.
Exits 1 naming the first check that failed."""
import struct
import sys
import zlib

HEADER = (0xdb, 0xe6, 0xf4)
PALETTE = {"fresh": (0xd6, 0x27, 0x28), "exact": (0x1f, 0x77, 0xb4), "reuse": (0x2c, 0xa0, 0x2c),
           "pool": (0xff, 0x7f, 0x0e), "ring": (0x94, 0x67, 0xbd), "tiered": (0x8c, 0x56, 0x4b)}


def fail(msg):
    print("html_check: " + msg)
    sys.exit(1)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path + ": not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                fail("unsupported PNG: depth %d, colour type %d, interlace %d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


class Image:
    def __init__(self, path):
        try:  # Debian's python3-pil when this python has it: much faster
            from PIL import Image as Pil
            im = Pil.open(path).convert("RGB")
            self.w, self.h = im.size
            self.bpp = 3
            b = im.tobytes()
            self.rows = [b[y * self.w * 3:(y + 1) * self.w * 3] for y in range(self.h)]
        except ImportError:
            self.w, self.h, self.bpp, self.rows = decode(path)

    def px(self, x, y):
        r = self.rows[y]
        i = x * self.bpp
        return r[i], r[i + 1], r[i + 2]

    def find(self, y, colour):
        """x of every pixel of row y exactly `colour`."""
        row, pat, out = self.rows[y], bytes(colour), []
        i = row.find(pat)
        while i >= 0:
            if i % self.bpp == 0:
                out.append(i // self.bpp)
            i = row.find(pat, i + 1)
        return out


def near(p, q, tol):
    return abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) <= tol


def header_band(img):
    """(top y, left x, right x) of the first row mostly in the header colour."""
    for y in range(img.h):
        xs = img.find(y, HEADER)
        if len(xs) >= img.w * 0.2:
            return y, xs[0], xs[-1]
    fail("no table header band (#dbe6f4) in the screenshot")


def first_row_with(img, colours, y0):
    for y in range(y0, img.h):
        if any(img.find(y, c) for c in colours):
            return y
    return None


def longest_run(xs):
    best = run = 0
    for i, x in enumerate(xs):
        run = run + 1 if i and x == xs[i - 1] + 1 else 1
        best = max(best, run)
    return best


def desktop(img):
    top, left, right = header_band(img)
    if top > 700:
        fail("the table header is at y=%d, not near the top" % top)
    if right - left < img.w * 0.45:
        fail("the table header spans %d px of %d: columns missing" % (right - left, img.w))
    dark, bins = 0, set()
    for y in range(top + 20, min(top + 420, img.h)):
        for x in range(left, right, 2):
            p = img.px(x, y)
            if p[0] + p[1] + p[2] < 300:
                dark += 1
                bins.add((x - left) * 8 // max(1, right - left))
    if dark < 1500 or len(bins) < 7:
        fail("the table rows hold little text (%d dark pixels in %d of 8 columns)" % (dark, len(bins)))
    # The first figure below the table is the timeline: every strategy's
    # colour is in it (its line, its legend swatch at least).
    table_end = top + 26 * 14  # 26 rows of at least 14 px each
    t0 = first_row_with(img, PALETTE.values(), table_end)
    if t0 is None:
        fail("nothing in the strategies' colours below the table: no timeline")
    band = range(t0, min(img.h, t0 + int(0.6 * (right - left))))
    for name, colour in PALETTE.items():
        n = sum(len(img.find(y, colour)) for y in band)
        if n < 40:
            fail("the timeline (y=%d..%d) has no %s line (%d pixels)" % (band[0], band[-1], name, n))
    # Below it, the per-peer bars: solid blocks of one colour.
    bars = 0
    for y in range(band[-1], img.h):
        if longest_run(img.find(y, PALETTE["reuse"])) >= 20:
            bars += 1
    if bars < 40:
        fail("no per-peer bars below the timeline (%d rows with a solid block)" % bars)
    print("html_check: desktop ok: table header at y=%d, %d px wide, %d dark pixels in its rows; "
          "timeline at y=%d with every strategy; bars over %d rows" % (top, right - left, dark, t0, bars))


def phone(img):
    top, left, right = header_band(img)
    if left > 24:
        fail("phone: the table starts at x=%d" % left)
    xs = [x for y in range(top, img.h) for x in img.find(y, PALETTE["reuse"])
          if longest_run(img.find(y, PALETTE["reuse"])) >= 8]
    if len(xs) < 300:
        fail("phone: no bar chart (%d pixels)" % len(xs))
    xmax = max(xs)
    if xmax > img.w - 8:
        fail("phone: bars reach x=%d of %d: the chart does not fit the window" % (xmax, img.w))
    print("html_check: phone ok: table from x=%d, bars within x<=%d of %d px" % (left, xmax, img.w))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("desktop", "phone"):
        fail("usage: html_check.py desktop|phone SHOT.png")
    img = Image(sys.argv[2])
    (desktop if sys.argv[1] == "desktop" else phone)(img)


main()
