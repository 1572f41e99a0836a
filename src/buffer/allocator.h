// Allocators: where the client's frames live.
//
//   gbm      gbm_bo_create(SCANOUT|LINEAR) on a DRM device: a real DMA-BUF that
//            the display engine can scan out directly (the zero-copy path).
//   udmabuf  a memfd turned into a DMA-BUF by /dev/udmabuf: a real DMA-BUF
//            backed by ordinary pages (no display device needed).
//   memfd    plain shared memory. It crosses the socket the same way (an fd),
//            but it is NOT a DMA-BUF: only a CPU can read it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "buffer/buffer.h"
#include "common/result.h"

namespace zc::buffer {

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Allocates (and, when its layout is linear, maps once, writable) a buffer. `modifiers`, when not empty,
  // lists the layouts the consumer accepts (from linux-dmabuf feedback).
  virtual Result<std::unique_ptr<Buffer>> allocate(uint32_t width, uint32_t height,
                                                   uint32_t format,
                                                   const std::vector<uint64_t>& modifiers) = 0;
  virtual std::string name() const = 0;          // "gbm", "udmabuf", "memfd"
  virtual std::string description() const = 0;   // one line for the run's output
  virtual Kind kind() const = 0;
  // The DRM node the buffers were allocated on (gbm), empty otherwise: a GL
  // renderer opens EGL on the same device, so it can import them.
  virtual std::string device_path() const { return {}; }
};

enum class AllocatorChoice { automatic, gbm, udmabuf, memfd };
std::optional<AllocatorChoice> allocator_choice_from_name(const std::string& name);

struct AllocatorRequest {
  AllocatorChoice choice = AllocatorChoice::automatic;
  // DRM device to allocate on (from linux-dmabuf feedback's main_device), if known.
  std::optional<dev_t> device;
  // Explicit node path (--device); overrides `device`.
  std::string device_path;
};

// automatic: gbm when a DRM device is present, else udmabuf when /dev/udmabuf
// exists, else memfd. An explicit choice that cannot work is an error.
Result<std::unique_ptr<Allocator>> create_allocator(const AllocatorRequest& request);

Result<std::unique_ptr<Allocator>> create_memfd_allocator();
Result<std::unique_ptr<Allocator>> create_udmabuf_allocator();
Result<std::unique_ptr<Allocator>> create_gbm_allocator(const AllocatorRequest& request);

}  // namespace zc::buffer
