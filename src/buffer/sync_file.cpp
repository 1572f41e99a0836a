#include "buffer/sync_file.h"

#include <linux/dma-buf.h>
#include <linux/sync_file.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>

// Older kernel headers (before Linux 6.0) lack the export ioctl; its ABI is
// fixed, so it is spelled out here. The kernel then answers ENOTTY.
#ifndef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
struct dma_buf_export_sync_file {
  __u32 flags;
  __s32 fd;
};
#define DMA_BUF_IOCTL_EXPORT_SYNC_FILE _IOWR(DMA_BUF_BASE, 2, struct dma_buf_export_sync_file)
#endif

namespace zc::buffer {
namespace {

// An ioctl, restarted when a signal interrupted it (EINTR) or the driver
// asked to be asked again (EAGAIN).
int ioctl_restarting(int fd, unsigned long request, void* arg) {
  int r;
  do r = ::ioctl(fd, request, arg);
  while (r < 0 && (errno == EINTR || errno == EAGAIN));
  return r;
}

}  // namespace

Result<UniqueFd> export_sync_file(int dmabuf_fd) {
  // READ: "I am going to read this buffer": the sync_file waits for the
  // writers (the GPU still rendering), not for other readers (a previous
  // scanout of the same buffer), which WRITE would add.
  dma_buf_export_sync_file req{};
  req.flags = DMA_BUF_SYNC_READ;
  req.fd = -1;
  if (ioctl_restarting(dmabuf_fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &req) < 0) return Error::from_errno("DMA_BUF_IOCTL_EXPORT_SYNC_FILE");
  return UniqueFd{req.fd};
}

Result<UniqueFd> merge_sync_files(int a, int b) {
  // The kernel makes a third file holding the union of both fence sets (a
  // fence that is in both is kept once); the inputs are untouched.
  sync_merge_data req{};
  std::snprintf(req.name, sizeof req.name, "zcpipe-planes");
  req.fd2 = b;
  req.fence = -1;
  if (ioctl_restarting(a, SYNC_IOC_MERGE, &req) < 0) return Error::from_errno("SYNC_IOC_MERGE");
  return UniqueFd{req.fence};
}

bool fence_signalled(int fd) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (POLLIN | POLLERR)) != 0;
}

std::optional<uint64_t> sync_file_signal_time(int fd) {
  // An exported sync_file usually holds one fence (one per GPU ring that
  // wrote the buffer); a few more are read on the stack, never allocated.
  std::array<sync_fence_info, 8> fences{};
  sync_file_info info{};
  info.num_fences = static_cast<__u32>(fences.size());
  info.sync_fence_info = reinterpret_cast<uintptr_t>(fences.data());
  if (::ioctl(fd, SYNC_IOC_FILE_INFO, &info) != 0) return std::nullopt;  // not a sync_file, or > 8 fences
  if (info.status != 1) return std::nullopt;                              // 0 active, < 0 error
  uint64_t latest = 0;
  for (uint32_t i = 0; i < std::min<uint32_t>(info.num_fences, fences.size()); ++i)
    latest = std::max<uint64_t>(latest, fences[i].timestamp_ns);
  return latest;
}

}  // namespace zc::buffer
