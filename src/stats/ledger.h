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
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "stats/sys.h"

namespace zc::stats {

// enum class Sys (the counted libc entry points) and kSysKinds: stats/sys.h.
std::string_view sys_name(Sys s);

struct SyscallCounts {
  std::array<uint64_t, kSysKinds> n{};
  uint64_t total() const;
  uint64_t operator[](Sys s) const { return n[static_cast<size_t>(s)]; }
  SyscallCounts operator-(const SyscallCounts& o) const;  // per kind, saturating at 0
  SyscallCounts& operator+=(const SyscallCounts& o);
  nlohmann::json to_json() const;  // {"total": T, "by_call": {"sendmsg": 2, ...}} (non-zero only)
};

// Counts of this thread since it started, as seen by the interposer (all zero
// when the executable was linked without it).
SyscallCounts thread_syscalls();
// True when this executable was linked with the interposer (zcpipe_interpose_dep).
bool interposer_linked();
// True when, in addition, shared libraries' calls reach the interposer (its
// wrappers are in the executable's dynamic symbol table; see meson.build).
// When false, only the executable's own calls are counted.
bool interposer_exported();

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

// Takes Samples of the calling thread. getrusage(RUSAGE_THREAD) and the
// syscall counters describe the thread that calls sample(), so a Sampler (and
// the FrameLedger that owns it) belongs to one thread.
class Sampler {
 public:
  static Result<Sampler> create();  // opens /proc/self/io once (O_CLOEXEC)
  Sample sample();                   // uncounted: getrusage + pread
  bool has_io() const { return static_cast<bool>(io_fd_); }  // /proc/self/io readable

  // Move-only: it owns the /proc/self/io descriptor.
  Sampler(Sampler&&) noexcept = default;
  Sampler& operator=(Sampler&&) noexcept = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

 private:
  explicit Sampler(UniqueFd io_fd) : io_fd_(std::move(io_fd)) {}
  UniqueFd io_fd_;  // empty when /proc/self/io is unreadable: those fields stay 0
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

// One per process and thread that paces frames (see Sampler). Move-only.
class FrameLedger {
 public:
  static Result<FrameLedger> create(std::string process);
  // Reserves room for this many frame records, so the steady state does not
  // grow vectors or rehash per frame. Call once before the run.
  void reserve(size_t frames);
  // Closes the open window (if any), opens frame's window. Beginning a frame
  // number again makes a second record; annotate() then finds the newer one.
  void begin_frame(uint64_t frame);
  void end_frame();
  // Trace this frame's window (stats/trace.h): its events land in the
  // record's extra["trace"]. For zcpipe-demo --explain.
  void set_trace_frame(uint64_t frame) { trace_frame_ = frame; }                  // closes the open window (no-op if none)
  void copy(uint64_t bytes, std::string_view where);
  // extra of that frame's record, open or closed. For a frame with no record,
  // nothing is created: the result is a scratch object whose contents are
  // discarded (cleared at the next call) and never reported. The reference is
  // valid until the next begin_frame()/annotate() call.
  nlohmann::json& annotate(uint64_t frame);
  bool has_frame(uint64_t frame) const;
  const std::vector<FrameRecord>& frames() const;
  bool window_open() const { return open_; }
  uint64_t unattributed_copies() const;  // copies reported with no open window (should be 0)
  // {"process": name, "interposer": bool, "unattributed_copies": n,
  //  "unattributed_copy_bytes": b, "frames": [records]}
  // The open frame, if any, appears with end_ns 0 and zero counters.
  nlohmann::json to_json() const;

 private:
  FrameLedger(std::string process, Sampler sampler)
      : process_(std::move(process)), sampler_(std::move(sampler)) {}
  void close_window(const Sample& now);

  std::string process_;
  Sampler sampler_;
  std::vector<FrameRecord> records_;
  std::unordered_map<uint64_t, size_t> index_;  // frame number -> records_ index
  bool open_ = false;
  Sample open_start_;  // the sample that opened records_.back()
  uint64_t unattributed_copies_ = 0;
  uint64_t unattributed_bytes_ = 0;
  uint64_t trace_frame_ = UINT64_MAX;
  nlohmann::json scratch_;  // annotate() of an unknown frame
};

// Robust summary of one figure over a run's frames.
struct Summary {
  size_t n = 0;
  double median = 0, p99 = 0, max = 0, mean = 0, min = 0;
  nlohmann::json to_json() const;  // {"median":..,"p99":..,"max":..,"mean":..,"min":..,"n":..}
};
Summary summarize(std::vector<double> values);  // p99 by nearest rank; empty -> all 0

}  // namespace zc::stats
