// The per-frame ledger: what one frame cost one process.
//
// Each process (client, compositor) keeps a FrameLedger. A frame's window
// opens with begin_frame(N) and closes at the next begin_frame() or
// end_frame(); every syscall, context switch, page fault and microsecond of
// CPU inside the window is charged to frame N. CPU copies of pixel data are
// reported where they happen, with ledger.copy(bytes, where): this is the only
// way zcpipe code reports a copy.
//
// The per-frame path does no JSON, string or map work and never allocates:
// a frame is one fixed-size FrameRecord in a ring allocated once, and what the
// apps learn about a frame (when it was committed, whether it was shown ...)
// goes into named, typed fields of that record. JSON is built once, at exit,
// by stats/ledger_json.h, which is the only stats header that pulls in
// nlohmann/json.
//
// Long runs: the ring keeps the newest `capacity` records (the window the
// JSON states); the run's totals are exact over every frame.
//
// The ledger measures itself too. Its own syscalls (getrusage, a clock read
// where the clock is a syscall, /proc/self/io when asked for) are counted by
// the interposer into a separate "measuring" bucket, and the time spent
// inside its own code is timed; both are reported beside the pipeline's
// figures, never hidden in them and never silently dropped.
//
// --verify's work is kept apart the same way: an output that reads back what
// it shows (a stand-in for a display CRC, output/read_back.h) does so inside
// a ScopedVerify, and the CPU time and syscalls spent there are charged to the
// window's verify figures, not to the pipeline's.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
};

// Counts of this thread since it started, as seen by the interposer (all zero
// when the executable was linked without it).
SyscallCounts thread_syscalls();
// Calls this thread made while a ScopedUncounted was alive: the cost of
// measuring (the ledger's own getrusage, clock reads, /proc reads, tracing).
SyscallCounts thread_measuring_syscalls();
// True when this executable was linked with the interposer (zcpipe_interpose_dep).
bool interposer_linked();
// True when, in addition, shared libraries' calls reach the interposer (its
// wrappers are in the executable's dynamic symbol table; see meson.build).
// When false, only the executable's own calls are counted.
bool interposer_exported();

// Syscalls made while an instance is alive are not charged to the frame: they
// are the ledger's own measuring (getrusage, reading the clock or
// /proc/self/io) and are counted apart (thread_measuring_syscalls()).
class ScopedUncounted {
 public:
  ScopedUncounted();
  ~ScopedUncounted();
  ScopedUncounted(const ScopedUncounted&) = delete;
  ScopedUncounted& operator=(const ScopedUncounted&) = delete;
};

// Work done while an instance is alive on a thread is --verify's, not the
// pipeline's: the thread's CPU time in it (CLOCK_THREAD_CPUTIME_ID, read at
// both ends: two clock reads, counted as measuring) and the syscalls it made
// are taken out of the open frame window's figures and reported as that
// window's verify_us / verify_syscalls. Without it, checksumming a 4K frame
// twice per flip (shown, then leaving) would be most of what a frame seems to
// cost the compositor. Nested instances count once (the outermost).
class ScopedVerify {
 public:
  ScopedVerify();
  ~ScopedVerify();
  ScopedVerify(const ScopedVerify&) = delete;
  ScopedVerify& operator=(const ScopedVerify&) = delete;

 private:
  bool outer_ = false;
  uint64_t cpu0_ns_ = 0;
  SyscallCounts sys0_;
};

// Whether reading CLOCK_MONOTONIC enters the kernel on this machine. The
// vDSO answers clock_gettime in user space only when the kernel's clocksource
// can be read from user space (tsc, kvm-clock, Hyper-V's TSC page, arm64's
// arch_sys_counter); with hpet or acpi_pm (QEMU's default guest) every read
// is a real syscall. Read once from
// /sys/devices/system/clocksource/clocksource0/current_clocksource and handed
// to the interposer, which then counts clock_gettime only when it is a syscall.
struct ClockSource {
  std::string name;      // "tsc", "hpet", ... or "unknown"
  bool syscall = false;  // CLOCK_MONOTONIC reads enter the kernel
};
const ClockSource& clock_source();
// The rule itself, exposed for tests.
bool clocksource_is_vdso(std::string_view name);

