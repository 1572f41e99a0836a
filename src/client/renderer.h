// The renderer: how the client draws a frame into a buffer of the ring.
// The transport (transport/transport.h) only moves the buffer; it does not
// know how its pixels were drawn. The CPU draws them (CpuRenderer, below), or
// the GPU does (GlRenderer, client/gl_renderer.h: EGL on the GBM device, each
// buffer bound as an EGLImage), through the same interface.
//
// The renderer also has a say in how buffers are allocated: a CPU writes rows
// one after another, so it can only draw into LINEAR buffers, while a GPU can
// draw into the tiled and compressed layouts (modifiers) that real display
// hardware prefers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "buffer/buffer.h"
#include "common/result.h"

namespace zc::client {

enum class Render {
  full,    // every pixel, every frame (what a real renderer costs)
  header,  // only the frame-number rows: measures the pipeline, not drawing
  none,    // no drawing at all (benchmarks of the delivery alone)
};

class Renderer {
 public:
  virtual ~Renderer() = default;
  virtual const char* name() const = 0;  // "cpu", "gl"
  // The GL driver that draws (GL_RENDERER, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"); empty for the CPU.
  virtual std::string driver() const { return {}; }

  // Of the modifiers the compositor accepts for the frame's format (one
  // linux-dmabuf feedback tranche), the ones to allocate with (empty: no
  // explicit modifier, the implicit layout), or ENOTSUP naming what this
  // renderer would need.
  virtual Result<std::vector<uint64_t>> choose_modifiers(const std::vector<uint64_t>& accepted) const = 0;

  // Draws frame `frame` (the numbered pattern of buffer/pattern.h) into `b`,
  // a buffer of the ring the compositor is not reading.
  virtual Result<void> render(buffer::Buffer& b, uint64_t frame) = 0;

  // The checksum (buffer/pattern.h) of what render() drew into `b`, for the
  // compositor to compare with what it showed; nullopt when it is not known
  // (a GL renderer drawing only the header rows leaves the rest undefined).
  virtual Result<std::optional<uint64_t>> checksum(buffer::Buffer& b, uint64_t frame) = 0;
  // The ring is about to be (re)allocated: drop whatever was kept per
  // buffer (the GL renderer's EGLImages), as those buffers are going away.
  virtual void forget_buffers() {}

  // Bytes of pixel memory this renderer's CPU wrote or read since the last
  // call (render() and checksum() together), and starts counting again: the
  // client's ledger figure "CPU bytes touched" (docs/json.md). A GPU renderer
  // touches none; it only says what it asked the GPU to do.
  uint64_t take_cpu_touched_bytes() {
    const uint64_t n = cpu_touched_;
    cpu_touched_ = 0;
    return n;
  }

 protected:
  uint64_t cpu_touched_ = 0;  // renderers that touch pixels with the CPU add to it
};

// --renderer: who draws the frames.
enum class RendererChoice {
  cpu,   // the CPU writes every pixel through a mapping
  gl,    // the GPU draws with GLES into the dma-bufs (EGL on GBM); an error where it cannot
  automatic,  // gl where EGL on GBM works with the dmabuf transport, else cpu
};
const char* renderer_choice_name(RendererChoice c);

// The CPU renderer: writes the pattern through the buffer's mapping (made
// once, at allocation), every pixel or only the header rows as `mode` says.
std::unique_ptr<Renderer> make_cpu_renderer(Render mode);

// The modifier choice of a renderer that writes pixels with the CPU, as a
// pure function of what the compositor accepts:
//   LINEAR accepted                 -> {LINEAR}
//   only INVALID (or nothing)       -> {} : allocate without a modifier; the
//                                     device has none, and a buffer made with
//                                     GBM_BO_USE_LINEAR is linear
//   only tiled/compressed layouts   -> ENOTSUP: writing rows into a tiled
//                                     buffer would scramble the picture
Result<std::vector<uint64_t>> linear_modifiers(const std::vector<uint64_t>& accepted);

}  // namespace zc::client
