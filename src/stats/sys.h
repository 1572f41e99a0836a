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
  // Counted only when they enter the kernel: clock_gettime of a CPU-time
  // clock always, of CLOCK_MONOTONIC & co only where the clocksource has no
  // vDSO read (see stats::clock_source()). getrusage always does.
  clock_gettime, getrusage,
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
// Calls made at depth > 0 go to the thread's measuring counters instead.
void zcpipe_interpose_uncounted(int delta) noexcept;
// Copies this thread's measuring counters (calls made under ScopedUncounted).
void zcpipe_interpose_measuring_counts(uint64_t* out, size_t n) noexcept;
// Whether CLOCK_MONOTONIC/REALTIME/BOOTTIME/TAI reads are syscalls here (the
// clocksource has no vDSO mode). Until it is set, they are taken as vDSO reads.
void zcpipe_interpose_set_clock_syscall(bool syscall) noexcept;
// Called after each traced call: (Sys kind, fd, result, CLOCK_MONOTONIC start). Set for one frame by
// --explain; nullptr otherwise.
typedef void (*zcpipe_trace_hook)(int kind, int fd, long result, uint64_t start_ns);
void zcpipe_interpose_set_trace(zcpipe_trace_hook hook) noexcept;
// Called after each traced ioctl with its request and argument (still valid:
// the caller's struct, with the driver's outputs filled in), so the tracer can
// say what it meant (stats/ioctl_names.h). Set for one frame; nullptr otherwise.
typedef void (*zcpipe_ioctl_hook)(int fd, unsigned long request, void* arg, long result, int err, uint64_t start_ns);
void zcpipe_interpose_set_ioctl_trace(zcpipe_ioctl_hook hook) noexcept;
// True when the executable's wrappers are in its dynamic symbol table, i.e.
// shared libraries' calls reach them too.
bool zcpipe_interpose_exported() noexcept;
}
