#include <drm_fourcc.h>
#include <fmt/core.h>

#include <algorithm>
#include <string>

#include "buffer/pattern.h"
#include "client/renderer.h"
#include "common/format.h"
#include "stats/trace.h"

namespace zc::client {

Result<std::vector<uint64_t>> linear_modifiers(const std::vector<uint64_t>& accepted) {
  const auto has = [&](uint64_t m) { return std::find(accepted.begin(), accepted.end(), m) != accepted.end(); };
  // Explicit LINEAR first: the compositor then knows the layout for certain.
  if (has(DRM_FORMAT_MOD_LINEAR)) return std::vector<uint64_t>{DRM_FORMAT_MOD_LINEAR};
  // INVALID means "no modifier": the layout is whatever the driver gives a
  // buffer by default. That is what a device without modifier support
  // (virtio-gpu, older drivers) knows, and with GBM_BO_USE_LINEAR it is linear.
  if (accepted.empty() || has(DRM_FORMAT_MOD_INVALID)) return std::vector<uint64_t>{};
  std::string names;
  for (uint64_t m : accepted) names += (names.empty() ? "" : ", ") + modifier_name(m);
  return Error{ENOTSUP, fmt::format("the compositor accepts only {} here, and the cpu renderer can only write LINEAR "
                                    "buffers (rows one after another; a tiled or compressed layout would scramble "
                                    "the picture)",
                                    names)};
}

namespace {

uint32_t bytes_per_pixel(uint32_t format) {
  const FormatInfo* f = format_info(format);
  return f != nullptr ? f->bytes_per_pixel : 4;
}

class CpuRenderer final : public Renderer {
 public:
  CpuRenderer(Render mode, bool checksums) : mode_(mode), checksums_(checksums) {}

  const char* name() const override { return "cpu"; }

  Result<std::vector<uint64_t>> choose_modifiers(const std::vector<uint64_t>& accepted) const override {
    return linear_modifiers(accepted);
  }

  // Where the CPU's writes go is the buffer's business (buffer.h,
  // CpuWritePath): its one mapping with DMA_BUF_IOCTL_SYNC around the
  // writes, or, where that mapping is only a copy of the buffer (GBM on
  // virgl: the resource lives on the host), a map through the driver that
  // sends the pixels to the host at the unmap. Either way the CPU writes
  // the same bytes; the second also pays a map, a fetch from the host and a
  // transfer to it every frame, inside this step, where the ledger counts it.
  Result<void> render(buffer::Buffer& b, uint64_t n) override {
    const bool via_driver = b.cpu_write_path() == buffer::CpuWritePath::gbm_map;
    // What the memory is, not whether it is shared: that is the transport's
    // business (the socket transport's memfd is never shared).
    ZC_TRACE(fmt::format("render frame {}: the CPU writes {} into the ring's buffer ({}){}", n,
                         mode_ == Render::full ? "every pixel" : "only the frame-number rows",
                         b.kind() == buffer::Kind::dmabuf ? "a dma-buf" : "a memfd: plain memory, not a DMA-BUF",
                         via_driver ? ", mapped through the driver (gbm_bo_map), which sends it to the host at the unmap"
                                    : ""),
             mode_ == Render::full ? b.desc().plane0_extent() : 0);
    if (mode_ == Render::none) return {};
    auto w = b.begin_cpu_write();
    if (!w) return w.error();
    const buffer::PixelView view{w->data, b.width(), b.height(), w->stride, b.format()};
    // What the CPU writes: the visible bytes of every row it draws (rows of
    // width x bytes-per-pixel; the stride's padding is left alone).
    const uint64_t row_bytes = static_cast<uint64_t>(b.width()) * bytes_per_pixel(b.format());
    cpu_touched_ += row_bytes * (mode_ == Render::full ? b.height() : std::min(b.height(), buffer::kPatternHeaderRows));
    if (mode_ == Render::full) buffer::render_pattern(view, n);
    else buffer::render_pattern_header(view, n);
    // Through the driver, the checksum is read now, from the pixels just
    // written, while they are mapped: after the unmap, reading them again
    // would cost another map and a transfer back from the host.
    if (via_driver && checksums_) {
      cpu_touched_ += row_bytes * b.height();
      written_ = Written{b.serial(), n, buffer::checksum({view.data, view.width, view.height, view.stride, view.format})};
    }
    b.end_cpu_write();
    return {};
  }

  // The CPU wrote the frame: read it back (the mapping made at allocation),
  // or take what render() read while the driver's map was open.
  Result<std::optional<uint64_t>> checksum(buffer::Buffer& b, uint64_t n) override {
    if (b.cpu_write_path() == buffer::CpuWritePath::gbm_map) {
      if (written_ && written_->serial == b.serial() && written_->frame == n) return std::optional<uint64_t>{written_->sum};
      return std::optional<uint64_t>{};  // not drawn, or drawn without checksums: not known
    }
    auto px = b.map(true);
    if (!px) return px.error();
    // The checksum reads every visible byte: the CPU touches the frame again.
    cpu_touched_ += static_cast<uint64_t>(b.width()) * b.height() * bytes_per_pixel(b.format());
    return std::optional<uint64_t>{buffer::checksum({px->data(), b.width(), b.height(), b.stride(), b.format()})};
  }

 private:
  Render mode_;
  bool checksums_;
  struct Written {
    uint64_t serial, frame, sum;
  };
  std::optional<Written> written_;  // the last frame written through the driver, and its checksum
};

}  // namespace

const char* renderer_choice_name(RendererChoice c) {
  switch (c) {
    case RendererChoice::cpu: return "cpu";
    case RendererChoice::gl: return "gl";
    case RendererChoice::automatic: break;
  }
  return "auto";
}

std::unique_ptr<Renderer> make_cpu_renderer(Render mode, bool checksums) {
  return std::make_unique<CpuRenderer>(mode, checksums);
}

}  // namespace zc::client
