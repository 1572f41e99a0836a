// The kinds of syscall the interposer counts, and the tiny C interface between
// the interposer (compiled into each executable) and the stats library.
//
// This header is deliberately free of nlohmann/json and of every zcpipe type:
// syscall_interpose.cpp includes it and must stay a small, self-contained
// translation unit that any executable can compile in.
#pragma once

#include <cstddef>
#include <cstdint>

namespace zc::stats {

// The libc entry points the pipeline (our code, libwayland, libdrm, Mesa)
// uses to enter the kernel. Counted by the interposer (syscall_interpose.cpp).
// Large-file twins count as the same kind: pread64 -> pread, open64 -> open,
// mmap64 -> mmap, fcntl64 -> fcntl, lseek64 -> lseek, ftruncate64 ->
// ftruncate, fallocate64 -> fallocate, openat64 -> openat.
enum class Sys : uint8_t {
  read, write, readv, writev, pread, pwrite,
  send, recv, sendmsg, recvmsg,
  poll, ppoll, epoll_wait, epoll_pwait, epoll_ctl,
  ioctl, lseek, fcntl, close, dup, dup3,
  mmap, munmap, memfd_create, ftruncate, fallocate,
  socket, socketpair, connect, accept4,
  timerfd_create, timerfd_settime, eventfd,
  open, openat, clock_nanosleep,
  count_  // number of kinds
};
constexpr size_t kSysKinds = static_cast<size_t>(Sys::count_);

}  // namespace zc::stats

// Defined by syscall_interpose.cpp. The stats library declares them weak
// (ledger.cpp), so an executable without the interposer still links and simply
// reports zero syscalls, and interposer_linked() can tell the two apart.
extern "C" {
// Copies this thread's counters (at most n of them, indexed by Sys) to out.
void zcpipe_interpose_thread_counts(uint64_t* out, size_t n) noexcept;
// Adds delta (+1 / -1) to this thread's "do not count" depth (ScopedUncounted).
void zcpipe_interpose_uncounted(int delta) noexcept;
// Called after each traced call: (Sys kind, fd, result, CLOCK_MONOTONIC start). Set for one frame by
// --explain; nullptr otherwise.
typedef void (*zcpipe_trace_hook)(int kind, int fd, long result, uint64_t start_ns);
void zcpipe_interpose_set_trace(zcpipe_trace_hook hook) noexcept;
// True when the executable's wrappers are in its dynamic symbol table, i.e.
// shared libraries' calls reach them too.
bool zcpipe_interpose_exported() noexcept;
}