// A snapshot of every counter the kernel keeps for us.
struct Sample {
  uint64_t mono_ns = 0;
  SyscallCounts sys;
  SyscallCounts measuring;  // the interposer's measuring bucket
  uint64_t voluntary_cs = 0, involuntary_cs = 0;  // getrusage(RUSAGE_THREAD)
  uint64_t minor_faults = 0, major_faults = 0;
  uint64_t user_us = 0, system_us = 0;
  uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0;  // /proc/self/io (process-wide)
  // getrusage(RUSAGE_SELF): every thread of the process, when asked for
  // (LedgerOptions::process_cpu). A GL driver draws in threads of its own
  // (llvmpipe's rasterizer threads, virgl's submission thread), which the
  // thread figures above never see.
  uint64_t process_user_us = 0, process_system_us = 0;
};

// Takes Samples of the calling thread. getrusage(RUSAGE_THREAD) and the
// syscall counters describe the thread that calls sample(), so a Sampler (and
// the FrameLedger that owns it) belongs to one thread.
class Sampler {
 public:
  // proc_io: also read /proc/self/io at every sample (one pread more); the
  // descriptor is opened once (O_CLOEXEC).
  // process_cpu: also getrusage(RUSAGE_SELF) at every sample (one call more).
  static Result<Sampler> create(bool proc_io = true, bool process_cpu = false);
  Sample sample();                   // uncounted: getrusage, a clock read, maybe a pread
  bool has_io() const { return static_cast<bool>(io_fd_); }  // /proc/self/io readable

  // Move-only: it owns the /proc/self/io descriptor.
  Sampler(Sampler&&) noexcept = default;
  Sampler& operator=(Sampler&&) noexcept = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

 private:
  Sampler(UniqueFd io_fd, bool process_cpu) : io_fd_(std::move(io_fd)), process_cpu_(process_cpu) {}
  UniqueFd io_fd_;
  bool process_cpu_ = false;  // empty when /proc/self/io is unread or unreadable: those fields stay 0
};

// One CPU copy of pixel data. `where` is a string literal (static storage):
// storing the pointer costs nothing per frame.
struct CopyRecord {
  const char* where = nullptr;
  uint64_t bytes = 0;
};
constexpr size_t kMaxCopiesPerFrame = 4;  // socket: write, read, memcpy, + an output copy

enum class Scanout : uint8_t { unknown, direct, copy };

