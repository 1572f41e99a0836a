#!/usr/bin/env python3
"""Integration test of zcpipe-demo --report.

Runs the demo with every transport into a temporary directory, then checks
the report it wrote:
  * report.html parses as HTML with balanced elements (no stray or unclosed tags);
  * it contains the journey of one frame and every chart, for each transport;
  * every number it shows (elements with data-json/data-value) equals the value
    at that JSON pointer in run.json, and the visible text is that value rounded;
  * the cost-versus-size charts (--sizes): one line per transport with one
    point per size, each point's value equal to run.json, and the physics they
    show: dmabuf copies nothing at any size, shm one frame, socket three;
  * the copybench section: zcpipe-copybench's table with headers in words,
    not its terminal abbreviations (article/call*k, vol+inv, syscr/w, 0/?);
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
SIZES = ["640x360", "1280x720", "1920x1080", "3840x2160"]
SIZE_CHARTS = ["chart-size-cpu", "chart-size-bytes"]
# Headers the copybench section must spell out, and the abbreviations of the
# terminal table it must not show.
COPYBENCH_HEADERS = ["voluntary + involuntary", "bytes read (rchar)", "bytes written (wchar)", "read calls (syscr)",
                     "write calls (syscw)", "the article's claim: per call &#215; calls",
                     "the article: copies by the CPU, of all copies (DMA included)",
                     "the model: by the sender + by the receiver", "end to end"]
COPYBENCH_ABBREVIATIONS = ["article/call*k", "vol+inv", "syscr/w", ">0/?<", "meas.", "e2e"]
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
            self.current_num = [a["data-json"], a.get("data-value"), "", a.get("data-unit")]
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


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


class Tree(html.parser.HTMLParser):
    """A minimal element tree, enough to check the charts' structure."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent


def check_charts(text, doc):
    """The chart fixes, each of which a learner reported as a defect:
    captions above figures, y axes from zero with ticks, a scale the warm-up
    spike does not set, legends whose swatches carry the series' colour, and
    histogram bars of different transports that never overlap."""
    t = Tree()
    t.feed(text)
    figures = [n for n in t.root.walk() if n.tag == "figure"]
    if len(figures) < len(CHARTS) + 3:
        fail("only %d figures" % len(figures))
    for fig in figures:
        fid = fig.attrs.get("id")
        if not fig.children or fig.children[0].tag != "figcaption":
            fail("%s: the caption is not above the figure" % fid)
        if "chart" not in fig.attrs.get("class", ""):
            continue
        nodes = list(fig.walk())
        yaxes = [n for n in nodes if n.attrs.get("class") == "yaxis"]
        if len(yaxes) != 1:
            fail("%s: %d y axes" % (fid, len(yaxes)))
            continue
        ymin, ymax = float(yaxes[0].attrs["data-min"]), float(yaxes[0].attrs["data-max"])
        ticks = [float(n.attrs["data-tick"]) for n in yaxes[0].walk() if "data-tick" in n.attrs]
        if ymin != 0 or not ticks or ticks[0] != 0:
            fail("%s: y axis does not start at zero (min %s, ticks %s)" % (fid, ymin, ticks[:3]))
        if len(ticks) < 3 or ticks != sorted(ticks) or abs(ticks[-1] - ymax) > 1e-6 * max(1, ymax):
            fail("%s: ticks %s do not climb from 0 to the top of the scale %s" % (fid, ticks, ymax))
        values = [float(n.attrs["data-value"]) for n in nodes if n.attrs.get("class") == "num"]
        if any(v > ymax for v in values):
            fail("%s: a bar (%s) is above the scale (%s)" % (fid, max(values), ymax))
        # Legends: a swatch per series, whose colour (or shade) is that of the series' marks.
        items = [n for n in nodes if n.attrs.get("class") == "legend-item"]
        marks = [n for n in nodes if "data-series" in n.attrs and n.attrs.get("class") != "legend-item"]
        series = sorted({m.attrs["data-series"] for m in marks})
        if len(series) > 1 and sorted(i.attrs["data-series"] for i in items) != series:
            fail("%s: legend %s does not name the series %s" % (fid, [i.attrs["data-series"] for i in items], series))
        for it in items:
            sw = [n for n in it.walk() if n.attrs.get("class") == "swatch"]
            if len(sw) != 1 or "fill" not in sw[0].attrs:
                fail("%s: legend item %s has no coloured swatch" % (fid, it.attrs["data-series"]))
                continue
            fill, opacity = sw[0].attrs["fill"], sw[0].attrs.get("fill-opacity", "1")
            for m in marks:
                if m.attrs["data-series"] != it.attrs["data-series"]:
                    continue
                if m.tag == "rect":  # bar charts: transport is the colour, series the shade
                    if m.attrs.get("fill-opacity", "1") != opacity:
                        fail("%s: swatch of %s has shade %s, its bars %s" % (fid, it.attrs["data-series"], opacity,
                                                                             m.attrs.get("fill-opacity")))
                else:
                    colour = m.attrs.get("stroke") if m.tag == "polyline" else m.attrs.get("fill")
                    if colour != fill:
                        fail("%s: swatch of %s is %s, its series is drawn in %s" % (fid, it.attrs["data-series"], fill, colour))
            for n in it.walk():
                if n.tag == "text" and "fill" in n.attrs:
                    fail("%s: legend text carries a fill the CSS would override" % fid)
        if fid in ("chart-latency-series", "chart-latency-hist"):
            wu = doc["runs"][0]["warmup_frames_excluded"]
            steady = max(f.get("latency_us", 0) for r in doc["runs"] for f in r["frames"] if f["frame"] >= wu)
            if fid == "chart-latency-series" and not steady <= ymax <= 2 * steady + 1:
                fail("%s: scale %s is not set by the frames after warm-up (max %s)" % (fid, ymax, steady))
        if fid == "chart-latency-hist":
            spans = []
            for g in nodes:
                if g.tag == "g" and "data-series" in g.attrs and g.attrs.get("class") != "legend-item":
                    for r in g.children:
                        x, w = float(r.attrs["x"]), float(r.attrs["width"])
                        spans.append((x, x + w, g.attrs["data-series"]))
            for a in spans:
                for b in spans:
                    if a[2] < b[2] and min(a[1], b[1]) - max(a[0], b[0]) > 1e-6:
                        fail("%s: bars of %s and %s overlap" % (fid, a[2], b[2]))
    print("charts: %d figures checked (captions, axes from zero, legend swatches, histogram bars)" % len(figures))


