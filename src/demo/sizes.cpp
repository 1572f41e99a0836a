#include "demo/sizes.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "stats/format.h"

namespace zc::demo {
using nlohmann::json;

namespace {

// Few frames are enough: with nothing drawn and nothing verified, a frame's
// cost hardly varies once its pages are in (the first frames fault them in
// and are left out as warm-up). An 8K frame is 132 MB per buffer; 10 frames
// of all three transports at 8K take about 1.5 s on the build machines.
constexpr uint64_t kFrames = 10;
constexpr uint32_t kWarmup = 2;

const char* const kTransports[] = {"dmabuf", "shm", "socket"};

}  // namespace

Result<std::vector<std::pair<uint32_t, uint32_t>>> parse_sizes(const std::string& list) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  std::set<std::pair<uint32_t, uint32_t>> seen;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    unsigned long w = 0, h = 0;
    char x = 0, extra = 0;
    if (std::sscanf(item.c_str(), "%lu%c%lu%c", &w, &x, &h, &extra) != 3 || x != 'x' || w < 16 || h < 16 || w > 16384 ||
        h > 16384)
      return Error{EINVAL, fmt::format("'{}' is not a size WIDTHxHEIGHT from 16x16 to 16384x16384", item)};
    if (!seen.insert({w, h}).second) return Error{EINVAL, fmt::format("{} is listed twice", item)};
    out.emplace_back(static_cast<uint32_t>(w), static_cast<uint32_t>(h));
    start = end + 1;
  }
  if (out.size() > 8) return Error{EINVAL, fmt::format("{} sizes: at most 8", out.size())};
  return out;
}

Result<json> run_sizes(const RunOptions& base, const std::vector<std::pair<uint32_t, uint32_t>>& sizes) {
  // What is measured is delivery alone: drawing a frame (--render full) and
  // checksumming what is shown (--verify) both touch every pixel in every
  // transport, dmabuf included, and would hide the difference the chart is
  // about under a cost that grows with the frame for all three. Headless and
  // unpaced, so no display mode limits the size and no vblank wait is timed.
  RunOptions o = base;
  o.output = "headless";
  o.device.clear();
  o.refresh = 0;
  o.frames = kFrames;
  o.warmup = kWarmup;
  o.render = "none";
  o.renderer = "cpu";
  o.verify = false;
  o.overwrite_proof = false;
  o.trace_frame = -1;
  o.progress = false;
  o.hops = 1;
  o.ledger = true;
  json doc = {{"frames", kFrames},    {"warmup", kWarmup}, {"output", "headless"}, {"refresh_hz", 0},
              {"render", "none"},     {"verify", false},   {"format", o.format},   {"points", json::array()}};
  for (const auto& [w, h] : sizes) {
    o.width = w;
    o.height = h;
    json point = {{"width", w}, {"height", h}, {"runs", json::array()}};
    for (const char* t : kTransports) {
      o.transport = t;
      auto run = run_pipeline(o);
      if (!run) return Error{run.error().code, fmt::format("--sizes {}x{} {}: {}", w, h, t, run.error().what)};
      const json& r = *run;
      if (!r["checks"].value("passed", false))
        return Error{EIO, fmt::format("--sizes {}x{} {}: the run's checks failed", w, h, t)};
      point["frame_bytes"] = r["frame_bytes"];
      const json& pf = r["per_frame"];
      point["runs"].push_back({{"transport", t},
                               {"frames_measured", pf["total_cpu_us"]["n"]},
                               {"cpu_us", pf["total_cpu_us"]["median"]},
                               {"client_cpu_us", pf["client_cpu_us"]["median"]},
                               {"compositor_cpu_us", pf["compositor_cpu_us"]["median"]},
                               {"cpu_copies", pf["cpu_copies"]["median"]},
                               {"cpu_copy_bytes", pf["cpu_copy_bytes"]["median"]},
                               {"syscalls", pf["total_syscalls"]["median"]}});
    }
    doc["points"].push_back(std::move(point));
  }
  return doc;
}

std::string format_sizes(const json& sizes) {
  std::string out = fmt::format(
      "cost per frame against frame size (headless, unpaced, nothing drawn, no --verify; medians of frames {}..{}):\n",
      sizes["warmup"].get<uint64_t>(), sizes["frames"].get<uint64_t>() - 1);
  out += fmt::format("  {:<11} {:>13}", "size", "frame bytes");
  for (const char* t : kTransports) out += fmt::format(" {:>14} {:>14}", std::string(t) + " CPU us", std::string(t) + " copied");
  out += "\n";
  for (const json& p : sizes["points"]) {
    out += fmt::format("  {:<11} {:>13}", fmt::format("{}x{}", p["width"].get<uint32_t>(), p["height"].get<uint32_t>()),
                       stats::format_count(p["frame_bytes"].get<double>()));
    for (const json& r : p["runs"])
      out += fmt::format(" {:>14} {:>14}", stats::format_count(r["cpu_us"].get<double>()),
                         stats::format_count(r["cpu_copy_bytes"].get<double>()));
    out += "\n";
  }
  return out;
}

}  // namespace zc::demo
