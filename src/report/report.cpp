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

// What a number counts. Bytes are shown in binary units (a 64 KiB chunk is
// "64 KiB", not "65.5 k"), because buffers and socket limits are powers of two.
enum class Unit { count, bytes, us };

double bytes_divisor(double v) {
  const double a = std::fabs(v);
  return a >= 1024.0 * 1024 * 1024 ? 1024.0 * 1024 * 1024 : a >= 1024.0 * 1024 ? 1024.0 * 1024 : a >= 1024 ? 1024.0 : 1.0;
}

std::string human_bytes(double v) {
  const double d = bytes_divisor(v);
  const char* name = d >= 1024.0 * 1024 * 1024 ? "GiB" : d >= 1024.0 * 1024 ? "MiB" : d >= 1024 ? "KiB" : "B";
  const double x = v / d;
  return x == std::floor(x) ? fmt::format("{:.0f} {}", x, name) : fmt::format("{:.1f} {}", x, name);
}

std::string human_in(double v, Unit u) { return u == Unit::bytes ? human_bytes(v) : human(v); }

// An axis label: round values, so no "15.0 k" (ticks are 1, 2 or 5 times a
// power of ten and need no decimals the data does not have).
std::string tick_label(double v, Unit u) {
  if (u == Unit::bytes) return human_bytes(v);
  if (std::fabs(v) >= 1e6) return fmt::format("{:g} M", v / 1e6);
  if (std::fabs(v) >= 1e4) return fmt::format("{:g} k", v / 1e3);
  return fmt::format("{:g}", v);
}

// A number from the JSON, shown with its provenance (data-json), its exact
// value (data-value) and its unit (data-unit), so tests can check what is shown.
std::string tagged(const json& doc, const std::string& path, Unit u, const char* tag) {
  const double d = doc.at(json::json_pointer(path)).get<double>();
  return fmt::format("<{0} class=\"num\" data-json=\"{1}\" data-value=\"{2}\"{3}>{4}</{0}>", tag, esc(path), fmt::format("{}", d),
                     u == Unit::bytes ? " data-unit=\"bytes\"" : "", human_in(d, u));
}
std::string num(const json& doc, const std::string& path, Unit u = Unit::count) { return tagged(doc, path, u, "span"); }
// The same inside SVG (a <tspan>).
std::string svg_num(const json& doc, const std::string& path, Unit u = Unit::count) { return tagged(doc, path, u, "tspan"); }

double at(const json& doc, const std::string& path, double dflt = 0) {
  const json::json_pointer p(path);
  return doc.contains(p) && doc.at(p).is_number() ? doc.at(p).get<double>() : dflt;
}

// By transport; a run label ("dmabuf gl") is coloured by its first word.
const char* kTransportColor(const std::string& label) {
  const std::string t = label.substr(0, label.find(' '));
  if (t == "dmabuf") return "#2a7ab0";
  if (t == "shm") return "#d08a1e";
  return "#c0392b";
}

// ----------------------------------------------------------------- charts
// Every chart goes through one helper, Chart: a caption above the figure, a
// y axis that starts at zero with ticks in the chart's unit, and a legend of
// swatches. The swatches carry the series' colour as an SVG fill attribute;
// legend *text* stays grey (CSS .legend), which is why the colour must live on
// a shape: CSS rules beat presentation attributes, so a coloured legend text
// with class="legend" used to render grey.

// A round tick step for an axis that must reach `maxv` in about `n` steps:
// 1, 2 or 5 times a power of ten, counted in the unit the labels use (KiB and
// MiB for bytes, so 64 KiB ticks rather than 65.5 k).
double tick_step(double maxv, Unit u, int n = 5) {
  const double base = u == Unit::bytes ? bytes_divisor(maxv) : 1.0;
  const double raw = std::max(maxv / base / n, 1e-9);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) {
      step = m * p;
      break;
    }
  if (u != Unit::us && step < 1) step = 1;  // counts and bytes are whole
  return step * base;
}

struct Legend {
  std::string name;
  std::string colour;
  std::string opacity = "1";
};

class Chart {
 public:
  // data_max: the largest value the scale must show (the caller decides what
  // counts: the latency chart leaves the warm-up spike out).
  // note: a second line under the caption (HTML), e.g. what the scale leaves out.
  Chart(std::string id, std::string caption, std::string axis_label, Unit unit, double data_max, int bottom = 60,
        std::string note = "")
      : id_(std::move(id)), caption_(std::move(caption)), note_(std::move(note)), axis_label_(std::move(axis_label)), unit_(unit),
        bottom_(bottom) {
    step_ = tick_step(std::max(data_max, 1e-9), unit_);
    ymax_ = std::max(step_, std::ceil(data_max / step_ - 1e-9) * step_);
  }
  int plot_left() const { return kLeft; }
  int plot_right() const { return kW - 10; }
  int baseline() const { return kH - bottom_; }
  // y of a value; values above the scale are drawn at its top (the caller
  // says so in words).
  double y(double v) const { return baseline() - (baseline() - kTop) * std::clamp(v, 0.0, ymax_) / ymax_; }
  double ymax() const { return ymax_; }
  Unit unit() const { return unit_; }
  int height() const { return kH; }

