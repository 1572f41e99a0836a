#include "report/report.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "stats/format.h"

namespace zc::report {
using nlohmann::json;

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// The same way as the demo's tables: 33,177,600, never 33.2 M in one place
// and 33177600 in another.
std::string human(double v) { return stats::format_count(v); }

// A number from the JSON, shown with its provenance.
std::string num(const json& doc, const std::string& path, const std::string& tag = "span") {
  const json& v = doc.at(json::json_pointer(path));
  const double d = v.get<double>();
  return fmt::format("<{0} class=\"num\" data-json=\"{1}\" data-value=\"{2}\">{3}</{0}>", tag, esc(path),
                     fmt::format("{}", d), human(d));
}
// The same inside SVG (a <tspan>).
std::string svg_num(const json& doc, const std::string& path) {
  const json& v = doc.at(json::json_pointer(path));
  const double d = v.get<double>();
  return fmt::format("<tspan class=\"num\" data-json=\"{}\" data-value=\"{}\">{}</tspan>", esc(path), fmt::format("{}", d),
                     human(d));
}

double at(const json& doc, const std::string& path, double dflt = 0) {
  const json::json_pointer p(path);
  return doc.contains(p) && doc.at(p).is_number() ? doc.at(p).get<double>() : dflt;
}

const char* kTransportColor(const std::string& t) {
  if (t == "dmabuf") return "#2a7ab0";
  if (t == "shm") return "#d08a1e";
  return "#c0392b";
}

// ----------------------------------------------------------------- charts
struct Bar {
  std::string path;  // JSON pointer of the value
  std::string label;
};
struct Group {
  std::string name;  // transport
  std::vector<Bar> bars;
};

// Grouped bar chart: one group per transport, one bar per series.
std::string bar_chart(const json& doc, const std::string& id, const std::string& title, const std::string& unit,
                      const std::vector<Group>& groups, const std::vector<std::string>& series) {
  const int w = 560, h = 270, left = 60, bottom = 50, top = 40;
  double maxv = 0;
  for (const auto& g : groups)
    for (const auto& b : g.bars) maxv = std::max(maxv, at(doc, b.path));
  if (maxv <= 0) maxv = 1;
  const double plot_h = h - bottom - top;
  const double gw = (w - left - 10) / static_cast<double>(std::max<size_t>(1, groups.size()));
  const double bw = std::min(60.0, (gw - 20) / static_cast<double>(std::max<size_t>(1, series.size())));
  std::string s = fmt::format(
      "<figure class=\"chart\" id=\"{0}\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {1} {2}\" width=\"{1}\" "
      "height=\"{2}\" role=\"img\" aria-label=\"{3}\"><title>{3}</title>"
      "<text x=\"{4}\" y=\"18\" class=\"ctitle\">{3}</text>"
      "<line x1=\"{5}\" y1=\"{6}\" x2=\"{7}\" y2=\"{6}\" class=\"axis\"/>"
      "<text x=\"8\" y=\"{8}\" class=\"unit\">{9}</text>",
      id, w, h, esc(title), left, left, h - bottom, w - 5, top + 10, esc(unit));
  static const char* kSeriesShade[] = {"1", "0.55", "0.3"};
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& g = groups[gi];
    const double gx = left + gi * gw + 10;
    for (size_t bi = 0; bi < g.bars.size(); ++bi) {
      const double v = at(doc, g.bars[bi].path);
      const double bh = plot_h * v / maxv;
      const double x = gx + bi * bw;
      const double y = h - bottom - bh;
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" fill-opacity=\"{}\"><title>{} {}</title></rect>",
          x, y, bw - 4, std::max(bh, 0.5), kTransportColor(g.name), kSeriesShade[bi % 3], esc(g.name), esc(g.bars[bi].label));
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"val\">{}</text>", x + (bw - 4) / 2, y - 4,
                       svg_num(doc, g.bars[bi].path));
    }
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"glabel\">{}</text>", gx + (bw * g.bars.size()) / 2, h - bottom + 16,
                     esc(g.name));
  }
  if (series.size() > 1) {
    for (size_t i = 0; i < series.size(); ++i)
      s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#555\" fill-opacity=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"legend\">{}</text>",
                       left + 10 + 110 * i, h - 14, kSeriesShade[i % 3], left + 24 + 110 * i, h - 5, esc(series[i]));
  }
  s += "</svg></figure>\n";
  return s;
}

