// Render fences as file descriptors: the kernel's sync_file.
//
// A GPU renders asynchronously: when eglSwapBuffers / glFlush returns, the
// commands are queued, not done. The kernel tracks "who still writes this
// buffer" with dma_fence objects attached to the buffer's dma-buf (its
// reservation object): this is IMPLICIT sync — nobody passes a fence
// around, anyone who uses the buffer through the kernel is made to wait.
//
// EXPLICIT sync hands the fence itself around, as a file descriptor: a
// sync_file. poll() on it says POLLIN once every fence in it has signalled;
// KMS takes one per plane (the IN_FENCE_FD property) so that the display,
// not the compositor, waits for the GPU. Since Linux 6.0 a dma-buf can give
// its implicit fences out as a sync_file (DMA_BUF_IOCTL_EXPORT_SYNC_FILE):
// the bridge between the two worlds, used by wlroots and Weston.
// See docs/fences.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "common/result.h"
#include "common/unique_fd.h"

namespace zc::buffer {

// DMA_BUF_IOCTL_EXPORT_SYNC_FILE with DMA_BUF_SYNC_READ: a sync_file that
// signals once every write to the buffer queued so far (the client's
// rendering) has finished — what a reader (the display) must wait for.
// Errors: ENOTTY or EINVAL on kernels before 6.0 (and on fds that are not
// dma-bufs, such as memfds).
Result<UniqueFd> export_sync_file(int dmabuf_fd);
// The same signature, injectable (the unit tests hand out fds they control).
using SyncFileExporter = std::function<Result<UniqueFd>(int dmabuf_fd)>;

// SYNC_IOC_MERGE: a new sync_file holding the fences of both `a` and `b`,
// that signals once all of them have. A plane's IN_FENCE_FD takes exactly
// one fd, so a buffer whose planes are separate objects (each with its own
// fences) hands the display their merge. `a` and `b` stay the caller's.
Result<UniqueFd> merge_sync_files(int a, int b);
// The same signature, injectable (the unit tests merge fds they control).
using SyncFileMerger = std::function<Result<UniqueFd>(int a, int b)>;

// Whether the fence behind `fd` has signalled: poll(POLLIN) without
// waiting. Works on a sync_file and on a dma-buf itself (POLLIN on a
// dma-buf waits for its implicit write fences): never blocks.
bool fence_signalled(int fd);

// When the sync_file's fences signalled (CLOCK_MONOTONIC ns, the latest of
// them), as the kernel recorded it (SYNC_IOC_FILE_INFO): exact, however
// late the event loop looked. nullopt when `fd` is not a sync_file, has not
// signalled, or holds more fences than this reads.
std::optional<uint64_t> sync_file_signal_time(int fd);

}  // namespace zc::buffer