  std::string open() const {
    std::string s = fmt::format(
        "<figure class=\"chart\" id=\"{0}\"><figcaption>{1}{4}</figcaption>"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {2} {3}\" width=\"{2}\" height=\"{3}\" role=\"img\" "
        "aria-label=\"{1}\"><title>{1}</title>",
        id_, caption_, kW, kH, note_.empty() ? "" : "<br><small>" + note_ + "</small>");
    s += fmt::format("<g class=\"yaxis\" data-min=\"0\" data-max=\"{}\">", ymax_);
    for (double v = 0; v <= ymax_ + step_ * 1e-6; v += step_) {
      const double yy = y(v);
      s += fmt::format(
          "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" class=\"grid\"/>"
          "<line x1=\"{3}\" y1=\"{1:.1f}\" x2=\"{0}\" y2=\"{1:.1f}\" class=\"axis\"/>"
          "<text x=\"{4}\" y=\"{5:.1f}\" class=\"tick\" data-tick=\"{6}\">{7}</text>",
          kLeft, yy, plot_right(), kLeft - 4, kLeft - 6, yy + 3.5, v, tick_label(v, unit_));
    }
    s += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" class=\"axis\"/></g>"
        "<line x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\" class=\"axis\"/>"
        "<text x=\"4\" y=\"{4}\" class=\"unit\">{5}</text>",
        kLeft, kTop, baseline(), plot_right(), kTop - 10, esc(axis_label_));
    return s;
  }

  // Swatches in a row under the plot.
  std::string legend(const std::vector<Legend>& items) const {
    std::string s = "<g class=\"legendbox\">";
    int x = kLeft;
    const int ly = kH - 16;
    for (const auto& it : items) {
      s += fmt::format(
          "<g class=\"legend-item\" data-series=\"{0}\"><rect class=\"swatch\" x=\"{1}\" y=\"{2}\" width=\"12\" "
          "height=\"12\" fill=\"{3}\" fill-opacity=\"{4}\" stroke=\"#444\" stroke-width=\"0.5\"/>"
          "<text x=\"{5}\" y=\"{6}\" class=\"legend\">{0}</text></g>",
          esc(it.name), x, ly - 10, it.colour, it.opacity, x + 16, ly);
      x += 30 + 7 * static_cast<int>(it.name.size()) + 20;
    }
    return s + "</g>";
  }

  static std::string close() { return "</svg></figure>\n"; }

  static constexpr int kW = 560, kH = 290, kLeft = 64, kTop = 30;

 private:
  std::string id_, caption_, note_, axis_label_;
  Unit unit_;
  int bottom_;
  double step_ = 1, ymax_ = 1;
};

struct Bar {
  std::string path;  // JSON pointer of the value
  std::string label;
};
struct Group {
  std::string name;  // transport
  std::vector<Bar> bars;
};

// A run's name for legends, captions and table heads: the demo's "label"
// (the transport, with the renderer when one demo ran several: "dmabuf gl"),
// or the transport in files older than labels. Colours stay the transport's.
std::string run_label(const json& r) { return r.value("label", r["transport"].get<std::string>()); }

// Series in a grouped bar chart are told apart by shade; the transport is the
// colour and is written under its group.
constexpr const char* kSeriesShade[] = {"1", "0.45", "0.2", "0.75", "0.1"};
constexpr size_t kShades = sizeof kSeriesShade / sizeof kSeriesShade[0];

// Grouped bar chart: one group per transport, one bar per series.
std::string bar_chart(const json& doc, const std::string& id, const std::string& title, const std::string& axis_label, Unit unit,
                      const std::vector<Group>& groups, const std::vector<std::string>& series) {
  double maxv = 0;
  for (const auto& g : groups)
    for (const auto& b : g.bars) maxv = std::max(maxv, at(doc, b.path));
  const Chart c(id, esc(title), axis_label, unit, maxv, series.size() > 1 ? 60 : 34);
  std::string s = c.open();
  const double gw = (c.plot_right() - c.plot_left()) / static_cast<double>(std::max<size_t>(1, groups.size()));
  const double bw = std::min(60.0, (gw - 20) / static_cast<double>(std::max<size_t>(1, series.size())));
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& g = groups[gi];
    const double gx = c.plot_left() + gi * gw + (gw - bw * static_cast<double>(g.bars.size())) / 2;
    for (size_t bi = 0; bi < g.bars.size(); ++bi) {
      const double v = at(doc, g.bars[bi].path);
      const double y = c.y(v);
      const double x = gx + bi * bw;
      s += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" fill-opacity=\"{}\" stroke=\"{}\" "
          "data-series=\"{}\"><title>{} {}</title></rect>",
          x, y, bw - 4, std::max(c.baseline() - y, 0.5), kTransportColor(g.name), kSeriesShade[bi % kShades], kTransportColor(g.name),
          esc(g.bars[bi].label), esc(g.name), esc(g.bars[bi].label));
      s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"val\">{}</text>", x + (bw - 4) / 2, y - 4,
                       svg_num(doc, g.bars[bi].path, unit));
    }
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"glabel\">{}</text>", c.plot_left() + gi * gw + gw / 2, c.baseline() + 16,
                     esc(g.name));
  }
  if (series.size() > 1) {
    std::vector<Legend> items;
    for (size_t i = 0; i < series.size(); ++i) items.push_back({series[i], "#666", kSeriesShade[i % kShades]});
    s += c.legend(items);
  }
  return s + Chart::close();
}

// The frames that count: warm-up frames fault their pages in and are left
// out of every median, and of the scales below.
uint64_t warmup(const json& doc) {
  return doc["runs"].empty() ? 0 : doc["runs"][0].value("warmup_frames_excluded", uint64_t{0});
}

// Latency of every frame over the run, one line per transport.
std::string latency_series(const json& doc, const std::string& id) {
  const json& runs = doc["runs"];
  const uint64_t wu = warmup(doc);
  double maxv = 0, spike = 0;  // after warm-up / during warm-up
  size_t maxn = 1;
  for (const auto& r : runs) {
    maxn = std::max(maxn, r["frames"].size());
    for (const auto& f : r["frames"]) {
      double& m = f.value("frame", uint64_t{0}) < wu ? spike : maxv;
      m = std::max(m, f.value("latency_us", 0.0));
    }
  }
  const std::string note =
      spike > maxv && wu > 0
          ? fmt::format("warm-up frames (shaded) reach {} &#181;s and are cut off, so they do not set the scale", human(spike))
          : std::string();
  const Chart c(id, "Latency commit &#8594; on screen, every frame (&#181;s)", "\xc2\xb5s", Unit::us, maxv, 60, note);
  std::string s = c.open();
  const double span = c.plot_right() - c.plot_left();
  const double denom = std::max<double>(1, static_cast<double>(maxn - 1));
  auto x_of = [&](double frame) { return c.plot_left() + span * frame / denom; };
  if (wu > 0)
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" class=\"warmup\"/>", c.plot_left(), Chart::kTop,
                     x_of(static_cast<double>(wu) - 0.5) - c.plot_left(), c.baseline() - Chart::kTop);
  // Frame ticks on the x axis.
  const double fstep = tick_step(static_cast<double>(maxn - 1), Unit::count, 6);
  for (double f = 0; f <= static_cast<double>(maxn - 1); f += fstep)
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"axis\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3}\" class=\"tick xtick\">{4}</text>",
                     x_of(f), c.baseline(), c.baseline() + 4, c.baseline() + 15, tick_label(f, Unit::count));
  s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"unit\" text-anchor=\"end\">frame</text>", c.plot_right(), c.baseline() + 28);
  std::vector<Legend> items;
  for (const auto& r : runs) {
    std::string pts;
    for (const auto& f : r["frames"]) {
      if (!f.contains("latency_us")) continue;
      pts += fmt::format("{:.1f},{:.1f} ", x_of(f["frame"].get<double>()), c.y(f["latency_us"].get<double>()));
    }
    const std::string t = r["transport"].get<std::string>();
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" data-transport=\"{}\" data-series=\"{}\"/>",
                     pts, kTransportColor(t), esc(t), esc(run_label(r)));
    items.push_back({run_label(r), kTransportColor(t)});
  }
  s += c.legend(items);
  return s + Chart::close();
}