// Latency of every frame over the run, one line per transport.
std::string latency_series(const json& doc, const std::string& id) {
  const int w = 560, h = 260, left = 60, bottom = 36, top = 30;
  double maxv = 1;
  size_t maxn = 1;
  const json& runs = doc["runs"];
  for (const auto& r : runs) {
    maxn = std::max(maxn, r["frames"].size());
    for (const auto& f : r["frames"]) maxv = std::max(maxv, f.value("latency_us", 0.0));
  }
  std::string s = fmt::format(
      "<figure class=\"chart\" id=\"{0}\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {1} {2}\" width=\"{1}\" height=\"{2}\" "
      "role=\"img\" aria-label=\"latency per frame\"><title>latency per frame over the run</title>"
      "<text x=\"{3}\" y=\"18\" class=\"ctitle\">latency commit &#8594; screen, every frame (&#181;s)</text>"
      "<line x1=\"{3}\" y1=\"{4}\" x2=\"{5}\" y2=\"{4}\" class=\"axis\"/><line x1=\"{3}\" y1=\"{6}\" x2=\"{3}\" y2=\"{4}\" class=\"axis\"/>"
      "<text x=\"4\" y=\"{7}\" class=\"unit\">{8}</text><text x=\"{5}\" y=\"{9}\" class=\"unit\" text-anchor=\"end\">frame {10}</text>",
      id, w, h, left, h - bottom, w - 5, top, top + 4, human(maxv), h - bottom + 14, maxn - 1);
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const auto& r = runs[ri];
    std::string pts;
    for (const auto& f : r["frames"]) {
      if (!f.contains("latency_us")) continue;
      const double x = left + (w - 5 - left) * f["frame"].get<double>() / std::max<double>(1, static_cast<double>(maxn - 1));
      const double y = h - bottom - (h - bottom - top) * f["latency_us"].get<double>() / maxv;
      pts += fmt::format("{:.1f},{:.1f} ", x, y);
    }
    const std::string t = r["transport"].get<std::string>();
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" data-transport=\"{}\"/>", pts,
                     kTransportColor(t), esc(t));
    s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"legend\" fill=\"{}\">{}</text>", w - 90, top + 14 * ri, kTransportColor(t), esc(t));
  }
  s += "</svg></figure>\n";
  return s;
}

// The distribution of latency: a histogram per transport on shared bins.
std::string latency_histogram(const json& doc, const std::string& id) {
  const int w = 560, h = 260, left = 40, bottom = 36, top = 30, bins = 24;
  double maxv = 1;
  for (const auto& r : doc["runs"])
    for (const auto& f : r["frames"]) maxv = std::max(maxv, f.value("latency_us", 0.0));
  std::vector<std::vector<int>> counts;
  int maxc = 1;
  for (const auto& r : doc["runs"]) {
    std::vector<int> c(bins, 0);
    for (const auto& f : r["frames"]) {
      if (!f.contains("latency_us")) continue;
      const int b = std::min(bins - 1, static_cast<int>(f["latency_us"].get<double>() / maxv * bins));
      maxc = std::max(maxc, ++c[static_cast<size_t>(b)]);
    }
    counts.push_back(c);
  }
  std::string s = fmt::format(
      "<figure class=\"chart\" id=\"{0}\"><svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {1} {2}\" width=\"{1}\" height=\"{2}\" "
      "role=\"img\" aria-label=\"latency distribution\"><title>latency distribution</title>"
      "<text x=\"{3}\" y=\"18\" class=\"ctitle\">latency distribution (frames per bin, 0 to {4} &#181;s)</text>"
      "<line x1=\"{3}\" y1=\"{5}\" x2=\"{6}\" y2=\"{5}\" class=\"axis\"/>",
      id, w, h, left, human(maxv), h - bottom, w - 5);
  const double bw = (w - 5 - left) / static_cast<double>(bins);
  for (size_t ri = 0; ri < counts.size(); ++ri) {
    const std::string t = doc["runs"][ri]["transport"].get<std::string>();
    std::string path = fmt::format("M{},{} ", left, h - bottom);
    for (int b = 0; b < bins; ++b) {
      const double y = h - bottom - (h - bottom - top) * counts[ri][static_cast<size_t>(b)] / static_cast<double>(maxc);
      path += fmt::format("L{:.1f},{:.1f} L{:.1f},{:.1f} ", left + b * bw, y, left + (b + 1) * bw, y);
    }
    path += fmt::format("L{},{}", w - 5, h - bottom);
    s += fmt::format("<path d=\"{}\" fill=\"{}\" fill-opacity=\"0.25\" stroke=\"{}\" data-transport=\"{}\"/>", path, kTransportColor(t),
                     kTransportColor(t), esc(t));
    s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"legend\" fill=\"{}\">{}</text>", w - 90, top + 14 * ri, kTransportColor(t), esc(t));
  }
  s += "</svg></figure>\n";
  return s;
}