// What the apps learn about a frame, as named fields. `has` says which were
// set (0 is a valid checksum or commit number); the setters keep it right.
struct FrameNotes {
  enum Bit : uint32_t {
    kReadyNs = 1u << 0,        // client: the frame was rendered
    kCommitNs = 1u << 1,       // wl_surface.commit (client: sent; compositor: applied)
    kSurfaceCommit = 1u << 2,  // compositor: the surface's commit number
    kChecksum = 1u << 3,       // client: rendered; compositor (--verify): shown
    kShownFrame = 1u << 4,     // compositor (--verify): frame number read from the pixels
    kPresented = 1u << 5,      // presented_ns, msc, zero_copy are set
    kDiscarded = 1u << 6,      // never shown
    kFeedback = 1u << 7,       // client: refresh_ns, presentation_flags are set
    kOutputCopy = 1u << 8,     // compositor: the output copied output_copy_bytes
    kFence = 1u << 9,          // compositor (KMS, direct dma-buf): the fence_* fields are set
    // (A bit far from the others: helpers add bits in parallel; 16 avoids a clash.)
    kCpuTouched = 1u << 16,    // client: cpu_touched_bytes is set (0 included: the GPU drew)
    // (Far from the others too, for the same reason.)
    kCopyFence = 1u << 24,     // compositor (KMS, copied dma-buf): copy_fence_* are set
  };
  uint32_t has = 0;
  uint64_t ready_ns = 0, commit_ns = 0, surface_commit = 0;
  uint64_t checksum = 0;
  uint32_t shown_frame = 0;
  uint64_t presented_ns = 0, msc = 0;
  uint32_t refresh_ns = 0, presentation_flags = 0;
  bool zero_copy = false;
  Scanout scanout = Scanout::unknown;
  uint32_t scanout_reasons = 0;     // bitmask, named at exit (FrameLedger::set_reason_names)
  const char* buffer_kind = nullptr;  // string literal, e.g. "dma-buf", "wl_shm"
  // compositor (--verify): how the shown buffer was read, a string literal:
  // "mmap" (the CPU's mapping of it) or "gbm_map" (through its driver,
  // output/read_back.h); nullptr: not read.
  const char* verify_read = nullptr;
  uint64_t output_copy_bytes = 0;
  // The render fence on KMS (output/kms/fence.h, docs/fences.md).
  bool fence_attached = false;  // IN_FENCE_FD (true), or the output waited in its loop (false)
  bool out_fence = false;       // OUT_FENCE_PTR returned a sync_file, signalled by the flip
  uint64_t fence_signal_ns = 0; // commit -> render fence signalled (0: before the commit)
  uint64_t fence_wait_ns = 0;   // the commit held back until it signalled
  uint64_t flip_ns = 0;         // commit -> on screen
  // The copy fallback waited for the buffer's render fence in the event
  // loop, not in DMA_BUF_IOCTL_SYNC (output/kms/fence.h, docs/fences.md).
  bool copy_fence_waited = false;  // it had not signalled: the copy was deferred
  uint64_t copy_fence_wait_ns = 0; // copy wanted -> copy made
  // Bytes of pixel memory the client's CPU wrote or read in this frame, per
  // access (a frame drawn and then read back for its checksum counts twice):
  // what a GPU renderer saves the CPU. 0 with the GL renderer.
  uint64_t cpu_touched_bytes = 0;

  bool is(Bit b) const { return (has & b) != 0; }
  void add_cpu_touched(uint64_t bytes) { cpu_touched_bytes += bytes; has |= kCpuTouched; }
  void set_ready(uint64_t ns) { ready_ns = ns; has |= kReadyNs; }
  void set_commit(uint64_t ns) { commit_ns = ns; has |= kCommitNs; }
  void set_surface_commit(uint64_t n) { surface_commit = n; has |= kSurfaceCommit; }
  void set_checksum(uint64_t sum) { checksum = sum; has |= kChecksum; }
  void set_shown_frame(uint32_t n) { shown_frame = n; has |= kShownFrame; }
  void set_presented(uint64_t ns, uint64_t seq, bool zc) {
    presented_ns = ns;
    msc = seq;
    zero_copy = zc;
    has |= kPresented;
  }
  void set_feedback(uint32_t refresh, uint32_t flags) {
    refresh_ns = refresh;
    presentation_flags = flags;
    has |= kFeedback;
  }
  void set_discarded() { has |= kDiscarded; }
  void set_output_copy(uint64_t bytes) { output_copy_bytes = bytes; has |= kOutputCopy; }
  void set_fence(bool attached, uint64_t signal_ns, uint64_t wait_ns, uint64_t flip, bool out) {
    fence_attached = attached;
    fence_signal_ns = signal_ns;
    fence_wait_ns = wait_ns;
    flip_ns = flip;
    out_fence = out;
    has |= kFence;
  }
  void set_copy_fence(bool waited, uint64_t wait_ns) {
    copy_fence_waited = waited;
    copy_fence_wait_ns = wait_ns;
    has |= kCopyFence;
  }
};