// The distribution of latency after warm-up: per bin, one thin bar per
// transport side by side, so distributions that overlap stay readable.
std::string latency_histogram(const json& doc, const std::string& id) {
  const json& runs = doc["runs"];
  const uint64_t wu = warmup(doc);
  constexpr int kBins = 20;
  double maxv = 1;
  for (const auto& r : runs)
    for (const auto& f : r["frames"])
      if (f.value("frame", uint64_t{0}) >= wu) maxv = std::max(maxv, f.value("latency_us", 0.0));
  // Round bin edges: the bins span 0..top on the tick step of the range.
  const double top = std::ceil(maxv / tick_step(maxv, Unit::us, kBins)) * tick_step(maxv, Unit::us, kBins);
  std::vector<std::vector<int>> counts;
  int maxc = 1;
  for (const auto& r : runs) {
    std::vector<int> cnt(kBins, 0);
    for (const auto& f : r["frames"]) {
      if (!f.contains("latency_us") || f.value("frame", uint64_t{0}) < wu) continue;
      const int b = std::min(kBins - 1, static_cast<int>(f["latency_us"].get<double>() / top * kBins));
      maxc = std::max(maxc, ++cnt[static_cast<size_t>(b)]);
    }
    counts.push_back(cnt);
  }
  const Chart c(id, fmt::format("Latency distribution after warm-up: frames per {} &#181;s bin", human(top / kBins)), "frames",
                Unit::count, maxc, 60);
  std::string s = c.open();
  const double bin_w = (c.plot_right() - c.plot_left()) / static_cast<double>(kBins);
  const double bar_w = (bin_w - 2) / static_cast<double>(std::max<size_t>(1, counts.size()));
  std::vector<Legend> items;
  for (size_t ri = 0; ri < counts.size(); ++ri) {
    const std::string t = runs[ri]["transport"].get<std::string>();
    std::string bars;
    for (int b = 0; b < kBins; ++b) {
      const int n = counts[ri][static_cast<size_t>(b)];
      if (n == 0) continue;
      bars += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"/>", c.plot_left() + b * bin_w + 1 + ri * bar_w,
                          c.y(n), bar_w, c.baseline() - c.y(n));
    }
    s += fmt::format("<g fill=\"{0}\" data-transport=\"{1}\" data-series=\"{3}\">{2}</g>", kTransportColor(t), esc(t), bars,
                     esc(run_label(runs[ri])));
    items.push_back({run_label(runs[ri]), kTransportColor(t)});
  }
  for (int b = 0; b <= kBins; b += kBins / 4)
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"axis\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3}\" class=\"tick xtick\">{4}</text>",
                     c.plot_left() + b * bin_w, c.baseline(), c.baseline() + 4, c.baseline() + 15, tick_label(top * b / kBins, Unit::us));
  s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"unit\" text-anchor=\"end\">&#181;s</text>", c.plot_right(), c.baseline() + 28);
  s += c.legend(items);
  return s + Chart::close();
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
  // A headless output is a virtual display: "showing" a buffer is keeping a
  // pointer to it, and nothing reads its pixels unless --verify asks. Only a
  // real display engine (kms) reads memory by DMA at every refresh.
  const bool virtual_display = r.value("output", "") != "kms";
  const std::string reads_client = virtual_display ? "the virtual display holds the client's buffer" : "scanout reads the client's buffer";
  const std::string reads_copy = virtual_display ? "the virtual display holds the compositor's copy" : "scanout reads the compositor's copy";
  const Mover display = virtual_display ? Mover::none : Mover::dma;
  const std::string base = fmt::format("/runs/{}", ri);
  const std::string bytes = svg_num(doc, base + "/frame_bytes", Unit::bytes);
  std::vector<Step> st;
  st.push_back({0, "render frame N", "the CPU writes " + bytes + " into " + (t == "socket" ? "private memory" : "a buffer it shares"),
                Mover::none});
  // On KMS the display half is ioctls on the DRM device: a framebuffer per
  // buffer (once), an atomic commit per frame, the flip event back.
  auto kms_steps = [&](const std::string& what) {
    if (virtual_display) return;
    const std::string oc = base + "/output_counters";
    auto count = [&](const char* k) {
      return doc.contains(json::json_pointer(oc + "/" + k)) ? svg_num(doc, oc + "/" + k) : std::string("?");
    };
    st.push_back({1, "framebuffer: PRIME import + ADDFB2",
                  "once per buffer, then reused: " + count("kms_fbs_created") + " framebuffers for " + what, Mover::handle});
    st.push_back({1, "atomic commit: plane FB_ID",
                  "TEST_ONLY " + count("kms_test_only") + "x, then NONBLOCK | PAGE_FLIP_EVENT: " + count("kms_commits") + " commits",
                  Mover::handle});
  };
  // Measured display timings: the traced frame's (--explain), else the
  // median latency from commit to on screen.
  const std::string dt = base + "/display_timings";
  const bool traced_flip = doc.contains(json::json_pointer(dt + "/commit_to_flip_us")) && r["display_timings"]["commit_to_flip_us"].is_number();
  const std::string flip_time =
      traced_flip ? "commit &#8594; " + std::string(virtual_display ? "virtual vblank " : "flip event ") + svg_num(doc, dt + "/commit_to_flip_us") + " &#181;s (traced frame)"
                  : (doc.contains(json::json_pointer(base + "/per_frame/latency_us/median"))
                         ? "commit &#8594; on screen " + svg_num(doc, base + "/per_frame/latency_us/median") + " &#181;s (median)"
                         : std::string());
  const bool traced_release = traced_flip && r["display_timings"]["flip_to_release_us"].is_number();
  const std::string release_time = traced_release ? "; flip &#8594; release " + svg_num(doc, dt + "/flip_to_release_us") + " &#181;s" : "";
  // The moment the display took the frame: the page-flip event (kms, read
  // from the DRM fd) or the virtual vblank (headless, a timerfd), with the
  // measured time from the commit.
  auto flip_step = [&](const std::string& timing) {
    if (timing.empty()) return;
    st.push_back(virtual_display ? Step{2, "virtual vblank (timerfd)", timing, Mover::none}
                                 : Step{1, "page-flip event: read() on the DRM fd", timing, Mover::handle});
  };
  if (t == "dmabuf") {
    st.push_back({1, "commit: sendmsg x" + calls(doc, ri, "client", "sendmsg"),
                  "attach + damage + commit: a few bytes; the fd crossed once, when the buffer was created", Mover::handle});
    st.push_back({2, "recvmsg x" + calls(doc, ri, "compositor", "recvmsg") + ", apply commit",
                  "hands the client's own buffer to the output: " + svg_num(doc, base + "/per_frame/cpu_copy_bytes/median", Unit::bytes) + " copied",
                  Mover::handle});
    kms_steps("the client's ring");
    st.push_back({3, reads_client, "ZERO_COPY feedback on " + svg_num(doc, base + "/frames_zero_copy") + " frames", display});
    flip_step(flip_time + release_time);
  } else if (t == "shm") {
    st.push_back({1, "commit: sendmsg x" + calls(doc, ri, "client", "sendmsg"), "attach of a wl_shm buffer (memfd pool)", Mover::handle});
    st.push_back({2, "memcpy into a scanout buffer", svg_num(doc, base + "/per_frame/cpu_copy_bytes/median", Unit::bytes) + " copied by the CPU",
                  Mover::cpu});
    kms_steps("the compositor's scanout buffers");
    st.push_back({3, reads_copy, "the client's buffer is released at once", display});
    flip_step(flip_time);
  } else {
    st.push_back({1, "write() x" + calls(doc, ri, "client", "write"),
                  svg_num(doc, base + "/chunk", Unit::bytes) + " each: the kernel copies them into the socket buffer", Mover::cpu});
    st.push_back({2, "read() x" + calls(doc, ri, "compositor", "read") + ", epoll_wait x" + calls(doc, ri, "compositor", "epoll_wait"),
                  "the kernel copies the socket buffer into the staging buffer", Mover::cpu});
    st.push_back({2, "memcpy staging -> scanout buffer", "third CPU copy of the frame", Mover::cpu});
    kms_steps("the compositor's scanout buffers");
    st.push_back({3, reads_copy, "the pixels crossed the CPU three times", display});
    flip_step(flip_time);
  }
  st.push_back({2, "presented + frame done" + std::string(t == "dmabuf" ? " + release" : ""),
                "sendmsg x" + calls(doc, ri, "compositor", "sendmsg") + " to the client", Mover::handle});
  st.push_back({0, "poll + recvmsg", "x" + calls(doc, ri, "client", "recvmsg") + " recvmsg: the next frame may start", Mover::handle});
  return st;
}

