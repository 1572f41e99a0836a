// The per-frame ledger: what one frame cost one process.
//
// Each process (client, compositor) keeps a FrameLedger. A frame's window
// opens with begin_frame(N) and closes at the next begin_frame() or
// end_frame(); every syscall, context switch, page fault and microsecond of
// CPU inside the window is charged to frame N. CPU copies of pixel data are
// reported where they happen, with ledger.copy(bytes, where): this is the only
// way zcpipe code reports a copy.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace zc::stats {

// The libc entry points the pipeline (our code, libwayland, libdrm, Mesa)
// uses to enter the kernel. Counted by the interposer (syscall_interpose.cpp).
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
std::string_view sys_name(Sys s);

struct SyscallCounts {
  std::array<uint64_t, kSysKinds> n{};
  uint64_t total() const;
  uint64_t operator[](Sys s) const { return n[static_cast<size_t>(s)]; }
  SyscallCounts operator-(const SyscallCounts& o) const;
  SyscallCounts& operator+=(const SyscallCounts& o);
  nlohmann::json to_json() const;  // {"total": T, "by_call": {"sendmsg": 2, ...}} (non-zero only)
};

// Counts of this thread since it started, as seen by the interposer.
SyscallCounts thread_syscalls();
// True when this executable was linked with the interposer (zcpipe_interpose_dep).
bool interposer_linked();

// Syscalls made while an instance is alive are not counted: the ledger's own
// measuring (getrusage, reading /proc/self/io) must not bill the frame.
class ScopedUncounted {
 public:
  ScopedUncounted();
  ~ScopedUncounted();
  ScopedUncounted(const ScopedUncounted&) = delete;
  ScopedUncounted& operator=(const ScopedUncounted&) = delete;
};

// A snapshot of every counter the kernel keeps for us.
struct Sample {
  uint64_t mono_ns = 0;
  SyscallCounts sys;
  uint64_t voluntary_cs = 0, involuntary_cs = 0;  // getrusage(RUSAGE_THREAD)
  uint64_t minor_faults = 0, major_faults = 0;
  uint64_t user_us = 0, system_us = 0;
  uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0;  // /proc/self/io (process-wide)
};

class Sampler {
 public:
  static Result<Sampler> create();  // opens /proc/self/io once
  Sample sample();                   // uncounted: getrusage + pread
  // (move-only; holds the /proc/self/io descriptor)
 private:
  int io_fd_ = -1;  // see sampler.cpp for ownership
};

struct FrameRecord {
  uint64_t frame = 0;
  uint64_t start_ns = 0, end_ns = 0;
  uint32_t cpu_copies = 0;
  uint64_t cpu_copy_bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> copies;  // (where, bytes) in order
  SyscallCounts syscalls;
  uint64_t voluntary_cs = 0, involuntary_cs = 0, minor_faults = 0, major_faults = 0;
  uint64_t user_us = 0, system_us = 0;
  uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0;
  nlohmann::json extra = nlohmann::json::object();  // app data: latency_us, checksum, ...

  uint64_t mode_switches() const { return 2 * syscalls.total(); }  // enter + leave the kernel
  uint64_t context_switches() const { return voluntary_cs + involuntary_cs; }
  uint64_t cpu_us() const { return user_us + system_us; }
  nlohmann::json to_json() const;
};

class FrameLedger {
 public:
  static Result<FrameLedger> create(std::string process);
  void begin_frame(uint64_t frame);  // closes the open window (if any), opens frame's window
  void end_frame();                  // closes the open window (no-op if none)
  void copy(uint64_t bytes, std::string_view where);
  nlohmann::json& annotate(uint64_t frame);  // extra of that frame's record (must exist)
  const std::vector<FrameRecord>& frames() const;
  uint64_t unattributed_copies() const;  // copies reported with no open window (should be 0)
  nlohmann::json to_json() const;        // {"process": ..., "frames": [...], ...}
};

// Robust summary of one figure over a run's frames.
struct Summary {
  size_t n = 0;
  double median = 0, p99 = 0, max = 0, mean = 0, min = 0;
  nlohmann::json to_json() const;  // {"median":..,"p99":..,"max":..,"mean":..,"min":..,"n":..}
};
Summary summarize(std::vector<double> values);  // p99 by nearest rank; empty -> all 0

}  // namespace zc::stats