// ---------------------------------------------------------------- journey
enum class Mover { cpu, dma, handle, none };
struct Step {
  int lane;  // 0 client, 1 kernel, 2 compositor, 3 display
  std::string title;
  std::string detail;  // may contain svg_num() markup
  Mover mover;
};

const char* mover_color(Mover m) {
  switch (m) {
    case Mover::cpu: return "#f4c7c3";
    case Mover::dma: return "#c8e6c9";
    case Mover::handle: return "#cfe3f5";
    case Mover::none: return "#eeeeee";
  }
  return "#eee";
}

std::string calls(const json& doc, size_t ri, const std::string& proc, const std::string& call) {
  const std::string path = fmt::format("/runs/{}/calls_per_frame/{}/{}", ri, proc, call);
  if (!doc.contains(json::json_pointer(path))) return "0";
  return svg_num(doc, path);
}

std::vector<Step> journey_steps(const json& doc, size_t ri) {
  const json& r = doc["runs"][ri];
  const std::string t = r["transport"].get<std::string>();
  const std::string base = fmt::format("/runs/{}", ri);
  const std::string bytes = svg_num(doc, base + "/frame_bytes");
  std::vector<Step> st;
  st.push_back({0, "render frame N", "the CPU writes " + bytes + " B into " + (t == "socket" ? "private memory" : "a buffer it shares"),
                Mover::none});
  if (t == "dmabuf") {
    st.push_back({1, "commit: sendmsg x" + calls(doc, ri, "client", "sendmsg"),
                  "attach + damage + commit: a few bytes; the fd crossed once, when the buffer was created", Mover::handle});
    st.push_back({2, "recvmsg x" + calls(doc, ri, "compositor", "recvmsg") + ", apply commit",
                  "hands the client's own buffer to the output: " + svg_num(doc, base + "/per_frame/cpu_copy_bytes/median") + " B copied",
                  Mover::handle});
    st.push_back({3, "scanout reads the client's buffer", "ZERO_COPY feedback on " + svg_num(doc, base + "/frames_zero_copy") + " frames",
                  Mover::dma});
  } else if (t == "shm") {
    st.push_back({1, "commit: sendmsg x" + calls(doc, ri, "client", "sendmsg"), "attach of a wl_shm buffer (memfd pool)", Mover::handle});
    st.push_back({2, "memcpy into a scanout buffer", svg_num(doc, base + "/per_frame/cpu_copy_bytes/median") + " B copied by the CPU",
                  Mover::cpu});
    st.push_back({3, "scanout reads the compositor's copy", "the client's buffer is released at once", Mover::dma});
  } else {
    st.push_back({1, "write() x" + calls(doc, ri, "client", "write"),
                  svg_num(doc, base + "/chunk") + " B each: the kernel copies them into the socket buffer", Mover::cpu});
    st.push_back({2, "read() x" + calls(doc, ri, "compositor", "read") + ", epoll_wait x" + calls(doc, ri, "compositor", "epoll_wait"),
                  "the kernel copies the socket buffer into the staging buffer", Mover::cpu});
    st.push_back({2, "memcpy staging -> scanout buffer", "third CPU copy of the frame", Mover::cpu});
    st.push_back({3, "scanout reads the compositor's copy", "the pixels crossed the CPU three times", Mover::dma});
  }
  st.push_back({2, "presented + frame done" + std::string(t == "dmabuf" ? " + release" : ""),
                "sendmsg x" + calls(doc, ri, "compositor", "sendmsg") + " to the client", Mover::handle});
  st.push_back({0, "poll + recvmsg", "x" + calls(doc, ri, "client", "recvmsg") + " recvmsg: the next frame may start", Mover::handle});
  return st;
}

