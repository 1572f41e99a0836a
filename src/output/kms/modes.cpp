#include "output/kms/modes.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace zc::output::kms {

std::optional<ModeRequest> parse_mode_request(const std::string& text) {
  unsigned w = 0, h = 0;
  char x = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%u%c%u%n", &w, &x, &h, &consumed) != 3 || (x != 'x' && x != 'X') || w == 0 ||
      h == 0 || w > 16384 || h > 16384)
    return std::nullopt;
  ModeRequest r{w, h, std::nullopt};
  const std::string rest = text.substr(static_cast<size_t>(consumed));
  if (rest.empty()) return r;
  double hz = 0;
  int n = 0;
  if (rest[0] != '@' || std::sscanf(rest.c_str() + 1, "%lf%n", &hz, &n) != 1 ||
      static_cast<size_t>(n) + 1 != rest.size() || !(hz > 0) || hz > 1000)
    return std::nullopt;
  r.hz = hz;
  return r;
}

uint32_t refresh_mhz(const drmModeModeInfo& m) {
  if (m.htotal == 0 || m.vtotal == 0) return m.vrefresh * 1000;
  // clock is in kHz: pixels per second / pixels per frame = frames per second.
  uint64_t mhz = (uint64_t{m.clock} * 1'000'000ull / m.htotal + m.vtotal / 2) / m.vtotal;
  if ((m.flags & DRM_MODE_FLAG_INTERLACE) != 0) mhz *= 2;
  if ((m.flags & DRM_MODE_FLAG_DBLSCAN) != 0) mhz /= 2;
  if (m.vscan > 1) mhz /= m.vscan;
  return static_cast<uint32_t>(mhz);
}

std::string mode_name(const drmModeModeInfo& m) {
  return fmt::format("{}x{}@{:.2f}", m.hdisplay, m.vdisplay, refresh_mhz(m) / 1000.0);
}

Result<drmModeModeInfo> pick_mode(const std::vector<drmModeModeInfo>& modes, const std::string& request,
                                  const std::string& connector) {
  if (modes.empty()) return Error{0, fmt::format("connector {} offers no modes", connector)};
  auto preferred = [](const drmModeModeInfo& m) { return (m.type & DRM_MODE_TYPE_PREFERRED) != 0; };
  if (request.empty()) {
    for (const auto& m : modes)
      if (preferred(m)) return m;
    return modes.front();  // no preferred mode: the driver lists the best first
  }
  const auto want = parse_mode_request(request);
  if (!want) return Error{0, fmt::format("--mode '{}': expected WIDTHxHEIGHT or WIDTHxHEIGHT@HZ, e.g. 3840x2160@60", request)};
  const drmModeModeInfo* best = nullptr;
  for (const auto& m : modes) {
    if (m.hdisplay != want->width || m.vdisplay != want->height) continue;
    if (want->hz && std::fabs(refresh_mhz(m) / 1000.0 - *want->hz) > 0.5) continue;
    if (best == nullptr || (preferred(m) && !preferred(*best))) best = &m;
  }
  if (best != nullptr) return *best;
  std::string offered;
  std::vector<std::string> seen;
  for (const auto& m : modes) {
    std::string n = mode_name(m);
    if (std::find(seen.begin(), seen.end(), n) != seen.end()) continue;
    seen.push_back(n);
    if (seen.size() > 12) {
      offered += ", …";
      break;
    }
    offered += (offered.empty() ? "" : ", ") + n;
  }
  return Error{0, fmt::format("mode {} is not offered by connector {} (it offers: {})", request, connector, offered)};
}

}  // namespace zc::output::kms
