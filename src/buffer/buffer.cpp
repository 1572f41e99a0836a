#include "buffer/buffer.h"

#include <linux/dma-buf.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace zc::buffer {

std::string_view kind_name(Kind k) {
  return k == Kind::dmabuf ? "dma-buf" : "shared memory, not a DMA-BUF";
}

const char* cpu_write_path_name(CpuWritePath p) { return p == CpuWritePath::gbm_map ? "gbm_map" : "mmap"; }

namespace {
std::atomic<uint64_t> next_serial{1};
}  // namespace

Buffer::Buffer(Dmabuf desc, Kind kind)
    : desc_(std::move(desc)), kind_(kind), serial_(next_serial.fetch_add(1, std::memory_order_relaxed)) {}

Buffer::~Buffer() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
}

Result<std::span<uint8_t>> Buffer::map(bool writable) {
  if (map_ != nullptr && (map_writable_ || !writable))
    return std::span<uint8_t>(static_cast<uint8_t*>(map_) + desc_.planes[0].offset,
                              map_len_ - desc_.planes[0].offset);
  const int64_t size = fd_size(desc_.planes[0].fd.get());
  const uint64_t need = desc_.plane0_extent();
  if (size < 0) return Error::from_errno("cannot size buffer fd");
  if (static_cast<uint64_t>(size) < need) return Error{EINVAL, "buffer smaller than its layout"};
  const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = ::mmap(nullptr, static_cast<size_t>(size), prot, MAP_SHARED, desc_.planes[0].fd.get(), 0);
  if (p == MAP_FAILED) {
    // Mesa 22.3's gbm_bo_get_fd() exports O_RDONLY dma-bufs: PROT_WRITE fails with EACCES.
    return Error::from_errno(writable ? "mmap(PROT_WRITE) of buffer" : "mmap of buffer");
  }
  if (map_ != nullptr) ::munmap(map_, map_len_);
  map_ = p;
  map_len_ = static_cast<size_t>(size);
  map_writable_ = writable;
  return std::span<uint8_t>(static_cast<uint8_t*>(map_) + desc_.planes[0].offset,
                            map_len_ - desc_.planes[0].offset);
}

static void dmabuf_sync(int fd, uint64_t flags) {
  dma_buf_sync sync{};
  sync.flags = flags;
  while (::ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) == -1 && (errno == EINTR || errno == EAGAIN)) {
  }
}

void Buffer::begin_cpu_access(bool write) {
  if (kind_ != Kind::dmabuf) return;
  dmabuf_sync(desc_.planes[0].fd.get(),
              DMA_BUF_SYNC_START | (write ? DMA_BUF_SYNC_RW : DMA_BUF_SYNC_READ));
}

void Buffer::end_cpu_access(bool write) {
  if (kind_ != Kind::dmabuf) return;
  dmabuf_sync(desc_.planes[0].fd.get(),
              DMA_BUF_SYNC_END | (write ? DMA_BUF_SYNC_RW : DMA_BUF_SYNC_READ));
}

Result<CpuWriteView> Buffer::begin_cpu_write() {
  auto px = map(true);  // already mapped at allocation: returns the same mapping
  if (!px) return px.error();
  // A dma-buf's caches may need flushing around CPU writes (DMA_BUF_IOCTL_SYNC).
  begin_cpu_access(true);
  return CpuWriteView{px->data(), stride()};
}

void Buffer::end_cpu_write() { end_cpu_access(true); }

void clear_stale(uint8_t* data, size_t stride, uint32_t keep_row_bytes, uint32_t keep_rows,
                 uint32_t& drawn_row_bytes, uint32_t& drawn_rows) {
  if (keep_row_bytes < drawn_row_bytes)
    for (uint32_t y = 0; y < std::min(keep_rows, drawn_rows); ++y)
      std::memset(data + y * stride + keep_row_bytes, 0, drawn_row_bytes - keep_row_bytes);
  for (uint32_t y = keep_rows; y < drawn_rows; ++y) std::memset(data + y * stride, 0, drawn_row_bytes);
  drawn_row_bytes = keep_row_bytes;
  drawn_rows = keep_rows;
}

}  // namespace zc::buffer
