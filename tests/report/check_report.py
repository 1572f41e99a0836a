#!/usr/bin/env python3
"""Integration test of zcpipe-demo --report.

Runs the demo with every transport into a temporary directory, then checks
the report it wrote:
  * report.html parses as HTML with balanced elements (no stray or unclosed tags);
  * it contains the journey of one frame and every chart, for each transport;
  * every number it shows (elements with data-json/data-value) equals the value
    at that JSON pointer in run.json, and the visible text is that value rounded;
  * with --browser: headless Chromium renders it to a PNG of the requested size
    that is not blank and shows the charts (pixels in each transport's colour).
Exit status 0 = pass, 1 = fail, 77 = skipped (meson's convention).
"""
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CHARTS = ["chart-copies", "chart-copy-bytes", "chart-syscalls", "chart-mode-switches", "chart-context-switches",
          "chart-cpu", "chart-fps", "chart-latency-series", "chart-latency-hist"]
COLOURS = {"dmabuf": (0x2a, 0x7a, 0xb0), "shm": (0xd0, 0x8a, 0x1e), "socket": (0xc0, 0x39, 0x2b)}
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


class Checker(html.parser.HTMLParser):
    # SVG elements may be self-closing; HTML void elements need no end tag.
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.ids, self.numbers, self.errors = [], set(), [], []
        self.current_num = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            if a["id"] in self.ids:
                self.errors.append("duplicate id " + a["id"])
            self.ids.add(a["id"])
        if "data-json" in a:
            self.current_num = [a["data-json"], a.get("data-value"), ""]
            self.numbers.append(self.current_num)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unbalanced </%s> (open: %s)" % (tag, self.stack[-3:]))
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag in ("span", "tspan", "td") and self.current_num is not None:
            self.current_num = None

    def handle_data(self, data):
        if self.current_num is not None:
            self.current_num[2] += data


def resolve(doc, pointer):
    node = doc
    for part in pointer.lstrip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def human(v):
    """As src/stats/format.h writes a figure: digits grouped by three, one decimal below 100."""
    if v != int(v) and abs(v) < 100: return "%.1f" % v
    # C's round(): halves away from zero (Python's round() rounds them to even).
    r = int(abs(v) + 0.5)
    return ("-" if v < 0 else "") + "{:,}".format(r)


def png_pixels(path):
    """Minimal PNG reader (8-bit RGB/RGBA, non-interlaced): width, height, rows of bytes, bytes per pixel."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "unsupported PNG layout"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = prev[i]
            ul = prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + left) & 255
            elif f == 2: line[i] = (line[i] + up) & 255
            elif f == 3: line[i] = (line[i] + (left + up) // 2) & 255
            elif f == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def check_browser(html_path, out_dir):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP browser check: chromium is not installed (tools/setup installs it)")
        return None
    png = os.path.join(out_dir, "report.png")
    width, height = 1280, 4400
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + os.path.join(out_dir, "chromium-profile"), "--hide-scrollbars",
           "--window-size=%d,%d" % (width, height), "--screenshot=" + png, "file://" + html_path]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    if not os.path.exists(png):
        fail("chromium wrote no screenshot")
        return False
    w, h, rows, bpp = png_pixels(png)
    if (w, h) != (width, height):
        fail("screenshot is %dx%d, expected %dx%d" % (w, h, width, height))
    colours = {}
    non_white = 0
    for row in rows[::2]:
        for x in range(0, len(row), bpp * 2):
            px = tuple(row[x:x + 3])
            if px != (255, 255, 255):
                non_white += 1
            colours[px] = colours.get(px, 0) + 1
    sampled = (h // 2) * (w // 2)
    if non_white < sampled * 0.05:
        fail("the page looks blank (%d of %d sampled pixels not white)" % (non_white, sampled))
    for t, rgb in COLOURS.items():
        n = sum(c for px, c in colours.items() if all(abs(px[i] - rgb[i]) <= 6 for i in range(3)))
        if n < 200:
            fail("chart colour of %s barely visible in the rendering (%d sampled pixels)" % (t, n))
        else:
            print("browser: %s charts visible (%d sampled pixels in its colour)" % (t, n))
    return True


def main():
    demo = sys.argv[1]
    browser = "--browser" in sys.argv
    out = tempfile.mkdtemp(prefix="zcpipe-report-test-")
    try:
        cmd = [demo, "--transport", "all", "--refresh", "0", "--frames", "12", "--size", "1280x720", "--quiet",
               "--report", out]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
        if r.returncode != 0:
            fail("zcpipe-demo exited %d: %s" % (r.returncode, r.stderr.strip()))
            return
        html_path = os.path.join(out, "report.html")
        doc = json.load(open(os.path.join(out, "run.json")))
        p = Checker()
        p.feed(open(html_path, encoding="utf-8").read())
        p.close()
        text = open(html_path, encoding="utf-8").read()
        if not text.startswith("<!DOCTYPE html>"):
            fail("missing doctype")
        if p.stack:
            fail("unclosed elements at end: %s" % p.stack)
        for e in p.errors:
            fail(e)
        if re.search(r"<script|https?://(?!www\.w3\.org)", text):
            fail("report must not load scripts or anything from the network")
        transports = [run["transport"] for run in doc["runs"]]
        if transports != ["dmabuf", "shm", "socket"]:
            fail("runs are %s" % transports)
        for t in transports:
            if "journey-" + t not in p.ids:
                fail("no journey for " + t)
        for c in CHARTS:
            if c not in p.ids:
                fail("missing chart " + c)
        for t in transports:
            if text.count('data-transport="%s"' % t) < 3:
                fail("transport %s is missing from the journey or the latency charts" % t)
        if len(p.numbers) < 60:
            fail("only %d numbers carry their JSON path" % len(p.numbers))
        for pointer, value, shown in p.numbers:
            try:
                want = float(resolve(doc, pointer))
            except (KeyError, IndexError, ValueError, TypeError):
                fail("number points at missing JSON value " + pointer)
                continue
            if value is None or abs(float(value) - want) > 1e-9 * max(1.0, abs(want)):
                fail("%s: data-value %s != JSON %s" % (pointer, value, want))
            if shown.strip() != human(want):
                fail("%s: shows %r, expected %r" % (pointer, shown.strip(), human(want)))
        # Spot-check the numbers that tell the story.
        for i, copies in enumerate([0, 1, 3]):
            pointer = "/runs/%d/per_frame/cpu_copies/median" % i
            if not any(n[0] == pointer for n in p.numbers):
                fail("report does not show " + pointer)
            if resolve(doc, pointer) != copies:
                fail("%s is %s, expected %d" % (pointer, resolve(doc, pointer), copies))
        print("html: %d elements with ids, %d numbers checked against run.json" % (len(p.ids), len(p.numbers)))
        if browser:
            check_browser(html_path, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