// One frame in one process. Trivially copyable, fixed size: the ring holds
// these by value.
struct FrameRecord {
  uint64_t frame = 0;
  uint64_t start_ns = 0, end_ns = 0;  // end_ns 0: the window is still open
  uint32_t cpu_copies = 0;
  uint64_t cpu_copy_bytes = 0;
  std::array<CopyRecord, kMaxCopiesPerFrame> copies{};  // the first ones, in order
  uint8_t n_copies = 0;                                  // of them in `copies`
  SyscallCounts syscalls;
  uint64_t voluntary_cs = 0, involuntary_cs = 0, minor_faults = 0, major_faults = 0;
  uint64_t user_us = 0, system_us = 0;
  uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0;
  bool io = false;                 // rchar..syscw were sampled (/proc/self/io per frame)
  uint64_t measure_syscalls = 0;   // the ledger's own calls inside this window
  uint64_t measure_ticks = 0;      // timer ticks inside the ledger's own code in this window
  bool process = false;            // process_*_us were sampled (LedgerOptions::process_cpu)
  uint64_t process_user_us = 0, process_system_us = 0;  // all threads of the process
  uint64_t verify_syscalls = 0;    // --verify's calls in this window (ScopedVerify), not in `syscalls`
  uint64_t verify_cpu_ns = 0;      // --verify's CPU time in this window, not in cpu_us()
  FrameNotes notes;

  uint64_t mode_switches() const { return 2 * syscalls.total(); }  // enter + leave the kernel
  uint64_t context_switches() const { return voluntary_cs + involuntary_cs; }
  // What the kernel charged the thread in this window, measuring and verify included.
  uint64_t raw_cpu_us() const { return user_us + system_us; }
};

// Exact sums over every frame of the run, whatever the ring kept.
struct LedgerTotals {
  uint64_t frames = 0;
  uint64_t cpu_copies = 0, cpu_copy_bytes = 0;
  SyscallCounts syscalls;
  SyscallCounts measure_syscalls;
  uint64_t measure_ticks = 0;
  SyscallCounts verify_syscalls;  // --verify's (ScopedVerify), inside frame windows
  uint64_t verify_cpu_ns = 0;
  uint64_t voluntary_cs = 0, involuntary_cs = 0, minor_faults = 0, major_faults = 0;
  uint64_t user_us = 0, system_us = 0;
  uint64_t process_user_us = 0, process_system_us = 0;  // LedgerOptions::process_cpu
};

struct LedgerOptions {
  size_t capacity = 4096;  // frame records kept (the newest); fixed memory
  bool proc_io = false;    // read /proc/self/io at every boundary (one pread more per frame)
  // Also the whole process's CPU per frame (getrusage(RUSAGE_SELF), one call
  // more per boundary): the thread figures miss work done in other threads,
  // such as a GL driver's.
  bool process_cpu = false;
};

// Names the bits of FrameNotes::scanout_reasons for the JSON: one stable
// name per bit, or one sentence for learners; nullptr for an unknown bit.
// The stats layer does not know the output's enum (it sits below it), so the
// app that owns both registers these (output::reason_name / reason_sentence).
using ReasonNamer = const char* (*)(uint32_t bit);

// One per process and thread that paces frames (see Sampler). Move-only.
class FrameLedger {
 public:
  // ZCPIPE_LEDGER_IO=1 in the environment turns LedgerOptions::proc_io on.
  static Result<FrameLedger> create(std::string process, LedgerOptions options = {});
  // Closes the open window (if any), opens frame's window. Beginning a frame
  // number again makes a second record; record() then finds the newer one.
  void begin_frame(uint64_t frame);
  void end_frame();  // closes the open window (no-op if none)
  // Trace this frame's window (stats/trace.h); the events are written with
  // that frame's record at exit. For zcpipe-demo --explain.
  void set_trace_frame(uint64_t frame) { trace_frame_ = frame; }
  // `where` must be a string literal (it is kept as a pointer).
  void copy(uint64_t bytes, const char* where);
  // The newest record of that frame (open or closed) still in the ring, or
  // nullptr: an app learning something about a frame the ring no longer holds
  // simply has nowhere to write it.
  FrameRecord* record(uint64_t frame);
  const FrameRecord* record(uint64_t frame) const;
  bool has_frame(uint64_t frame) const { return record(frame) != nullptr; }
  // The newest (open) record, or nullptr before the first begin_frame.
  FrameRecord* current() { return open_ ? &slot(begun_ - 1) : nullptr; }
  // A clock read for an app's timestamp (ready, commit): counted as measuring.
  uint64_t now_ns();
  bool window_open() const { return open_; }

