#include "probe/report.h"

#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "common/format.h"

namespace zc::probe {
namespace {

const char* yes_no(bool b) { return b ? "yes" : "no"; }

std::string mode_text(const Mode& m) {
  return fmt::format("{}x{}@{}{}", m.width, m.height, m.refresh, m.preferred ? " (preferred)" : "");
}

std::string list(const std::vector<uint32_t>& v) {
  std::string s;
  for (uint32_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return "{" + s + "}";
}

bool has_format(const Plane& p, uint32_t fourcc) {
  return std::find(p.formats.begin(), p.formats.end(), fourcc) != p.formats.end();
}

// One capability line: name, answer, and what the answer means.
void cap(std::string& out, const char* name, bool value, const char* if_yes, const char* if_no) {
  out += fmt::format("  {:<18} {:<3} — {}\n", name, yes_no(value), value ? if_yes : if_no);
}

}  // namespace

void add_warnings(DeviceReport& r) {
  auto& w = r.warnings;
  const bool card = r.node_type == "primary";
  if (!card) {
    w.push_back("this is a " + r.node_type +
                " node: no modesetting and no dumb buffers here; the compositor needs /dev/dri/cardN");
  } else if (!r.master) {
    w.push_back(
        "not DRM master: another process (a compositor or display manager) drives this device; "
        "zcpipe-compositor cannot set modes until it stops (or run it from a free VT)");
  }
  if (card && !r.kms)
    w.push_back("no modesetting on this device (a GPU without display, or vgem): it can allocate and share "
                "buffers but not show them; the compositor needs a card node with connectors");
  if (r.kms && !r.caps.atomic)
    w.push_back("no atomic modesetting: only legacy drmModeSetCrtc/drmModePageFlip can drive the display");
  if (!r.caps.prime_export || !r.caps.prime_import)
    w.push_back("PRIME import/export incomplete: dma-buf fds cannot carry buffers between the client and "
                "the compositor on this device, so there is no zero-copy path");
  if (r.kms && !r.caps.addfb2_modifiers)
    w.push_back(
        "no ADDFB2_MODIFIERS: framebuffers must be added without DRM_MODE_FB_MODIFIERS (implicit layout, "
        "LINEAR here); compositors that require explicit modifiers for scanout (e.g. Weston 10) will "
        "composite every client frame instead");
  if (r.vblank.supported.has_value() && !*r.vblank.supported)
    w.push_back(
        "no vblank interrupts (drmWaitVBlank: " + std::string(std::strerror(r.vblank.error)) +
        "): page-flip events come when the display has taken the frame, not at a real refresh; "
        "their timestamps are not vblank times");
  if (r.kms) {
    const bool connected = std::any_of(r.connectors.begin(), r.connectors.end(),
                                       [](const Connector& c) { return c.status == "connected"; });
    const bool has_4k = std::any_of(r.connectors.begin(), r.connectors.end(), [](const Connector& c) {
      return c.status == "connected" && std::any_of(c.modes.begin(), c.modes.end(), [](const Mode& m) {
               return m.width == 3840 && m.height == 2160;
             });
    });
    if (!connected)
      w.push_back("no connector is connected: there is no display to show frames on");
    else if (!has_4k)
      w.push_back("no connected display offers 3840x2160: the demo's 4K frames do not match any mode");
    const bool xrgb_primary = std::any_of(r.planes.begin(), r.planes.end(), [](const Plane& p) {
      return p.type == "primary" && has_format(p, DRM_FORMAT_XRGB8888);
    });
    if (!xrgb_primary) w.push_back("no primary plane accepts XRGB8888, the format zcpipe renders");
  }
  if (r.gbm.device && !r.gbm.error.empty()) w.push_back("GBM: " + r.gbm.error);
  if (r.gbm.get_fd_readonly.value_or(false))
    w.push_back(
        "gbm_bo_get_fd() returns a read-only (O_RDONLY) dma-buf here (Mesa 22.3): mmap(PROT_WRITE) on it "
        "fails" +
        std::string(r.gbm.get_fd_mmap_errno ? std::string(" with ") + strerrorname_np(*r.gbm.get_fd_mmap_errno)
                                            : "") +
        ", and since the first export fixes the mode, export with drmPrimeHandleToFD(fd, handle, "
        "DRM_CLOEXEC | DRM_RDWR) before any gbm_bo_get_fd() call");
}

std::string to_text(const DeviceReport& r) {
  std::string o;
  o += fmt::format("{}: {} {} ({}), {} node, DRM master: {}\n", r.path, r.driver, r.driver_version,
                   r.driver_description, r.node_type, yes_no(r.master));
  if (!r.kms)
    o += fmt::format("  no KMS: drmModeGetResources: {} — no connectors, CRTCs or planes to drive a display\n",
                     std::strerror(r.kms_error));

  const Caps& c = r.caps;
  o += "\ncapabilities\n";
  cap(o, "atomic", c.atomic, "one ioctl sets planes, CRTCs and connectors together, all or nothing (TEST_ONLY too)",
      "only the legacy SetCrtc/PageFlip ioctls");
  cap(o, "universal planes", c.universal_planes, "primary and cursor planes are visible as planes",
      "only overlay planes are listed");
  cap(o, "PRIME export", c.prime_export, "a GEM buffer can leave the driver as a dma-buf fd",
      "buffers cannot be shared as dma-buf fds");
  cap(o, "PRIME import", c.prime_import, "a dma-buf fd from a client can become a GEM handle here",
      "dma-bufs from elsewhere cannot be displayed");
  cap(o, "ADDFB2_MODIFIERS", c.addfb2_modifiers,
      "framebuffers can carry an explicit layout (tiling/compression modifier)",
      "framebuffers are registered without modifiers (implicit layout)");
  cap(o, "dumb buffers", c.dumb_buffer,
      c.dumb_preferred_depth != 0
          ? fmt::format("CPU-drawn scanout buffers, no GPU needed (preferred depth {})", c.dumb_preferred_depth).c_str()
          : "CPU-drawn scanout buffers, no GPU needed",
      "no CPU-only scanout buffers");
  cap(o, "async page flip", c.async_page_flip, "flips may happen immediately (tearing allowed)",
      "every flip waits for the display to take the frame");
  cap(o, "syncobj", c.syncobj,
      c.syncobj_timeline ? "explicit-sync objects, timelines too" : "explicit-sync objects (no timelines)",
      "no explicit-sync objects; buffers are synchronized implicitly (dma-buf fences)");
  cap(o, "monotonic stamps", c.timestamp_monotonic, "event timestamps use CLOCK_MONOTONIC, like wp_presentation",
      "event timestamps use CLOCK_REALTIME");
  if (r.vblank.supported.has_value())
    cap(o, "vblank events", *r.vblank.supported, "the driver counts vertical blanks",
        "no vblank interrupts; flip completion is all there is");
  else if (r.kms)
    o += fmt::format("  {:<18} ?   — drmWaitVBlank: {} (CRTC off?)\n", "vblank events", std::strerror(r.vblank.error));
  if (c.cursor_width != 0) o += fmt::format("  {:<18} {}x{}\n", "cursor size", c.cursor_width, c.cursor_height);

  if (r.kms) {
    o += fmt::format("\nconnectors ({})\n", r.connectors.size());
    for (const Connector& k : r.connectors) {
      o += fmt::format("  {} (id {}): {}, {}x{} mm, {} modes, CRTC indices {}{}\n", k.name, k.id, k.status,
                       k.mm_width, k.mm_height, k.modes.size(), list(k.possible_crtcs),
                       k.crtc_id != 0 ? fmt::format(", driven by CRTC {}", k.crtc_id) : "");
      const size_t shown = std::min<size_t>(k.modes.size(), 6);
      for (size_t i = 0; i < shown; ++i) o += "    " + mode_text(k.modes[i]) + "\n";
      if (k.modes.size() > shown) o += fmt::format("    … and {} more (--json lists all)\n", k.modes.size() - shown);
    }
    o += fmt::format("\nCRTCs ({}) — scanout engines: each reads one framebuffer per refresh\n", r.crtcs.size());
    for (const Crtc& k : r.crtcs)
      o += fmt::format("  CRTC {} (index {}): {}\n", k.id, k.index,
                       k.mode ? fmt::format("on, {} showing FB {}", mode_text(*k.mode), k.fb_id) : "off");
    o += fmt::format("\nplanes ({}) — the layers a CRTC blends; a buffer on a plane is shown without copying\n",
                     r.planes.size());
    for (const Plane& p : r.planes) {
      std::string formats;
      for (size_t i = 0; i < p.formats.size(); ++i) {
        if (i == 8) {
          formats += fmt::format(" … ({} in all)", p.formats.size());
          break;
        }
        formats += (i ? ", " : "") + format_name(p.formats[i]);
      }
      o += fmt::format("  plane {}: {:<8} CRTC indices {}, formats: {}\n", p.id, p.type, list(p.possible_crtcs),
                       formats);
      if (!p.has_in_formats) {
        o += "    modifiers: none advertised (no IN_FORMATS property: implicit layout only)\n";
      } else {
        for (const FormatModifiers& f : p.in_formats) {
          if (f.fourcc != DRM_FORMAT_XRGB8888) continue;
          std::string mods;
          for (uint64_t m : f.modifiers) mods += (mods.empty() ? "" : ", ") + modifier_name(m);
          o += fmt::format("    XRGB8888 modifiers: {}\n", mods);
        }
      }
    }
  }

  const GbmCheck& g = r.gbm;
  o += fmt::format("\nGBM: a {}x{} XRGB8888 buffer for SCANOUT | LINEAR\n", g.width, g.height);
  if (!g.checked) {
    o += "  not checked (--no-gbm)\n";
  } else if (!g.device) {
    o += "  gbm_create_device: failed — " + g.error + "\n";
  } else {
    o += fmt::format("  backend: {}\n", g.backend);
    if (g.allocated)
      o += fmt::format("  allocated: stride {} bytes, modifier {}\n", g.stride, modifier_name(g.modifier));
    else
      o += "  allocation failed: " + g.error + "\n";
    if (g.allocated) {
      o += fmt::format("  drmPrimeHandleToFD(DRM_CLOEXEC | DRM_RDWR): {}\n",
                       !g.exported ? "failed" : g.export_rdwr ? "dma-buf fd, O_RDWR" : "dma-buf fd, but not O_RDWR");
      o += fmt::format("  mmap(PROT_WRITE) + DMA_BUF_IOCTL_SYNC + write: {}\n",
                       g.mmap_write ? "ok — the client can draw into it with the CPU" : "failed");
      o += fmt::format("  drmModeAddFB2: {}\n", g.addfb2 ? "ok — the compositor can put this very buffer on a plane"
                                                         : "failed");
    }
    if (g.get_fd_readonly.has_value())
      o += fmt::format("  gbm_bo_get_fd() on another bo: {}\n",
                       *g.get_fd_readonly ? "O_RDONLY (see warnings)" : "O_RDWR");
  }

  if (!r.warnings.empty()) {
    o += "\nwarnings\n";
    for (const std::string& w : r.warnings) o += "  - " + w + "\n";
  }
  return o;
}

nlohmann::ordered_json to_json(const DeviceReport& r) {
  using json = nlohmann::ordered_json;
  auto mode_json = [](const Mode& m) {
    return json{{"name", m.name}, {"width", m.width}, {"height", m.height}, {"refresh", m.refresh},
                {"preferred", m.preferred}};
  };
  json j;
  j["path"] = r.path;
  j["node_type"] = r.node_type;
  j["driver"] = {{"name", r.driver}, {"version", r.driver_version}, {"description", r.driver_description}};
  j["master"] = r.master;
  const Caps& c = r.caps;
  j["caps"] = {{"atomic", c.atomic},
               {"universal_planes", c.universal_planes},
               {"dumb_buffer", c.dumb_buffer},
               {"dumb_preferred_depth", c.dumb_preferred_depth},
               {"dumb_prefer_shadow", c.dumb_prefer_shadow},
               {"prime_import", c.prime_import},
               {"prime_export", c.prime_export},
               {"addfb2_modifiers", c.addfb2_modifiers},
               {"async_page_flip", c.async_page_flip},
               {"syncobj", c.syncobj},
               {"syncobj_timeline", c.syncobj_timeline},
               {"timestamp_monotonic", c.timestamp_monotonic},
               {"crtc_in_vblank_event", c.crtc_in_vblank_event},
               {"cursor_width", c.cursor_width},
               {"cursor_height", c.cursor_height}};
  j["vblank"] = r.vblank.supported ? json(*r.vblank.supported) : json(nullptr);
  j["kms"] = r.kms;
  j["kms_error"] = r.kms ? json(nullptr) : json(std::strerror(r.kms_error));
  j["connectors"] = json::array();
  for (const Connector& k : r.connectors) {
    json modes = json::array();
    for (const Mode& m : k.modes) modes.push_back(mode_json(m));
    j["connectors"].push_back({{"id", k.id},
                               {"name", k.name},
                               {"status", k.status},
                               {"mm_width", k.mm_width},
                               {"mm_height", k.mm_height},
                               {"crtc_id", k.crtc_id},
                               {"possible_crtcs", k.possible_crtcs},
                               {"modes", modes}});
  }
  j["crtcs"] = json::array();
  for (const Crtc& k : r.crtcs)
    j["crtcs"].push_back({{"id", k.id},
                          {"index", k.index},
                          {"active", k.mode.has_value()},
                          {"fb_id", k.fb_id},
                          {"mode", k.mode ? mode_json(*k.mode) : json(nullptr)}});
  j["planes"] = json::array();
  for (const Plane& p : r.planes) {
    json formats = json::array();
    for (uint32_t f : p.formats) formats.push_back(format_name(f));
    json in_formats = nullptr;
    if (p.has_in_formats) {
      in_formats = json::object();
      for (const FormatModifiers& f : p.in_formats) {
        json mods = json::array();
        for (uint64_t m : f.modifiers) mods.push_back(modifier_name(m));
        in_formats[format_name(f.fourcc)] = mods;
      }
    }
    j["planes"].push_back({{"id", p.id},
                           {"type", p.type},
                           {"possible_crtcs", p.possible_crtcs},
                           {"crtc_id", p.crtc_id},
                           {"fb_id", p.fb_id},
                           {"formats", formats},
                           {"in_formats", in_formats}});
  }
  const GbmCheck& g = r.gbm;
  j["gbm"] = {{"checked", g.checked},
              {"device", g.device},
              {"backend", g.backend},
              {"width", g.width},
              {"height", g.height},
              {"allocated", g.allocated},
              {"stride", g.stride},
              {"modifier", g.allocated ? json(modifier_name(g.modifier)) : json(nullptr)},
              {"exported", g.exported},
              {"export_rdwr", g.export_rdwr},
              {"mmap_write", g.mmap_write},
              {"addfb2", g.addfb2},
              {"get_fd_readonly", g.get_fd_readonly ? json(*g.get_fd_readonly) : json(nullptr)},
              {"error", g.error.empty() ? json(nullptr) : json(g.error)}};
  j["warnings"] = r.warnings;
  return j;
}

}  // namespace zc::probe