def check_sizes(text, doc):
    """The cost-versus-size charts: a line and a point per size for each
    transport, drawn at the values of run.json, and what they must show."""
    sizes = doc.get("sizes")
    if not sizes:
        fail("run.json has no \"sizes\" (--sizes was given)")
        return
    points = sizes["points"]
    got = ["%dx%d" % (p["width"], p["height"]) for p in points]
    if got != SIZES:
        fail("sizes run %s, asked for %s" % (got, SIZES))
    t = Tree()
    t.feed(text)
    figs = {n.attrs.get("id"): n for n in t.root.walk() if n.tag == "figure"}
    for cid, key in zip(SIZE_CHARTS, ["cpu_us", "cpu_copy_bytes"]):
        fig = figs.get(cid)
        if fig is None:
            fail("missing chart " + cid)
            continue
        nodes = list(fig.walk())
        lines = {n.attrs["data-series"]: n for n in nodes if n.tag == "polyline"}
        if sorted(lines) != sorted(COLOURS):
            fail("%s: lines for %s, expected one per transport %s" % (cid, sorted(lines), sorted(COLOURS)))
        for tr, line in lines.items():
            n = len(line.attrs.get("points", "").split())
            if n != len(SIZES):
                fail("%s: the %s line has %d points, expected %d" % (cid, tr, n, len(SIZES)))
            dots = [d for d in nodes if d.tag == "circle" and d.attrs.get("data-series") == tr]
            if len(dots) != len(SIZES):
                fail("%s: %d %s points, expected %d" % (cid, len(dots), tr, len(SIZES)))
            xs = [float(d.attrs["cx"]) for d in dots]
            if xs != sorted(xs) or len(set(xs)) != len(xs):
                fail("%s: %s points are not in order of frame size: %s" % (cid, tr, xs))
            for d in dots:
                want = float(resolve(doc, d.attrs["data-json"]))
                if not d.attrs["data-json"].endswith("/" + key) or abs(float(d.attrs["data-value"]) - want) > 1e-9 * max(1, want):
                    fail("%s: point %s = %s, run.json %s" % (cid, d.attrs["data-json"], d.attrs["data-value"], want))
    # What the chart is for: a handle costs no copy at any size; a copy costs the bytes.
    copies = {"dmabuf": 0, "shm": 1, "socket": 3}
    for p in points:
        for r in p["runs"]:
            if r["cpu_copy_bytes"] != copies[r["transport"]] * p["frame_bytes"]:
                fail("%dx%d %s: %s bytes copied per frame, expected %d x %d" % (p["width"], p["height"], r["transport"],
                                                                             r["cpu_copy_bytes"], copies[r["transport"]],
                                                                             p["frame_bytes"]))
    cpu = {r["transport"]: [pp["runs"][i]["cpu_us"] for pp in points] for i, r in enumerate(points[0]["runs"])}
    if not cpu["socket"][-1] > 2 * cpu["socket"][0]:
        fail("socket CPU per frame does not grow with the frame: %s" % cpu["socket"])
    if not max(cpu["dmabuf"]) < cpu["socket"][-1] / 4:
        fail("dmabuf CPU per frame %s is not far below socket's at the largest size %s" % (cpu["dmabuf"], cpu["socket"][-1]))
    print("sizes: %d charts, %d sizes x 3 transports checked" % (len(SIZE_CHARTS), len(points)))


def check_copybench(text, doc, numbers):
    """zcpipe-copybench's table as a section, with headers a learner can read."""
    cb = doc.get("copybench")
    if not cb:
        fail("run.json has no \"copybench\"")
        return
    start = text.find('<section id="copybench">')
    if start < 0:
        fail("no copybench section")
        return
    section = text[start:text.index("</section>", start)]
    for h in COPYBENCH_HEADERS:
        if h not in section:
            fail("copybench section lacks the header %r" % h)
    tables = section[:section.find("How to read it")]  # the explanation quotes 0/? on purpose
    for a in COPYBENCH_ABBREVIATIONS:
        if a in tables:
            fail("copybench section still shows the abbreviation %r" % a)
    if any(t["article"]["per_call"]["copies"] is None for t in cb["techniques"]) and "a total it does not state" not in section:
        fail("copybench section does not say in words that the article gives no total (0/?)")
    shown = {n[0] for n in numbers}
    for i, t in enumerate(cb["techniques"]):
        if ">%s<" % t["name"] not in section:
            fail("copybench section has no row for " + t["name"])
        for k in ("measured/sender/syscalls/total", "measured/sender/mode_switches", "measured/sender/voluntary_cs",
                  "measured/sender/involuntary_cs", "measured/sender/syscr", "model/mode_switches"):
            if "/copybench/techniques/%d/%s" % (i, k) not in shown:
                fail("copybench section does not show /copybench/techniques/%d/%s" % (i, k))
    print("copybench: %d techniques, readable headers checked" % len(cb["techniques"]))


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


def human_bytes(v):
    """Binary units, as the report shows bytes: 65536 -> '64 KiB', 3686400 -> '3.5 MiB'."""
    a = abs(v)
    d, name = (1 << 30, "GiB") if a >= 1 << 30 else (1 << 20, "MiB") if a >= 1 << 20 else (1 << 10, "KiB") if a >= 1024 else (1, "B")
    x = v / d
    return ("%d %s" % (x, name)) if x == int(x) else ("%.1f %s" % (x, name))


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


