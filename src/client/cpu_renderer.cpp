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
  explicit CpuRenderer(Render mode) : mode_(mode) {}

  const char* name() const override { return "cpu"; }

  Result<std::vector<uint64_t>> choose_modifiers(const std::vector<uint64_t>& accepted) const override {
    return linear_modifiers(accepted);
  }

  Result<void> render(buffer::Buffer& b, uint64_t n) override {
    auto px = b.map(true);  // already mapped at allocation: returns the same mapping
    if (!px) return px.error();
    const buffer::PixelView view{px->data(), b.width(), b.height(), b.stride(), b.format()};
    // What the memory is, not whether it is shared: that is the transport's
    // business (the socket transport's memfd is never shared).
    ZC_TRACE(fmt::format("render frame {}: the CPU writes {} into the ring's buffer ({})", n,
                         mode_ == Render::full ? "every pixel" : "only the frame-number rows",
                         b.kind() == buffer::Kind::dmabuf ? "a dma-buf" : "a memfd: plain memory, not a DMA-BUF"),
             mode_ == Render::full ? b.desc().plane0_extent() : 0);
    if (mode_ == Render::none) return {};
    // What the CPU writes: the visible bytes of every row it draws (rows of
    // width x bytes-per-pixel; the stride's padding is left alone).
    const uint64_t row_bytes = static_cast<uint64_t>(b.width()) * bytes_per_pixel(b.format());
    cpu_touched_ += row_bytes * (mode_ == Render::full ? b.height() : std::min(b.height(), buffer::kPatternHeaderRows));
    // A dma-buf's caches may need flushing around CPU writes (DMA_BUF_IOCTL_SYNC).
    b.begin_cpu_access(true);
    if (mode_ == Render::full) buffer::render_pattern(view, n);
    else buffer::render_pattern_header(view, n);
    b.end_cpu_access(true);
    return {};
  }

  // The CPU wrote the frame: read it back (the mapping made at allocation).
  Result<std::optional<uint64_t>> checksum(buffer::Buffer& b, uint64_t) override {
    auto px = b.map(true);
    if (!px) return px.error();
    // The checksum reads every visible byte: the CPU touches the frame again.
    cpu_touched_ += static_cast<uint64_t>(b.width()) * b.height() * bytes_per_pixel(b.format());
    return std::optional<uint64_t>{buffer::checksum({px->data(), b.width(), b.height(), b.stride(), b.format()})};
  }

 private:
  Render mode_;
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

std::unique_ptr<Renderer> make_cpu_renderer(Render mode) { return std::make_unique<CpuRenderer>(mode); }

}  // namespace zc::client