std::string journey(const json& doc, size_t ri) {
  const json& r = doc["runs"][ri];
  const std::string t = r["transport"].get<std::string>();
  // Two runs of one transport (--renderer cpu,gl) need ids of their own.
  std::string key = run_label(r);
  std::replace(key.begin(), key.end(), ' ', '-');
  const std::vector<Step> steps = journey_steps(doc, ri);
  const int lane_h = 84, left = 100, top = 10, box_w = 150, gap = 16;
  const int w = left + static_cast<int>(steps.size()) * (box_w + gap) + 10;
  const int h = top + 4 * lane_h + 46;
  static const char* kLanes[] = {"client", "kernel", "compositor", "display"};
  std::string s = fmt::format(
      "<figure class=\"journey\" id=\"journey-{3}\" data-transport=\"{4}\"><figcaption>{0}: the frame's path, with the "
      "counts this run measured per frame (medians).</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" "
      "viewBox=\"0 0 {1} {2}\" width=\"{1}\" height=\"{2}\" role=\"img\" aria-label=\"journey of one frame, {0}\">"
      "<title>journey of one frame: {0}</title>",
      esc(run_label(r)), w, h, esc(key), esc(t));
  for (int l = 0; l < 4; ++l) {
    s += fmt::format("<rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"lane{}\"/><text x=\"8\" y=\"{}\" class=\"lanelabel\">{}</text>",
                     top + l * lane_h, w, lane_h, l % 2, top + l * lane_h + lane_h / 2 + 4, kLanes[l]);
  }
  s += fmt::format("<defs><marker id=\"arrow-{}\" markerWidth=\"8\" markerHeight=\"8\" refX=\"7\" refY=\"4\" orient=\"auto\">"
                   "<path d=\"M0,0 L8,4 L0,8 z\" fill=\"#444\"/></marker></defs>", esc(key));
  int prev_x = -1, prev_y = -1;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& st = steps[i];
    const int x = left + static_cast<int>(i) * (box_w + gap);
    const int y = top + st.lane * lane_h + 6;
    if (prev_x >= 0)
      s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"flow\" marker-end=\"url(#arrow-{})\"/>", prev_x, prev_y, x,
                       y + (lane_h - 12) / 2, esc(key));
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
  const bool virtual_display = r.value("output", "") != "kms";
  // A virtual display reads no memory: no DMA entry in its legend.
  for (auto [m, label] : {std::pair{Mover::cpu, "CPU copies the pixels"},
                          std::pair{Mover::dma, virtual_display ? "" : "the display engine reads memory (DMA)"},
                          std::pair{Mover::handle, "only a handle / a few bytes"},
                          std::pair{Mover::none, virtual_display ? "drawing; a virtual display (reads nothing unless --verify)" : "drawing"}}) {
    if (*label == '\0') continue;
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
  out += "</figure>\n";
  return out;
}