def check_bad_sizes(demo):
    """An operator error in --sizes is one line naming the bad item, and a non-zero exit, before anything runs."""
    for bad, needle in (("1280x720,12x4", "12x4"), ("640x360,640x360", "listed twice"), ("1280x", "1280x")):
        r = subprocess.run([demo, "--sizes", bad, "--frames", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        if r.returncode == 0 or len(lines) != 1 or needle not in lines[0]:
            fail("--sizes %s: exit %d, stderr %r" % (bad, r.returncode, r.stderr))


def main():
    demo = sys.argv[1]
    browser = "--browser" in sys.argv
    check_bad_sizes(demo)
    out = tempfile.mkdtemp(prefix="zcpipe-report-test-")
    try:
        cmd = [demo, "--transport", "all", "--refresh", "0", "--frames", "12", "--size", "1280x720", "--quiet",
               "--overwrite-proof", "--explain", "--sizes", ",".join(SIZES), "--report", out]
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
        for pointer, value, shown, unit in p.numbers:
            try:
                want = float(resolve(doc, pointer))
            except (KeyError, IndexError, ValueError, TypeError):
                fail("number points at missing JSON value " + pointer)
                continue
            if value is None or abs(float(value) - want) > 1e-9 * max(1.0, abs(want)):
                fail("%s: data-value %s != JSON %s" % (pointer, value, want))
            expect = human_bytes(want) if unit == "bytes" else human(want)
            if shown.strip() != expect:
                fail("%s: shows %r, expected %r" % (pointer, shown.strip(), expect))
            if pointer.endswith(("frame_bytes", "/chunk", "cpu_copy_bytes/median")) and unit != "bytes":
                fail("%s is a byte count but is not shown in KiB/MiB" % pointer)
        # Spot-check the numbers that tell the story.
        for i, copies in enumerate([0, 1, 3]):
            pointer = "/runs/%d/per_frame/cpu_copies/median" % i
            if not any(n[0] == pointer for n in p.numbers):
                fail("report does not show " + pointer)
            if resolve(doc, pointer) != copies:
                fail("%s is %s, expected %d" % (pointer, resolve(doc, pointer), copies))
        # The overwrite experiment: a row per transport, its numbers from run.json.
        if "overwrite-proof" not in p.ids:
            fail("no overwrite-proof section")
        for i, t in enumerate(transports):
            for k in ("frames", "marker_seen_frames"):
                pointer = "/runs/%d/overwrite_proof/%s" % (i, k)
                if not any(n[0] == pointer for n in p.numbers):
                    fail("report does not show " + pointer)
            seen = resolve(doc, "/runs/%d/overwrite_proof/marker_seen_frames" % i)
            looked = resolve(doc, "/runs/%d/overwrite_proof/frames" % i)
            if looked <= 0 or seen != (looked if t == "dmabuf" else 0):
                fail("%s: marker seen in %s of %s frames" % (t, seen, looked))
        # The display's measured timing (the traced frame's commit -> flip) in every journey.
        for i, t in enumerate(transports):
            pointer = "/runs/%d/display_timings/commit_to_flip_us" % i
            if not any(n[0] == pointer for n in p.numbers):
                fail("the %s journey does not show %s" % (t, pointer))
        # Headless is a virtual display: the journey must not claim it reads memory.
        if doc["runs"][0]["output"] == "headless" and "the display engine reads memory (DMA)" in text:
            fail("a headless run's journey says the display engine reads memory")
        print("html: %d elements with ids, %d numbers checked against run.json" % (len(p.ids), len(p.numbers)))
        check_charts(text, doc)
        check_sizes(text, doc)
        check_copybench(text, doc, p.numbers)
        # The model section cites the articles and explains 380 vs this run's count.
        model = doc.get("model_vs_measured")
        if model:
            for needle in ("ликбез", "SG-DMA" if "SG-DMA" in text else "scatter-gather", "--format RGB888"):
                if needle not in text:
                    fail("model section does not mention %r" % needle)
            art = model.get("articles", {})
            if art.get("transfers") != 380 or art.get("context_switches") != 1140:
                fail("the articles' example is %s transfers / %s switches, expected 380 / 1140" %
                     (art.get("transfers"), art.get("context_switches")))
        if browser:
            check_browser(html_path, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