std::string journey(const json& doc, size_t ri) {
  const json& r = doc["runs"][ri];
  const std::string t = r["transport"].get<std::string>();
  const std::vector<Step> steps = journey_steps(doc, ri);
  const int lane_h = 84, left = 100, top = 10, box_w = 150, gap = 16;
  const int w = left + static_cast<int>(steps.size()) * (box_w + gap) + 10;
  const int h = top + 4 * lane_h + 46;
  static const char* kLanes[] = {"client", "kernel", "compositor", "display"};
  std::string s = fmt::format(
      "<figure class=\"journey\" id=\"journey-{0}\" data-transport=\"{0}\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
      "viewBox=\"0 0 {1} {2}\" width=\"{1}\" height=\"{2}\" role=\"img\" aria-label=\"journey of one frame, {0}\">"
      "<title>journey of one frame: {0}</title>",
      esc(t), w, h);
  for (int l = 0; l < 4; ++l) {
    s += fmt::format("<rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"lane{}\"/><text x=\"8\" y=\"{}\" class=\"lanelabel\">{}</text>",
                     top + l * lane_h, w, lane_h, l % 2, top + l * lane_h + lane_h / 2 + 4, kLanes[l]);
  }
  s += fmt::format("<defs><marker id=\"arrow-{}\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" orient=\"auto\">"
                   "<path d=\"M0,0 L8,4 L0,8 z\" fill=\"#444\"/></marker></defs>", esc(t));
  int prev_x = -1, prev_y = -1;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    const int x = left + static_cast<int>(i) * (box_w + gap);
    const int y = top + st.lane * lane_h + 6;
    if (prev_x >= 0)
      s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"flow\" marker-end=\"url(#arrow-{})\"/>", prev_x, prev_y, x,
                       y + (lane_h - 12) / 2, esc(t));
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" class=\"step\"/>", x, y, box_w, lane_h - 12,
                     mover_color(st.mover));
    // HTML inside the box so long labels wrap.
    s += fmt::format("<foreignObject x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><div xmlns=\"http://www.w3.org/1999/xhtml\" class=\"stepbox\">"
                     "<div class=\"steptitle\">{}. {}</div><div class=\"stepdetail\">{}</div></div></foreignObject>",
                     x + 3, y + 2, box_w - 6, lane_h - 16, i + 1, st.title, st.detail);
    prev_x = x + box_w;
    prev_y = y + (lane_h - 12) / 2;
  }
  const int ly = top + 4 * lane_h + 16;
  int lx = 8;
  for (auto [m, label] : {std::pair{Mover::cpu, "CPU copies the pixels"}, std::pair{Mover::dma, "the display engine reads memory (DMA)"},
                          std::pair{Mover::handle, "only a handle / a few bytes"}, std::pair{Mover::none, "drawing"}}) {
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" class=\"legend\">{}</text>", lx,
                     ly, mover_color(m), lx + 18, ly + 11, label);
    lx += 250;
  }
  s += "</svg>";
  // tspans inside foreignObject divs are not SVG text: rewrite them as spans.
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t fo = s.find("<foreignObject", pos);
    if (fo == std::string::npos) {
      out += s.substr(pos);
      break;
    }
    const size_t end = s.find("</foreignObject>", fo);
    out += s.substr(pos, fo - pos);
    std::string seg = s.substr(fo, end - fo);
    for (size_t k; (k = seg.find("<tspan")) != std::string::npos;) seg.replace(k, 6, "<span");
    for (size_t k; (k = seg.find("</tspan>")) != std::string::npos;) seg.replace(k, 8, "</span>");
    out += seg;
    pos = end;
  }
  out += fmt::format("<figcaption>{}: the frame's path, with the counts this run measured per frame (medians).</figcaption></figure>\n", esc(t));
  return out;
}