// The overwrite experiment (zcpipe-demo --overwrite-proof), with the
// numbers from each run's overwrite_proof.
std::string overwrite_section(const json& doc) {
  const json& runs = doc["runs"];
  bool any = false;
  for (const auto& r : runs) any = any || r.contains("overwrite_proof");
  if (!any) return "";
  std::string h =
      "<section id=\"overwrite-proof\"><h2>An independent proof: the overwrite experiment</h2>"
      "<p>The copy counts above come from the ledger, which the programs keep about themselves: an unreported memcpy "
      "would pass them. This experiment trusts no count. After frame N is on screen, the client writes a marker naming "
      "N into frame N's own buffer; just before frame N+1 replaces it, the display looks at frame N once more. If the "
      "display reads the client's memory (zero-copy), it shows the marker; if the compositor copied the frame, the copy "
      "was taken before the marker was written and cannot show it. The client writes the marker before it commits "
      "frame N+1, and the last look happens at the flip that frame causes, so the look never runs ahead of the write."
      "</p><table><tr><th>transport</th><th>frames marked by the client</th><th>frames the display looked at</th>"
      "<th>marker seen on screen</th><th>zero-copy predicts</th><th>result</th></tr>";
  for (size_t i = 0; i < runs.size(); ++i) {
    const json& r = runs[i];
    if (!r.contains("overwrite_proof")) continue;
    const json& p = r["overwrite_proof"];
    const std::string base = fmt::format("/runs/{}/overwrite_proof", i);
    h += "<tr><td>" + esc(run_label(r)) + "</td><td>" + num(doc, base + "/frames_marked") + "</td>";
    if (p["witness"].is_null()) {
      h += "<td colspan=\"4\">no witness on this output (kms: the VM's screendump is the witness)</td></tr>";
      continue;
    }
    const bool ok = p["as_expected"].is_boolean() && p["as_expected"].get<bool>();
    h += "<td>" + num(doc, base + "/frames") + "</td><td>" + num(doc, base + "/marker_seen_frames") + "</td><td>" +
         esc(p["expected"].get<std::string>()) + "</td>" +
         (ok ? std::string("<td class=\"ok\">") +
                   (p["expected"] == "seen" ? "the display reads the client's own memory" : "the display shows a copy")
             : std::string("<td class=\"bad\">NOT as predicted")) +
         "</td></tr>";
  }
  h += "</table></section>\n";
  return h;
}

// ------------------------------------------------- cost against frame size
// zcpipe-demo --sizes: what a frame costs against how big it is, one line per
// transport. The x axis is the frame's size in bytes (from zero, so a line
// through the points shows cost proportional to bytes as a straight line
// from the origin); each point is also named by its resolution.
std::string size_chart(const json& doc, const std::string& id, const std::string& caption, const std::string& axis_label,
                       const char* key, Unit unit) {
  const json& pts = doc["sizes"]["points"];
  double maxv = 0, maxx = 1;
  for (const auto& p : pts) {
    maxx = std::max(maxx, p["frame_bytes"].get<double>());
    for (const auto& r : p["runs"]) maxv = std::max(maxv, r[key].get<double>());
  }
  const Chart c(id, caption, axis_label, unit, maxv, 60);
  std::string s = c.open();
  const double xstep = tick_step(maxx, Unit::bytes, 5);
  const double xmax = std::max(xstep, std::ceil(maxx / xstep - 1e-9) * xstep);
  const double span = c.plot_right() - c.plot_left() - 10;
  auto x_of = [&](double bytes) { return c.plot_left() + span * bytes / xmax; };
  for (double b = 0; b <= xmax + xstep * 1e-6; b += xstep)
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"axis\"/>"
                     "<text x=\"{0:.1f}\" y=\"{3}\" class=\"tick xtick\" data-xtick=\"{4}\">{5}</text>",
                     x_of(b), c.baseline(), c.baseline() + 4, c.baseline() + 15, b, tick_label(b, Unit::bytes));
  s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"unit\" text-anchor=\"end\">frame size (bytes per frame)</text>", c.plot_right(),
                   c.baseline() + 28);
  // Each size: a faint guide with its resolution written along it.
  for (const auto& p : pts) {
    const double x = x_of(p["frame_bytes"].get<double>());
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"grid\"/>"
                     "<text x=\"{3:.1f}\" y=\"{4}\" class=\"tick sizelabel\" transform=\"rotate(-90 {3:.1f} {4})\">{5}x{6}</text>",
                     x, Chart::kTop, c.baseline(), x - 3, Chart::kTop + 2, p["width"].get<uint32_t>(), p["height"].get<uint32_t>());
  }
  std::vector<Legend> items;
  for (const char* t : {"dmabuf", "shm", "socket"}) {
    std::string line, dots;
    for (size_t i = 0; i < pts.size(); ++i) {
      const json& runs = pts[i]["runs"];
      for (size_t j = 0; j < runs.size(); ++j) {
        if (runs[j]["transport"] != t) continue;
        const std::string path = fmt::format("/sizes/points/{}/runs/{}/{}", i, j, key);
        const double v = runs[j][key].get<double>();
        const double x = x_of(pts[i]["frame_bytes"].get<double>()), y = c.y(v);
        line += fmt::format("{:.1f},{:.1f} ", x, y);
        // Self-closing, so the number's provenance rides on the mark itself
        // (the table under the charts shows the same values in words).
        dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\" data-series=\"{}\" data-json=\"{}\" "
                            "data-value=\"{}\"/>",
                            x, y, kTransportColor(t), t, path, fmt::format("{}", v));
      }
    }
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" data-series=\"{}\"/>", line,
                     kTransportColor(t), t) +
         dots;
    items.push_back({t, kTransportColor(t)});
  }
  s += c.legend(items);
  return s + Chart::close();
}

