#include "stats/ioctl_names.h"

// libdrm's copies of the kernel's DRM uapi headers (drm.h, drm_mode.h): the
// request numbers and argument structs. Only their compile flags are used.
#include <drm.h>
#include <drm_mode.h>
#include <fcntl.h>  // O_RDWR, which drm.h's DRM_RDWR names
#include <fmt/core.h>
#include <linux/dma-buf.h>
#include <linux/sync_file.h>
#include <sys/ioctl.h>

#include <cstring>

#include "common/format.h"

namespace zc::stats {
namespace {

template <typename T>
const T& as(const void* arg) {
  return *static_cast<const T*>(arg);
}

template <typename T>
const T* user_ptr(uint64_t p) {
  return reinterpret_cast<const T*>(static_cast<uintptr_t>(p));
}

std::string failed(long result, int err) {
  return result < 0 ? fmt::format(" — failed: {} ({})", std::strerror(err), err) : std::string();
}

// SRC_* properties are 16.16 fixed point (sub-pixel source rectangles).
std::string prop_value(const std::string& name, uint64_t v) {
  if (name.rfind("SRC_", 0) == 0) return fmt::format("{}", v >> 16);
  if (name == "IN_FENCE_FD") return static_cast<int64_t>(v) < 0 ? "-1 (no fence)" : fmt::format("fd {}", v);
  // Where the kernel writes a sync_file fd that signals when this commit's
  // frame is on screen.
  if (name == "OUT_FENCE_PTR") return v == 0 ? "0 (none)" : "(a pointer the kernel fills with an out-fence fd)";
  return fmt::format("{}", v);
}

std::string describe_atomic(const drm_mode_atomic& a, const PropertyNamer& names) {
  std::string s = "atomic commit [" + atomic_flags(a.flags, false) + "]";
  if (a.flags & DRM_MODE_ATOMIC_TEST_ONLY) s += ": would the hardware accept this state? (nothing changes on screen)";
  else if (a.flags & DRM_MODE_PAGE_FLIP_EVENT) s += ": the new state takes effect at the next vblank, then the kernel sends a flip event";
  else s += ": the new state takes effect";
  const auto* objs = user_ptr<uint32_t>(a.objs_ptr);
  const auto* counts = user_ptr<uint32_t>(a.count_props_ptr);
  const auto* props = user_ptr<uint32_t>(a.props_ptr);
  const auto* values = user_ptr<uint64_t>(a.prop_values_ptr);
  if (a.count_objs == 0 || objs == nullptr || counts == nullptr || props == nullptr || values == nullptr) return s;
  // A commit of zcpipe's sets one plane and perhaps its CRTC: a handful of
  // objects. A bound keeps a hostile or corrupt request from flooding the text.
  constexpr uint32_t kMaxObjs = 8, kMaxProps = 64;
  uint32_t k = 0;
  s += ";";
  for (uint32_t i = 0; i < a.count_objs && i < kMaxObjs; ++i) {
    s += fmt::format(" object {}:", objs[i]);
    for (uint32_t j = 0; j < counts[i] && k < kMaxProps; ++j, ++k) {
      std::string name = names ? names(props[k]) : std::string();
      const std::string shown = name.empty() ? fmt::format("prop {}", props[k]) : name;
      s += fmt::format(" {}={}", shown, prop_value(name, values[k]));
    }
  }
  if (a.count_objs > kMaxObjs || k >= kMaxProps) s += " …";
  return s;
}

std::string fourcc(uint32_t f) { return format_name(f); }

}  // namespace

std::string atomic_flags(uint32_t flags, bool explain) {
  struct Flag {
    uint32_t bit;
    const char* name;
    const char* meaning;
  };
  static const Flag kFlags[] = {
      {DRM_MODE_ATOMIC_TEST_ONLY, "TEST_ONLY", "only ask whether the hardware would accept it"},
      {DRM_MODE_ATOMIC_NONBLOCK, "NONBLOCK", "return at once instead of waiting for the vblank"},
      {DRM_MODE_PAGE_FLIP_EVENT, "PAGE_FLIP_EVENT", "send an event on the DRM fd when the flip is done"},
      {DRM_MODE_ATOMIC_ALLOW_MODESET, "ALLOW_MODESET", "may change the mode (a full modeset: slow, may blank)"},
      {DRM_MODE_PAGE_FLIP_ASYNC, "ASYNC", "flip without waiting for the vblank (may tear)"},
  };
  std::string s;
  uint32_t known = 0;
  for (const Flag& f : kFlags) {
    known |= f.bit;
    if ((flags & f.bit) == 0) continue;
    if (!s.empty()) s += " | ";
    s += f.name;
    if (explain) s += fmt::format(" ({})", f.meaning);
  }
  if (flags & ~known) s += fmt::format("{}0x{:x}", s.empty() ? "" : " | ", flags & ~known);
  return s.empty() ? "no flags: blocking" : s;
}

std::string drm_event_read_meaning(long bytes) {
  if (bytes <= 0) return "DRM events: none pending";
  const long n = bytes / static_cast<long>(sizeof(drm_event_vblank));
  if (bytes % static_cast<long>(sizeof(drm_event_vblank)) == 0)
    return fmt::format("DRM events: {} drm_event_vblank of {} bytes — a page flip completed (DRM_EVENT_FLIP_COMPLETE, "
                       "with its time and sequence): the display now scans out the new framebuffer",
                       n, sizeof(drm_event_vblank));
  return fmt::format("DRM events ({} bytes): page-flip or vblank completions", bytes);
}

IoctlText describe_ioctl(unsigned long request, const void* arg, long result, int err, const PropertyNamer& names) {
  IoctlText t;
  // A DRM or dma-buf request's argument is always a pointer to its struct; a
  // null one (an error the kernel reports as EFAULT) reads as zeros here.
  static const uint64_t kZeros[64] = {};
  const bool have_arg = arg != nullptr;
  if (!have_arg) arg = kZeros;
  const std::string fail = failed(result, err);
  const bool ok = result >= 0 && have_arg;
  switch (request) {
    case DRM_IOCTL_PRIME_FD_TO_HANDLE: {
      t.name = "DRM_IOCTL_PRIME_FD_TO_HANDLE";
      const auto& p = as<drm_prime_handle>(arg);
      t.meaning = ok ? fmt::format("dma-buf fd {} imported: GEM handle {}, this device's name for the same memory (nothing copied)",
                                   p.fd, p.handle)
                     : fmt::format("import of dma-buf fd {}", p.fd);
      break;
    }
    case DRM_IOCTL_PRIME_HANDLE_TO_FD: {
      t.name = "DRM_IOCTL_PRIME_HANDLE_TO_FD";
      const auto& p = as<drm_prime_handle>(arg);
      t.meaning = fmt::format("GEM handle {} exported as a dma-buf fd{}{}", p.handle, ok ? fmt::format(" {}", p.fd) : "",
                              (p.flags & DRM_RDWR) ? " (read-write)" : " (read-only unless DRM_RDWR)");
      break;
    }
    case DRM_IOCTL_MODE_ADDFB2: {
      t.name = "DRM_IOCTL_MODE_ADDFB2";
      const auto& f = as<drm_mode_fb_cmd2>(arg);
      const std::string mod = (f.flags & DRM_MODE_FB_MODIFIERS) ? fmt::format(", modifier 0x{:x}", f.modifier[0]) : ", no modifier";
      t.meaning = fmt::format("framebuffer {}: GEM handle {}, {}x{} {}, pitch {}{} — the display can now be pointed at this memory",
                              ok ? std::to_string(f.fb_id) : std::string("(none)"), f.handles[0], f.width, f.height,
                              fourcc(f.pixel_format), f.pitches[0], mod);
      break;
    }
    case DRM_IOCTL_GEM_CLOSE: {
      t.name = "DRM_IOCTL_GEM_CLOSE";
      t.meaning = fmt::format("GEM handle {} closed (a framebuffer made from it keeps the memory alive)", as<drm_gem_close>(arg).handle);
      break;
    }
    case DRM_IOCTL_MODE_RMFB: {
      t.name = "DRM_IOCTL_MODE_RMFB";
      t.meaning = fmt::format("framebuffer {} removed (no plane shows it any more)", as<uint32_t>(arg));
      break;
    }
#ifdef DRM_IOCTL_MODE_CLOSEFB
    case DRM_IOCTL_MODE_CLOSEFB: {
      t.name = "DRM_IOCTL_MODE_CLOSEFB";
      t.meaning = fmt::format("framebuffer {} closed (a plane still showing it keeps it)", as<drm_mode_closefb>(arg).fb_id);
      break;
    }
#endif
    case DRM_IOCTL_MODE_ATOMIC: {
      t.name = "DRM_IOCTL_MODE_ATOMIC";
      t.meaning = describe_atomic(as<drm_mode_atomic>(arg), names);
      if (result < 0 && (as<drm_mode_atomic>(arg).flags & DRM_MODE_ATOMIC_TEST_ONLY))
        t.meaning += " — refused: the hardware cannot show this state";
      break;
    }
    case DRM_IOCTL_MODE_PAGE_FLIP: {
      t.name = "DRM_IOCTL_MODE_PAGE_FLIP";
      const auto& p = as<drm_mode_crtc_page_flip>(arg);
      t.meaning = fmt::format("legacy page flip: CRTC {} to framebuffer {} at the next vblank{}{}", p.crtc_id, p.fb_id,
                              (p.flags & DRM_MODE_PAGE_FLIP_EVENT) ? ", with a flip event" : "",
                              (p.flags & DRM_MODE_PAGE_FLIP_ASYNC) ? ", ASYNC (may tear)" : "");
      break;
    }
    case DRM_IOCTL_MODE_SETCRTC: {
      t.name = "DRM_IOCTL_MODE_SETCRTC";
      const auto& c = as<drm_mode_crtc>(arg);
      t.meaning = fmt::format("legacy modeset: CRTC {} shows framebuffer {}{}", c.crtc_id, c.fb_id,
                              c.mode_valid ? fmt::format(" in mode {}x{}", c.mode.hdisplay, c.mode.vdisplay) : "");
      break;
    }
    case DRM_IOCTL_MODE_CREATE_DUMB: {
      t.name = "DRM_IOCTL_MODE_CREATE_DUMB";
      const auto& d = as<drm_mode_create_dumb>(arg);
      t.meaning = fmt::format("dumb buffer {}x{} at {} bits per pixel{}", d.width, d.height, d.bpp,
                              ok ? fmt::format(": GEM handle {}, pitch {}, {} bytes", d.handle, d.pitch, d.size) : "");
      break;
    }
    case DRM_IOCTL_MODE_MAP_DUMB: {
      t.name = "DRM_IOCTL_MODE_MAP_DUMB";
      t.meaning = fmt::format("the mmap() offset of GEM handle {}", as<drm_mode_map_dumb>(arg).handle);
      break;
    }
    case DRM_IOCTL_MODE_DESTROY_DUMB: {
      t.name = "DRM_IOCTL_MODE_DESTROY_DUMB";
      t.meaning = fmt::format("dumb buffer of GEM handle {} destroyed", as<drm_mode_destroy_dumb>(arg).handle);
      break;
    }
    case DRM_IOCTL_WAIT_VBLANK: t.name = "DRM_IOCTL_WAIT_VBLANK"; t.meaning = "wait for (or ask about) a vblank"; break;
    case DRM_IOCTL_GET_CAP: {
      t.name = "DRM_IOCTL_GET_CAP";
      const auto& c = as<drm_get_cap>(arg);
      t.meaning = fmt::format("device capability {}{}", c.capability, ok ? fmt::format(" = {}", c.value) : "");
      break;
    }
    case DRM_IOCTL_MODE_GETPROPERTY: t.name = "DRM_IOCTL_MODE_GETPROPERTY"; t.meaning = "a property's name and values"; break;
    case DRM_IOCTL_MODE_OBJ_GETPROPERTIES: t.name = "DRM_IOCTL_MODE_OBJ_GETPROPERTIES"; t.meaning = "an object's properties"; break;
    case DRM_IOCTL_MODE_GETPLANE: t.name = "DRM_IOCTL_MODE_GETPLANE"; t.meaning = "a plane's formats and CRTCs"; break;
    case DRM_IOCTL_MODE_GETRESOURCES: t.name = "DRM_IOCTL_MODE_GETRESOURCES"; t.meaning = "the device's CRTCs, connectors, encoders"; break;
    case DMA_BUF_IOCTL_SYNC: {
      t.name = "DMA_BUF_IOCTL_SYNC";
      const uint64_t f = as<dma_buf_sync>(arg).flags;
      const char* rw = (f & DMA_BUF_SYNC_RW) == DMA_BUF_SYNC_RW ? "READ|WRITE" : (f & DMA_BUF_SYNC_WRITE) ? "WRITE" : "READ";
      t.meaning = (f & DMA_BUF_SYNC_END)
                      ? fmt::format("CPU access ({}) to the dma-buf's mapping ends: CPU caches flushed for the device", rw)
                      : fmt::format("CPU access ({}) to the dma-buf's mapping begins: waits for the device, makes caches coherent", rw);
      break;
    }
#ifdef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
    case DMA_BUF_IOCTL_EXPORT_SYNC_FILE: {
      t.name = "DMA_BUF_IOCTL_EXPORT_SYNC_FILE";
      const auto& e = as<dma_buf_export_sync_file>(arg);
      // READ asks for what a reader must wait for: the buffer's pending
      // writes (the GPU still rendering it). WRITE asks for what a writer
      // must wait for: every pending read and write.
      t.meaning = fmt::format("{} as a sync_file{}",
                              (e.flags & DMA_BUF_SYNC_WRITE)
                                  ? "the fences a writer must wait for (every pending read and write of the buffer)"
                                  : "the fences a reader must wait for (the buffer's pending writes, e.g. the GPU "
                                    "still rendering it)",
                              ok ? fmt::format(" (fd {})", e.fd) : "");
      break;
    }
    case DMA_BUF_IOCTL_IMPORT_SYNC_FILE: {
      t.name = "DMA_BUF_IOCTL_IMPORT_SYNC_FILE";
      t.meaning = fmt::format("sync_file fd {} attached to the buffer as a fence", as<dma_buf_import_sync_file>(arg).fd);
      break;
    }
#endif
    // A buffer whose planes are several objects has one fence per object;
    // a plane's IN_FENCE_FD takes one sync_file, so they are merged.
    case SYNC_IOC_MERGE: {
      t.name = "SYNC_IOC_MERGE";
      const auto& m = as<sync_merge_data>(arg);
      t.meaning = fmt::format("this sync_file and fd {} merged into a new one that signals once both have{}", m.fd2,
                              ok ? fmt::format(" (fd {})", m.fence) : "");
      break;
    }
    case SYNC_IOC_FILE_INFO: t.name = "SYNC_IOC_FILE_INFO"; t.meaning = "a sync_file's state and when its fences signalled"; break;
    case FIONREAD: t.name = "FIONREAD"; t.meaning = "bytes waiting to be read"; break;
    default: {
      if (_IOC_TYPE(request) == DRM_IOCTL_BASE) {
        const unsigned nr = _IOC_NR(request);
        t.name = fmt::format("DRM ioctl 0x{:02x}", nr);
        t.meaning = nr >= DRM_COMMAND_BASE && nr < DRM_COMMAND_END ? "the driver's own (e.g. the GPU driver's command submission)"
                                                                   : "a core DRM request";
      } else {
        t.name = fmt::format("ioctl 0x{:x}", request);
      }
    }
  }
  t.meaning += fail;
  return t;
}

}  // namespace zc::stats
