// Buffer: memory that holds one frame, described by a Dmabuf, mapped into this
// process at most once for its whole life (mapping a 33 MB frame costs
// 11-27 ms of page faults, so zcpipe never maps or allocates per frame).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "buffer/dmabuf.h"
#include "common/result.h"

namespace zc::buffer {

// What the memory really is. A memfd passed over linux-dmabuf works with a
// CPU-only compositor, but no display engine can scan it out: say so.
enum class Kind {
  dmabuf,         // a real DMA-BUF: a device (GPU, display) can access it
  shared_memory,  // a memfd: CPU-visible shared memory, not a DMA-BUF
};
std::string_view kind_name(Kind k);  // "dma-buf", "shared memory, not a DMA-BUF"

// How a CPU renderer's writes reach the memory the display reads.
//   mmap     through the buffer's one CPU mapping (made at allocation),
//            bracketed by DMA_BUF_IOCTL_SYNC: the CPU writes the very pages
//            the display engine scans out (memfd, udmabuf, a LINEAR GBM
//            buffer on Intel, AMD, Arm, or the plain virtio-gpu device).
//   gbm_map  through the driver, gbm_bo_map(GBM_BO_TRANSFER_WRITE) ...
//            gbm_bo_unmap, every frame: where the pages a CPU mapping shows
//            are only a copy of the buffer (virtio-gpu with virgl: the
//            resource lives on the host, and only a transfer, which Mesa
//            sends at the unmap, updates it). gbm_allocator.cpp says why.
enum class CpuWritePath { mmap, gbm_map };
const char* cpu_write_path_name(CpuWritePath p);  // "mmap", "gbm_map"

// Where one frame's CPU writes go, between begin_cpu_write and end_cpu_write.
// The stride is the mapping's: a driver's map may lay rows out differently
// from the buffer (a staging copy), so writers must use this one.
struct CpuWriteView {
  uint8_t* data = nullptr;
  uint32_t stride = 0;
};

class Buffer {
 public:
  Buffer(Dmabuf desc, Kind kind);
  virtual ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  const Dmabuf& desc() const { return desc_; }
  // A number no other Buffer of this process gets, ever (unlike its
  // address, which a later buffer may reuse): what per-buffer caches key on.
  uint64_t serial() const { return serial_; }
  Kind kind() const { return kind_; }
  uint32_t width() const { return desc_.width; }
  uint32_t height() const { return desc_.height; }
  uint32_t stride() const { return desc_.planes[0].stride; }
  uint32_t format() const { return desc_.format; }

  // Maps plane 0 (once; later calls return the same mapping). `writable` maps
  // PROT_READ|PROT_WRITE, otherwise read-only; a read-only mapping is upgraded
  // by remapping only if write access is later requested (never per frame).
  Result<std::span<uint8_t>> map(bool writable);
  bool mapped() const { return map_ != nullptr; }

  // CPU access to a dma-buf mapping must be bracketed by DMA_BUF_IOCTL_SYNC
  // so the exporter can flush or invalidate caches (a no-op on memfds).
  void begin_cpu_access(bool write);
  void end_cpu_access(bool write);

  // A frame written by the CPU: begin_cpu_write, write rows through the
  // view, end_cpu_write. The base class uses the mapping made at allocation
  // with DMA_BUF_IOCTL_SYNC around the writes (CpuWritePath::mmap); a
  // buffer whose CPU mapping is not what the display reads overrides all
  // three (GBM on virgl: CpuWritePath::gbm_map).
  virtual CpuWritePath cpu_write_path() const { return CpuWritePath::mmap; }
  virtual Result<CpuWriteView> begin_cpu_write();
  virtual void end_cpu_write();

 private:
  Dmabuf desc_;
  Kind kind_;
  uint64_t serial_;
  void* map_ = nullptr;
  size_t map_len_ = 0;
  bool map_writable_ = false;
};

// A frame of keep_row_bytes x keep_rows was just written into the top-left
// corner of a mapping whose earlier frames covered drawn_row_bytes x
// drawn_rows: zeroes what they left outside the new corner (and only that,
// so a small window costs its own size, not a clear of a 4K buffer), then
// records the new extent in drawn_row_bytes / drawn_rows.
void clear_stale(uint8_t* data, size_t stride, uint32_t keep_row_bytes, uint32_t keep_rows,
                 uint32_t& drawn_row_bytes, uint32_t& drawn_rows);

}  // namespace zc::buffer