std::string sizes_section(const json& doc) {
  if (!doc.contains("sizes")) return "";
  const json& sz = doc["sizes"];
  std::string h =
      "<section id=\"sizes\"><h2>Cost against frame size</h2><p>The point of the whole project in two pictures. Each "
      "transport ran again at each size: " + num(doc, "/sizes/frames") + " frames, the first " + num(doc, "/sizes/warmup") +
      " left out as warm-up, on a headless display, unpaced, with nothing drawn and nothing checksummed (drawing and "
      "<code>--verify</code> touch every pixel whichever the transport, and would hide the difference under a cost that grows "
      "for all three). What is left is what delivering a frame costs. Passing the buffer's handle (<b>dmabuf</b>) costs the same "
      "whatever the frame's size: the line stays flat at the bottom. Copying (<b>shm</b> once, <b>socket</b> three times, in "
      "64 KiB pieces through the kernel) costs in proportion to the bytes: its line climbs with the frame.</p>"
      "<div class=\"charts\">\n";
  h += size_chart(doc, "chart-size-cpu", "CPU time per frame against frame size (&#181;s, median, both processes)", "\xc2\xb5s",
                  "cpu_us", Unit::us);
  h += size_chart(doc, "chart-size-bytes", "Bytes copied by the CPU per frame against frame size", "bytes", "cpu_copy_bytes",
                  Unit::bytes);
  h += "</div><table><tr><th rowspan=\"2\">size</th><th rowspan=\"2\">frame</th>";
  for (const char* t : {"dmabuf", "shm", "socket"}) h += std::string("<th colspan=\"2\">") + t + "</th>";
  h += "</tr><tr>";
  for (int i = 0; i < 3; ++i) h += "<th>CPU time per frame (&#181;s)</th><th>bytes copied per frame</th>";
  h += "</tr>";
  for (size_t i = 0; i < sz["points"].size(); ++i) {
    const json& p = sz["points"][i];
    h += fmt::format("<tr><td>{}x{}</td><td>{}</td>", p["width"].get<uint32_t>(), p["height"].get<uint32_t>(),
                     num(doc, fmt::format("/sizes/points/{}/frame_bytes", i), Unit::bytes));
    for (size_t j = 0; j < p["runs"].size(); ++j)
      h += "<td>" + num(doc, fmt::format("/sizes/points/{}/runs/{}/cpu_us", i, j)) + "</td><td>" +
           num(doc, fmt::format("/sizes/points/{}/runs/{}/cpu_copy_bytes", i, j), Unit::bytes) + "</td>";
    h += "</tr>";
  }
  return h + "</table></section>\n";
}