  // Records kept, oldest first: index 0 .. size()-1.
  size_t size() const { return begun_ < cap_ ? begun_ : cap_; }
  const FrameRecord& at(size_t i) const { return slot(begun_ - size() + i); }
  size_t capacity() const { return cap_; }
  uint64_t frames_begun() const { return begun_; }
  uint64_t frames_dropped() const { return begun_ - size(); }  // fell out of the ring

  const LedgerTotals& totals() const { return totals_; }
  uint64_t unattributed_copies() const { return unattributed_copies_; }  // should be 0
  uint64_t unattributed_copy_bytes() const { return unattributed_bytes_; }
  const std::string& process() const { return process_; }
  bool proc_io() const { return sampler_.has_io(); }
  uint64_t trace_frame() const { return trace_frame_; }
  // The ledger's own time: timer ticks (the CPU's time-stamp counter, read
  // without a syscall) converted with a rate calibrated against the samples'
  // clock over the run.
  double ticks_to_us(uint64_t ticks) const;
  double measure_us(const FrameRecord& r) const { return ticks_to_us(r.measure_ticks); }
  static double verify_us(const FrameRecord& r) { return static_cast<double>(r.verify_cpu_ns) / 1000.0; }
  // The pipeline's CPU in a window: the kernel's figure less the ledger's own
  // time and less --verify's.
  double cpu_us(const FrameRecord& r) const;
  // The same for every thread of the process (0 unless process_cpu).
  double process_cpu_us(const FrameRecord& r) const;
  bool process_cpu() const { return process_cpu_; }
  void set_reason_names(ReasonNamer name, ReasonNamer sentence) {
    namer_ = name;
    describer_ = sentence;
  }
  // The stable name / the sentence of one bit, or nullptr when none is known.
  const char* reason_name(uint32_t bit) const { return namer_ != nullptr ? namer_(bit) : nullptr; }
  const char* reason_sentence(uint32_t bit) const { return describer_ != nullptr ? describer_(bit) : nullptr; }

 private:
  FrameLedger(std::string process, Sampler sampler, size_t capacity);
  FrameRecord& slot(uint64_t i) { return ring_[i % cap_]; }
  const FrameRecord& slot(uint64_t i) const { return ring_[i % cap_]; }
  void close_window(const Sample& now);

  std::string process_;
  Sampler sampler_;
  bool process_cpu_ = false;
  std::unique_ptr<FrameRecord[]> ring_;
  size_t cap_ = 0;
  uint64_t begun_ = 0;  // records ever begun; the newest is begun_ - 1
  bool open_ = false;
  Sample open_start_;  // the sample that opened the newest record
  uint64_t first_tick_ = 0, first_ns_ = 0, last_tick_ = 0, last_ns_ = 0;  // calibration
  LedgerTotals totals_;
  uint64_t unattributed_copies_ = 0;
  uint64_t unattributed_bytes_ = 0;
  uint64_t trace_frame_ = UINT64_MAX;
  ReasonNamer namer_ = nullptr;
  ReasonNamer describer_ = nullptr;
};

// Robust summary of one figure over a run's frames.
struct Summary {
  size_t n = 0;
  double median = 0, p99 = 0, max = 0, mean = 0, min = 0;
};
Summary summarize(std::vector<double> values);  // p99 by nearest rank; empty -> all 0

}  // namespace zc::stats