const char* kCss = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.8em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.facts td{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{margin:0;border:1px solid #eee;padding:.3em}
.journey{margin:1em 0}.journey svg{max-width:100%;height:auto}.lane0{fill:#fafafa}.lane1{fill:#f0f0f0}.lanelabel{font-size:13px;font-weight:bold;fill:#555}
.step{stroke:#888}.stepbox{font-size:10.5px;line-height:1.25}.steptitle{font-weight:bold}.stepdetail{color:#333}
.flow{stroke:#444;stroke-width:1.2}.ctitle{font-size:13px;font-weight:bold}.val{font-size:10px;text-anchor:middle}
.glabel{font-size:12px;text-anchor:middle}.axis{stroke:#888}.unit,.legend{font-size:11px;fill:#555}
.why{color:#555;font-size:.9em;text-align:left}.ok{color:#1b7a2e}.bad{color:#b00020;font-weight:bold}
@media print{.chart{break-inside:avoid}.journey{break-inside:avoid}body{max-width:none}}
)";

}  // namespace

std::string render_html(const json& doc) {
  const json& runs = doc["runs"];
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>zcpipe report</title><style>";
  h += kCss;
  h += "</style></head><body>\n<header><h1>zcpipe: what one frame costs</h1>";
  h += "<p>How a frame travels from the client's renderer to the display, by three transports: a file descriptor to the buffer "
       "(<b>dmabuf</b>, zero-copy), shared memory the compositor copies (<b>shm</b>), and every pixel written through a socket in chunks "
       "(<b>socket</b>). Every number below was measured in this run and comes from <code>run.json</code> next to this file.</p></header>\n";

  // Facts.
  h += "<section id=\"facts\"><h2>Run facts</h2><table class=\"facts\">";
  auto fact = [&](const std::string& k, const std::string& v) { h += "<tr><th>" + esc(k) + "</th><td>" + v + "</td></tr>"; };
  fact("command", "<code>" + esc(doc.value("command", "")) + "</code>");
  fact("date", esc(doc.value("date", "")));
  fact("kernel", esc(doc["host"].value("kernel", "")));
  fact("CPU", esc(doc["host"].value("cpu", "")) + " (" + esc(std::to_string(doc["host"].value("cpus", 0))) + " CPUs)");
  if (!runs.empty()) {
    const json& r0 = runs[0];
    fact("output", esc(r0.value("output", "")) + (r0.value("refresh_hz", 0.0) > 0 ? fmt::format(" at {:g} Hz", r0.value("refresh_hz", 0.0)) : " (unpaced)"));
    fact("display", esc(r0.value("output_description", "")));
    fact("frame", fmt::format("{}x{} {}, {} bytes", r0.value("width", 0), r0.value("height", 0), esc(r0.value("format", "")), num(doc, "/runs/0/frame_bytes")));
  }
  for (size_t i = 0; i < runs.size(); ++i)
    fact("buffers (" + runs[i]["transport"].get<std::string>() + ")", esc(runs[i].value("allocator_description", "")));
  h += "</table></section>\n";

  // At a glance.
  h += "<section id=\"summary\"><h2>At a glance</h2><table><tr><th>per frame (median unless marked)</th>";
  for (const auto& r : runs) h += "<th>" + esc(r["transport"].get<std::string>()) + "</th>";
  h += "</tr>";
  // CPU time is heavy-tailed: mean (total / frames) and p99 beside the
  // median. The ledger's own cost is shown apart from the pipeline's.
  struct Row {
    const char* label;
    const char* key;
    const char* stat;
  };
  const Row rows[] = {{"CPU copies of the frame", "cpu_copies", "median"},
                      {"bytes copied by the CPU", "cpu_copy_bytes", "median"},
                      {"syscalls (both processes)", "total_syscalls", "median"},
                      {"user&#8596;kernel mode switches", "total_mode_switches", "median"},
                      {"scheduler context switches", "total_context_switches", "median"},
                      {"CPU time (&#181;s), mean", "total_cpu_us", "mean"},
                      {"CPU time (&#181;s), median", "total_cpu_us", "median"},
                      {"CPU time (&#181;s), p99", "total_cpu_us", "p99"},
                      {"the ledger's own syscalls (measuring)", "total_measure_syscalls", "median"},
                      {"the ledger's own CPU (&#181;s), mean", "total_measure_us", "mean"},
                      {"latency commit &#8594; screen (&#181;s)", "latency_us", "median"}};
  for (const auto& [label, key, stat] : rows) {
    h += std::string("<tr><td>") + label + "</td>";
    for (size_t i = 0; i < runs.size(); ++i) {
      const std::string p = fmt::format("/runs/{}/per_frame/{}/{}", i, key, stat);
      h += "<td>" + (doc.contains(json::json_pointer(p)) ? num(doc, p) : std::string("&#8211;")) + "</td>";
    }
    h += "</tr>";
  }
  h += "<tr><td>frames presented / requested</td>";
  for (size_t i = 0; i < runs.size(); ++i)
    h += "<td>" + num(doc, fmt::format("/runs/{}/frames_presented", i)) + " / " + num(doc, fmt::format("/runs/{}/frames_requested", i)) + "</td>";
  h += "</tr><tr><td>checks</td>";
  for (const auto& r : runs)
    h += r["checks"].value("passed", false) ? "<td class=\"ok\">passed</td>" : "<td class=\"bad\">FAILED</td>";
  h += "</tr></table><p>The first " + (runs.empty() ? std::string("0") : num(doc, "/runs/0/warmup_frames_excluded")) +
       " frames of each run are warm-up (their pages fault in) and are left out of every median.</p></section>\n";

  // Journeys.
  h += "<section id=\"journey\"><h2>The journey of one frame</h2><p>Four lanes: the client, the kernel, the compositor and the display. "
       "Colour says who moves the bytes at each step.</p>\n";
  for (size_t i = 0; i < runs.size(); ++i) h += journey(doc, i);
  h += "</section>\n";

  // Charts.
  auto groups_for = [&](std::vector<std::pair<std::string, std::string>> series_keys) {
    std::vector<Group> g;
    for (size_t i = 0; i < runs.size(); ++i) {
      Group grp{runs[i]["transport"].get<std::string>(), {}};
      for (const auto& [key, label] : series_keys) {
        const std::string p = fmt::format("/runs/{}/per_frame/{}/median", i, key);
        if (doc.contains(json::json_pointer(p))) grp.bars.push_back({p, label});
      }
      g.push_back(grp);
    }
    return g;
  };
  h += "<section id=\"charts\"><h2>Costs side by side</h2><div class=\"charts\">\n";
  h += bar_chart(doc, "chart-copies", "CPU copies per frame", "copies", groups_for({{"cpu_copies", "copies"}}), {"copies"});
  h += bar_chart(doc, "chart-copy-bytes", "bytes copied by the CPU per frame", "bytes", groups_for({{"cpu_copy_bytes", "bytes"}}), {"bytes"});
  h += bar_chart(doc, "chart-syscalls", "syscalls per frame", "calls",
                 groups_for({{"client_syscalls", "client"}, {"compositor_syscalls", "compositor"}}), {"client", "compositor"});
  h += bar_chart(doc, "chart-mode-switches", "user<->kernel mode switches per frame", "switches",
                 groups_for({{"client_mode_switches", "client"}, {"compositor_mode_switches", "compositor"}}), {"client", "compositor"});
  h += bar_chart(doc, "chart-context-switches", "scheduler context switches per frame", "switches",
                 groups_for({{"client_context_switches", "client"}, {"compositor_context_switches", "compositor"}}), {"client", "compositor"});
  h += bar_chart(doc, "chart-cpu", "CPU time per frame (median)", "us",
                 groups_for({{"client_cpu_us", "client"}, {"compositor_cpu_us", "compositor"}}), {"client", "compositor"});
  {
    std::vector<Group> g;
    for (size_t i = 0; i < runs.size(); ++i) g.push_back({runs[i]["transport"].get<std::string>(), {{fmt::format("/runs/{}/fps", i), "fps"}}});
    h += bar_chart(doc, "chart-fps", "frames per second", "fps", g, {"fps"});
  }
  h += latency_series(doc, "chart-latency-series");
  h += latency_histogram(doc, "chart-latency-hist");
  h += "</div></section>\n";

  // Model.
  if (doc.contains("model_vs_measured")) {
    const json& m = doc["model_vs_measured"];
    h += "<section id=\"model\"><h2>The classic articles' model vs this run</h2><p>A frame of " + num(doc, "/model_vs_measured/frame_bytes") +
         " bytes through a UNIX socket in " + num(doc, "/model_vs_measured/chunk") + "-byte transfers: " +
         num(doc, "/model_vs_measured/chunks_per_frame") + " transfers.</p><table><tr><th>quantity</th><th>model</th><th>measured</th><th>why they differ</th></tr>";
    for (size_t i = 0; i < m["rows"].size(); ++i) {
      const json& r = m["rows"][i];
      h += "<tr><td>" + esc(r["quantity"].get<std::string>()) + "</td><td>" + num(doc, fmt::format("/model_vs_measured/rows/{}/model", i)) +
           "</td><td>" + num(doc, fmt::format("/model_vs_measured/rows/{}/measured", i)) + "</td><td class=\"why\">" +
           esc(r["why"].get<std::string>()) + "</td></tr>";
    }
    h += "</table></section>\n";
  }
  h += "<footer><p>Generated by zcpipe-demo from <code>run.json</code>. Schema: docs/json.md in the zcpipe sources.</p></footer>\n</body></html>\n";
  return h;
}

Result<std::string> write_report(const std::string& dir, const json& doc) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{ec.value(), "cannot create " + dir};
  const std::string html_path = dir + "/report.html";
  {
    std::ofstream f(dir + "/run.json");
    f << doc.dump(1) << '\n';
    if (!f) return Error{EIO, "cannot write " + dir + "/run.json"};
  }
  std::ofstream f(html_path);
  f << render_html(doc);
  if (!f) return Error{EIO, "cannot write " + html_path};
  return html_path;
}

}  // namespace zc::report