// ------------------------------------------------------------- copybench
// zcpipe-copybench's table (its --json, run by the demo), with headers in
// words: the terminal table's abbreviations (article/call*k, vol+inv,
// syscr/w, 0/?) are spelled out here, one column at a time.
std::string copybench_section(const json& doc) {
  if (!doc.contains("copybench")) return "";
  const json& cb = doc["copybench"];
  const std::string base = "/copybench";
  std::string h =
      "<section id=\"copybench\"><h2>The articles' file &#8594; socket techniques, measured (zcpipe-copybench)</h2>"
      "<p>The classic zero-copy articles compare ways of sending a file to a socket. zcpipe-copybench does each of them on "
      "this machine with one 4K frame's worth of bytes: " + num(doc, base + "/bytes", Unit::bytes) +
      " from a file already in the page cache into a UNIX stream socket, " + num(doc, base + "/chunk", Unit::bytes) +
      " per call, so " + num(doc, base + "/chunks") + " calls per transfer; every figure is the median of " +
      num(doc, base + "/repeats") + " transfers. The <i>sender</i> is the benchmark's sending thread; the <i>receiver</i> is "
      "a separate process that read()s every transfer into a frame-sized buffer. Produced by <code>zcpipe-copybench --repeats " +
      esc(std::to_string(cb.value("repeats", 0))) + " --json FILE</code>; docs/copybench.md explains each technique.</p>";
  // Two tables, so that neither is wider than a page: what each technique
  // costs (calls, switches, copies), then what the kernel's counters and the
  // clock saw.
  h += "<table class=\"copybench\" id=\"copybench-costs\"><caption>What one transfer costs</caption><tr><th rowspan=\"2\">technique</th>"
       "<th colspan=\"2\">system calls</th>"
       "<th colspan=\"3\">user&#8596;kernel mode switches (what the articles call context switches)</th>"
       "<th rowspan=\"2\">scheduler context switches of the sender: voluntary + involuntary</th>"
       "<th colspan=\"3\">CPU copies of each byte</th></tr><tr>"
       "<th>predicted by the model</th><th>measured</th>"
       "<th>the article's claim: per call &#215; calls</th><th>predicted by the model</th><th>measured</th>"
       "<th>the article: copies by the CPU, of all copies (DMA included)</th><th>the model: by the sender + by the receiver</th>"
       "<th>the probe: shared page or copy?</th></tr>";
  std::string counters =
      "<table class=\"copybench\" id=\"copybench-counters\"><caption>What the kernel's counters and the clock saw</caption>"
      "<tr><th rowspan=\"2\">technique</th>"
      "<th colspan=\"4\">the sender's /proc/self/io (bytes handed to read/write calls, not copies)</th>"
      "<th colspan=\"3\">time per transfer (&#181;s)</th>"
      "<th colspan=\"3\">the receiving process</th></tr><tr>"
      "<th>bytes read (rchar)</th><th>bytes written (wchar)</th><th>read calls (syscr)</th><th>write calls (syscw)</th>"
      "<th>sender, wall clock</th><th>end to end</th><th>sender's CPU</th>"
      "<th>read() calls</th><th>context switches</th><th>CPU (&#181;s)</th></tr>";
  const json& ts = cb["techniques"];
  for (size_t i = 0; i < ts.size(); ++i) {
    const json& t = ts[i];
    const std::string tp = fmt::format("{}/techniques/{}", base, i);
    const std::string s = tp + "/measured/sender", r = tp + "/measured/receiver";
    const json& a = t["article"];
    const json& pc = a["per_call"];
    // The article's mode switches: per call x calls, or what it does not say.
    std::string art_switches = "not stated";
    if (!a["scaled"]["mode_switches"].is_null())
      art_switches = num(doc, tp + "/article/per_call/mode_switches") + " &#215; " + num(doc, tp + "/article/scaled/calls") +
                     " = " + num(doc, tp + "/article/scaled/mode_switches");
    // The article's copies: "2 of 4" (2 by the CPU of 4 in all); where it
    // gives no total, it says so (the terminal table's "0/?").
    std::string art_copies =
        (pc["cpu_copies"].is_null() ? std::string("not stated") : num(doc, tp + "/article/per_call/cpu_copies")) + " of " +
        (pc["copies"].is_null() ? std::string("a total it does not state") : num(doc, tp + "/article/per_call/copies"));
    if (a.contains("with_sg_dma")) art_copies += "; with scatter-gather DMA 0 of 2";
    std::string probe = "not probed";
    if (!t["probe"].is_null())
      probe = t["probe"].value("shared", false) ? "shared: 0 copies into the socket" : "copied when sent";
    const std::string name = "<td>" + esc(t["name"].get<std::string>()) + "</td>";
    h += "<tr>" + name + "<td>" + num(doc, tp + "/model/syscalls/total") + "</td><td>" + num(doc, s + "/syscalls/total") +
         "</td><td>" + art_switches + "</td><td>" + num(doc, tp + "/model/mode_switches") + "</td><td>" +
         num(doc, s + "/mode_switches") + "</td><td>" + num(doc, s + "/voluntary_cs") + " + " + num(doc, s + "/involuntary_cs") +
         "</td><td>" + art_copies + "</td><td>" + num(doc, tp + "/model/sender_cpu_copies") + " + " +
         num(doc, tp + "/model/receiver_cpu_copies") + "</td><td>" + probe + "</td></tr>";
    h += "<tr class=\"note\"><td></td><td colspan=\"9\" class=\"why\">" + esc(t["summary"].get<std::string>()) + ". " +
         esc(t["notes"].get<std::string>()) + "</td></tr>";
    counters += "<tr>" + name + "<td>" + num(doc, s + "/rchar", Unit::bytes) + "</td><td>" + num(doc, s + "/wchar", Unit::bytes) +
                "</td><td>" + num(doc, s + "/syscr") + "</td><td>" + num(doc, s + "/syscw") + "</td><td>" +
                num(doc, s + "/time_us") + "</td><td>" + num(doc, tp + "/measured/end_to_end_us") + "</td><td>" +
                num(doc, s + "/cpu_us") + "</td><td>" + num(doc, r + "/syscalls/by_call/read") + "</td><td>" +
                num(doc, r + "/context_switches") + "</td><td>" + num(doc, r + "/cpu_us") + "</td></tr>";
  }
  h += "</table>" + counters;
  h += "</table>";
  h += "<p><b>How to read it.</b> A <i>mode switch</i> is the CPU entering the kernel or leaving it: every system call is two, "
       "and that is what the articles call a &#8220;context switch&#8221;; the article's figure is its count for one call times "
       "the calls a frame needs. A <i>scheduler context switch</i> is the kernel giving the CPU to another thread: "
       "<i>voluntary</i> when the sender blocks because the socket's buffer is full, <i>involuntary</i> when it is preempted; it "
       "follows how often the buffer fills, not the number of calls. The articles count copies in a world of disks, TCP and "
       "network cards: &#8220;2 of 4&#8221; is 2 copies by the CPU out of 4 in all (the other 2 by DMA). For splice and vmsplice "
       "they give no total: &#8220;0 of a total it does not state&#8221; (the terminal table writes it <code>0/?</code>). "
       "Here the file is already in memory and a UNIX socket has no network card, so the model counts CPU copies only, by the "
       "sender and by the receiver, whose read() always copies once; the probe changes a page after sending it and looks "
       "whether the receiver sees the change, which tells a page shared by reference from a copy. /proc/self/io counts bytes "
       "handed to read- and write-family calls, not copies: sendfile counts as both, splice as neither. Times vary from run to "
       "run on a shared machine: compare the counts, read the times as indications.</p></section>\n";
  return h;
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
.glabel{font-size:12px;text-anchor:middle;fill:#222}.axis{stroke:#888}.grid{stroke:#eee}.unit,.legend{font-size:11px;fill:#555}
.tick{font-size:10px;fill:#555;text-anchor:end}.sizelabel{paint-order:stroke;stroke:#fff;stroke-width:3px}.xtick{text-anchor:middle}.warmup{fill:#f2f2f2}
figcaption{font-size:.9em;font-weight:bold;margin:.2em 0 .3em}.chart figcaption{max-width:560px}
figcaption small{font-weight:normal;color:#555}
.why{color:#555;font-size:.9em;text-align:left}
.copybench th{font-size:.85em;font-weight:normal;vertical-align:bottom;max-width:11em}.copybench td{font-size:.9em}
.copybench caption{font-weight:bold;text-align:left;margin-bottom:.3em}.copybench th[colspan]{text-align:center}.ok{color:#1b7a2e}.bad{color:#b00020;font-weight:bold}
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
    fact("frame", fmt::format("{}x{} {}, {}", r0.value("width", 0), r0.value("height", 0), esc(r0.value("format", "")), num(doc, "/runs/0/frame_bytes", Unit::bytes)));
  }
  for (size_t i = 0; i < runs.size(); ++i)
    fact("buffers (" + run_label(runs[i]) + ")", esc(runs[i].value("allocator_description", "")));
  h += "</table></section>\n";

  // At a glance.
  h += "<section id=\"summary\"><h2>At a glance</h2><table><tr><th>per frame (median unless marked)</th>";
  for (const auto& r : runs) h += "<th>" + esc(run_label(r)) + "</th>";
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
      const Unit u = std::string(key) == "cpu_copy_bytes" ? Unit::bytes : Unit::count;
      h += "<td>" + (doc.contains(json::json_pointer(p)) ? num(doc, p, u) : std::string("&#8211;")) + "</td>";
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
       "Colour says who moves the bytes at each step.";
  if (!runs.empty() && runs[0].value("output", "") != "kms")
    h += " This run's display is <b>headless</b>: a virtual display that shows a buffer by keeping a pointer to it and reads "
         "no pixels unless <code>--verify</code> asks (then once per frame, for a checksum, as a display CRC would).";
  h += "</p>\n";
  for (size_t i = 0; i < runs.size(); ++i) h += journey(doc, i);
  h += "</section>\n";

  // Charts.
  auto groups_for = [&](std::vector<std::pair<std::string, std::string>> series_keys) {
    std::vector<Group> g;
    for (size_t i = 0; i < runs.size(); ++i) {
      Group grp{run_label(runs[i]), {}};
      for (const auto& [key, label] : series_keys) {
        const std::string p = fmt::format("/runs/{}/per_frame/{}/median", i, key);
        if (doc.contains(json::json_pointer(p))) grp.bars.push_back({p, label});
      }
      g.push_back(grp);
    }
    return g;
  };
  h += "<section id=\"charts\"><h2>Costs side by side</h2><div class=\"charts\">\n";
  h += bar_chart(doc, "chart-copies", "CPU copies per frame", "copies", Unit::count, groups_for({{"cpu_copies", "copies"}}), {"copies"});
  h += bar_chart(doc, "chart-copy-bytes", "Bytes copied by the CPU per frame", "bytes", Unit::bytes, groups_for({{"cpu_copy_bytes", "bytes"}}), {"bytes"});
  h += bar_chart(doc, "chart-syscalls", "Syscalls per frame", "calls", Unit::count,
                 groups_for({{"client_syscalls", "client"}, {"compositor_syscalls", "compositor"}}), {"client", "compositor"});
  h += bar_chart(doc, "chart-mode-switches", "User\u2194kernel mode switches per frame", "switches", Unit::count,
                 groups_for({{"client_mode_switches", "client"}, {"compositor_mode_switches", "compositor"}}), {"client", "compositor"});
  h += bar_chart(doc, "chart-context-switches", "Scheduler context switches per frame", "switches", Unit::count,
                 groups_for({{"client_context_switches", "client"}, {"compositor_context_switches", "compositor"}}), {"client", "compositor"});
  h += bar_chart(doc, "chart-cpu", "CPU time per frame, median (\u00b5s)", "\u00b5s", Unit::us,
                 groups_for({{"client_cpu_us", "client"}, {"compositor_cpu_us", "compositor"}}), {"client", "compositor"});
  {
    std::vector<Group> g;
    for (size_t i = 0; i < runs.size(); ++i) g.push_back({run_label(runs[i]), {{fmt::format("/runs/{}/fps", i), "fps"}}});
    h += bar_chart(doc, "chart-fps", "Frames per second", "fps", Unit::count, g, {"fps"});
  }
  // zcpipe-demo --hops: what the frame has cost so far after each process
  // of the chain (docs/hops.md): flat for a handle, a step per hop for a copy.
  if (!runs.empty() && runs[0].contains("per_hop")) {
    std::vector<Group> g;
    std::vector<std::string> series;
    for (size_t i = 0; i < runs.size(); ++i) {
      Group grp{run_label(runs[i]), {}};
      for (size_t k = 0; k < runs[i]["per_hop"].size(); ++k) {
        const std::string label = k == 0 ? std::string("client") : fmt::format("after hop {}", k);
        grp.bars.push_back({fmt::format("/runs/{}/per_hop/{}/cumulative_cpu_copy_bytes", i, k), label});
        if (i == 0) series.push_back(label);
      }
      g.push_back(grp);
    }
    h += bar_chart(doc, "chart-hops", "Bytes copied by the CPU per frame, from the client to each hop (cumulative)", "bytes", Unit::bytes, g,
                   series);
  }
  h += latency_series(doc, "chart-latency-series");
  h += latency_histogram(doc, "chart-latency-hist");
  h += "</div></section>\n";

  h += overwrite_section(doc);
  h += sizes_section(doc);

  // Model, with the articles it comes from.
  if (doc.contains("model_vs_measured")) {
    const json& m = doc["model_vs_measured"];
    const std::string mp = "/model_vs_measured";
    h += "<section id=\"model\"><h2>The classic articles' model vs this run</h2>";
    h += "<p>zcpipe measures the claims of two families of articles. The classic Chinese zero-copy write-ups "
         "(零拷贝, <i>líng kǎobèi</i>, &#8220;zero copy&#8221;) count what one file costs on its way to a socket: <b>read()+write()</b> "
         "4 user&#8596;kernel switches and 4 copies (2 by DMA, 2 by the CPU); <b>mmap()+write()</b> 4 switches, 3 copies "
         "(1 by the CPU); <b>sendfile()</b> 2 switches, 3 copies; <b>sendfile() with scatter-gather DMA (SG-DMA)</b> 2 switches, "
         "2 copies, none by the CPU; <b>splice()</b> through a pipe, no CPU copy. The Russian article "
         "<i>«Zero-copy: ликбез»</i> (Habr, &#8220;a primer&#8221;) carries the idea to graphics: one 4K "
         "frame at 24 bits per pixel (" + num(doc, mp + "/articles/frame_bytes", Unit::bytes) + ") through UNIX sockets "
         "that move at most 64 KB per transfer takes at least " + num(doc, mp + "/articles/transfers") + " transfers and "
         "&#8220;at least " + num(doc, mp + "/articles/context_switches") + " context switches&#8221; per hop. The "
         "socket transport is that hop, measured; docs/articles.md quotes the claims and says where each is measured.</p>";
    h += "<p>This run's frame is " + num(doc, mp + "/frame_bytes", Unit::bytes) + " at " + num(doc, mp + "/bytes_per_pixel") +
         " bytes per pixel, through a UNIX socket in " + num(doc, mp + "/chunk", Unit::bytes) + " transfers: " +
         num(doc, mp + "/chunks_per_frame") + " transfers. ";
    if (m.value("chunks_per_frame", uint64_t{0}) != m["articles"].value("transfers", uint64_t{0}))
      h += "The articles' frame packs a pixel into 3 bytes; XRGB8888, the format displays scan out, spends 4 (the X byte is "
           "padding that keeps every pixel aligned), so a 4K XRGB8888 frame is 507 transfers, not 380. "
           "<code>zcpipe-demo --format RGB888 --size 3840x2160</code> sends the articles' frame and reproduces their 380 "
           "transfers and 1140 switches exactly. ";
    h += "The articles' &#8220;3 context switches per transfer&#8221; are user&#8596;kernel <i>mode</i> switches, not the "
         "scheduler's: zcpipe counts 2 per syscall (into the kernel and back), so one transfer, a write() and a read(), is "
         "4 (the row &#8220;mode switches of write() + read() alone&#8221;). The scheduler's context switches are counted "
         "apart and are far fewer.</p>";
    h += "<table><tr><th>quantity</th><th>model</th><th>measured</th><th>why they differ</th></tr>";
    for (size_t i = 0; i < m["rows"].size(); ++i) {
      const json& r = m["rows"][i];
      h += "<tr><td>" + esc(r["quantity"].get<std::string>()) + "</td><td>" + num(doc, fmt::format("{}/rows/{}/model", mp, i)) +
           "</td><td>" + num(doc, fmt::format("{}/rows/{}/measured", mp, i)) + "</td><td class=\"why\">" +
           esc(r["why"].get<std::string>()) + "</td></tr>";
    }
    h += "</table></section>\n";
  }
  h += copybench_section(doc);
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
