// FrameLedger and friends: turning counter snapshots into per-frame records.
//
// A frame's cost is always a difference of two snapshots (Sample) of
// monotonically growing counters, taken when its window opens and closes.
// Nothing is sampled per syscall or per copy, so the ledger costs one
// boundary per frame, whatever the frame does: one getrusage, one clock read
// (a syscall only where the clocksource forces it), and a pread of
// /proc/self/io only when asked for. Those calls are counted (as measuring,
// apart from the frame's own) and the time spent here is timed.
#include "stats/ledger.h"
#include "stats/trace.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "common/clock.h"
#include "common/log.h"

// The interposer's side of stats/sys.h, declared weak: if no object in the
// executable defines them (it was linked without zcpipe_interpose_dep) their
// addresses are null instead of a link error.
extern "C" {
[[gnu::weak]] void zcpipe_interpose_thread_counts(uint64_t* out, size_t n) noexcept;
[[gnu::weak]] void zcpipe_interpose_uncounted(int delta) noexcept;
[[gnu::weak]] bool zcpipe_interpose_exported() noexcept;
[[gnu::weak]] void zcpipe_interpose_measuring_counts(uint64_t* out, size_t n) noexcept;
[[gnu::weak]] void zcpipe_interpose_set_clock_syscall(bool syscall) noexcept;
}

namespace zc::stats {

// ---- syscall counts ---------------------------------------------------------

std::string_view sys_name(Sys s) {
  switch (s) {
    case Sys::read: return "read";
    case Sys::write: return "write";
    case Sys::readv: return "readv";
    case Sys::writev: return "writev";
    case Sys::pread: return "pread";
    case Sys::pwrite: return "pwrite";
    case Sys::send: return "send";
    case Sys::recv: return "recv";
    case Sys::sendmsg: return "sendmsg";
    case Sys::recvmsg: return "recvmsg";
    case Sys::poll: return "poll";
    case Sys::ppoll: return "ppoll";
    case Sys::epoll_wait: return "epoll_wait";
    case Sys::epoll_pwait: return "epoll_pwait";
    case Sys::epoll_ctl: return "epoll_ctl";
    case Sys::ioctl: return "ioctl";
    case Sys::lseek: return "lseek";
    case Sys::fcntl: return "fcntl";
    case Sys::close: return "close";
    case Sys::dup: return "dup";
    case Sys::dup3: return "dup3";
    case Sys::mmap: return "mmap";
    case Sys::munmap: return "munmap";
    case Sys::memfd_create: return "memfd_create";
    case Sys::ftruncate: return "ftruncate";
    case Sys::fallocate: return "fallocate";
    case Sys::socket: return "socket";
    case Sys::socketpair: return "socketpair";
    case Sys::connect: return "connect";
    case Sys::accept4: return "accept4";
    case Sys::timerfd_create: return "timerfd_create";
    case Sys::timerfd_settime: return "timerfd_settime";
    case Sys::eventfd: return "eventfd";
    case Sys::open: return "open";
    case Sys::openat: return "openat";
    case Sys::clock_nanosleep: return "clock_nanosleep";
    case Sys::clock_gettime: return "clock_gettime";
    case Sys::getrusage: return "getrusage";
    case Sys::count_: break;
  }
  return "?";
}

uint64_t SyscallCounts::total() const {
  uint64_t t = 0;
  for (uint64_t v : n) t += v;
  return t;
}

// Saturating: a difference of counters from two different threads (a misuse)
// shows as 0 rather than as 18 quintillion in a report.
SyscallCounts SyscallCounts::operator-(const SyscallCounts& o) const {
  SyscallCounts d;
  for (size_t i = 0; i < kSysKinds; ++i) d.n[i] = n[i] > o.n[i] ? n[i] - o.n[i] : 0;
  return d;
}

SyscallCounts& SyscallCounts::operator+=(const SyscallCounts& o) {
  for (size_t i = 0; i < kSysKinds; ++i) n[i] += o.n[i];
  return *this;
}

SyscallCounts thread_syscalls() {
  SyscallCounts c;
  if (zcpipe_interpose_thread_counts != nullptr) {
    zcpipe_interpose_thread_counts(c.n.data(), c.n.size());
  }
  return c;
}

SyscallCounts thread_measuring_syscalls() {
  SyscallCounts c;
  if (zcpipe_interpose_measuring_counts != nullptr) {
    zcpipe_interpose_measuring_counts(c.n.data(), c.n.size());
  }
  return c;
}

bool interposer_linked() { return zcpipe_interpose_thread_counts != nullptr; }

bool interposer_exported() {
  return zcpipe_interpose_exported != nullptr && zcpipe_interpose_exported();
}

ScopedUncounted::ScopedUncounted() {
  if (zcpipe_interpose_uncounted != nullptr) zcpipe_interpose_uncounted(+1);
}

ScopedUncounted::~ScopedUncounted() {
  if (zcpipe_interpose_uncounted != nullptr) zcpipe_interpose_uncounted(-1);
}

// ---- --verify's work, kept apart ---------------------------------------------

namespace {

// What ScopedVerify measured on this thread since the ledger last took it:
// the ledger charges it to the window it closes (the work happened inside that
// window, since a thread's windows follow one another).
struct VerifyCost {
  uint64_t cpu_ns = 0;
  SyscallCounts sys;
};
thread_local VerifyCost t_verify;
thread_local int t_verify_depth = 0;

VerifyCost take_thread_verify() { return std::exchange(t_verify, VerifyCost{}); }

// The thread's own CPU clock: nanoseconds, where getrusage's figures are
// microseconds, and a real syscall wherever the clocksource is (no vDSO for
// CPU-time clocks); the caller counts it as measuring.
uint64_t thread_cpu_ns() {
  timespec ts{};
  if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

ScopedVerify::ScopedVerify() : outer_(t_verify_depth++ == 0) {
  if (!outer_) return;
  {
    ScopedUncounted quiet;
    cpu0_ns_ = thread_cpu_ns();
  }
  sys0_ = thread_syscalls();  // read from the interposer's counters: no syscall
}

ScopedVerify::~ScopedVerify() {
  --t_verify_depth;
  if (!outer_) return;
  t_verify.sys += thread_syscalls() - sys0_;
  ScopedUncounted quiet;
  const uint64_t cpu1 = thread_cpu_ns();
  t_verify.cpu_ns += cpu1 > cpu0_ns_ ? cpu1 - cpu0_ns_ : 0;
}

// ---- the clock ------------------------------------------------------------------

bool clocksource_is_vdso(std::string_view name) {
  // The clocksources whose vDSO read mode lets user space read the time
  // (x86 tsc, KVM's and Hyper-V's paravirtual clocks, arm64's counter).
  // hpet lost its vDSO mapping in Linux 5.6; acpi_pm and jiffies never had one.
  for (std::string_view v : {"tsc", "kvm-clock", "hyperv_clocksource_tsc_page", "arch_sys_counter"})
    if (name == v) return true;
  return false;
}

const ClockSource& clock_source() {
  static const ClockSource source = [] {
    ClockSource s;
    std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    if (!(f >> s.name)) s.name = "unknown";
    // Unknown: assume the common case (a vDSO clock) and say "unknown".
    s.syscall = s.name != "unknown" && !clocksource_is_vdso(s.name);
    if (zcpipe_interpose_set_clock_syscall != nullptr) zcpipe_interpose_set_clock_syscall(s.syscall);
    return s;
  }();
  return source;
}

// ---- frame records ------------------------------------------------------------

namespace {

uint64_t minus(uint64_t later, uint64_t earlier) { return later > earlier ? later - earlier : 0; }

// The ledger's own time is measured with the CPU's time-stamp counter: one
// instruction, no syscall, so timing the ledger does not add to its cost.
// (Reading the clock around every boundary would, where the clock is a
// syscall.) Ticks become microseconds with a rate calibrated against the
// boundaries' clock reads over the whole run.
inline uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return monotonic_ns();  // elsewhere a clock read: 1 tick = 1 ns
#endif
}

}  // namespace

FrameLedger::FrameLedger(std::string process, Sampler sampler, size_t capacity)
    : process_(std::move(process)),
      sampler_(std::move(sampler)),
      ring_(new FrameRecord[capacity]),
      cap_(capacity) {}

Result<FrameLedger> FrameLedger::create(std::string process, LedgerOptions options) {
  if (const char* e = std::getenv("ZCPIPE_LEDGER_IO"); e != nullptr && std::strcmp(e, "1") == 0) options.proc_io = true;
  if (options.capacity == 0) return Error{EINVAL, "ledger capacity must be at least 1 frame"};
  clock_source();  // tells the interposer whether clock reads are syscalls
  auto sampler = Sampler::create(options.proc_io, options.process_cpu);
  if (!sampler) return sampler.error();
  FrameLedger l(std::move(process), std::move(sampler).value(), options.capacity);
  l.process_cpu_ = options.process_cpu;
  {
    ScopedUncounted quiet;
    l.first_tick_ = l.last_tick_ = ticks();
    l.first_ns_ = l.last_ns_ = monotonic_ns();
  }
  return l;
}

double FrameLedger::ticks_to_us(uint64_t t) const {
  if (last_tick_ <= first_tick_ || last_ns_ <= first_ns_) return 0.0;
  const double ns_per_tick = static_cast<double>(last_ns_ - first_ns_) / static_cast<double>(last_tick_ - first_tick_);
  return static_cast<double>(t) * ns_per_tick / 1000.0;
}

double FrameLedger::cpu_us(const FrameRecord& r) const {
  const double raw = static_cast<double>(r.raw_cpu_us());
  return std::max(0.0, raw - measure_us(r) - verify_us(r));
}

// The ledger runs in the pacing thread, which is part of the process: its
// own time comes off the process's figure as it does off the thread's.
double FrameLedger::process_cpu_us(const FrameRecord& r) const {
  const double raw = static_cast<double>(r.process_user_us + r.process_system_us);
  return std::max(0.0, raw - measure_us(r) - verify_us(r));
}

void FrameLedger::close_window(const Sample& now) {
  FrameRecord& r = slot(begun_ - 1);
  if (r.frame == trace_frame_ && tracing()) trace_stop();
  const Sample& s = open_start_;
  // --verify's work in this window: its calls come out of the window's
  // (per kind, saturating), its CPU out of cpu_us().
  const VerifyCost v = take_thread_verify();
  r.end_ns = now.mono_ns;
  r.syscalls = (now.sys - s.sys) - v.sys;
  r.verify_syscalls = v.sys.total();
  r.verify_cpu_ns = v.cpu_ns;
  r.measure_syscalls = (now.measuring - s.measuring).total();
  r.voluntary_cs = minus(now.voluntary_cs, s.voluntary_cs);
  r.involuntary_cs = minus(now.involuntary_cs, s.involuntary_cs);
  r.minor_faults = minus(now.minor_faults, s.minor_faults);
  r.major_faults = minus(now.major_faults, s.major_faults);
  r.user_us = minus(now.user_us, s.user_us);
  r.system_us = minus(now.system_us, s.system_us);
  r.io = sampler_.has_io();
  r.rchar = minus(now.rchar, s.rchar);
  r.wchar = minus(now.wchar, s.wchar);
  r.syscr = minus(now.syscr, s.syscr);
  r.syscw = minus(now.syscw, s.syscw);
  r.process = process_cpu_;
  r.process_user_us = minus(now.process_user_us, s.process_user_us);
  r.process_system_us = minus(now.process_system_us, s.process_system_us);
  totals_.process_user_us += r.process_user_us;
  totals_.process_system_us += r.process_system_us;
  totals_.frames++;
  totals_.syscalls += r.syscalls;
  totals_.measure_syscalls += now.measuring - s.measuring;
  totals_.verify_syscalls += v.sys;
  totals_.verify_cpu_ns += v.cpu_ns;
  totals_.voluntary_cs += r.voluntary_cs;
  totals_.involuntary_cs += r.involuntary_cs;
  totals_.minor_faults += r.minor_faults;
  totals_.major_faults += r.major_faults;
  totals_.user_us += r.user_us;
  totals_.system_us += r.system_us;
  open_ = false;
}

// The whole boundary runs uncounted: its calls (getrusage, the clock, maybe a
// pread) are the measuring cost and land in the interposer's measuring
// bucket. Its time is split between the two windows the way the CPU figures
// split it: everything up to the sample (which reads getrusage last) belongs
// to the window it closes, the bookkeeping after it to the window it opens.
void FrameLedger::begin_frame(uint64_t frame) {
  ScopedUncounted quiet;
  const uint64_t t0 = ticks();
  const Sample now = sampler_.sample();
  const uint64_t t1 = ticks();
  last_tick_ = t1;
  last_ns_ = now.mono_ns;
  if (open_) {
    slot(begun_ - 1).measure_ticks += t1 - t0;
    totals_.measure_ticks += t1 - t0;
    close_window(now);
  } else {
    // Verify work between windows was in no frame's figures: none to take it from.
    take_thread_verify();
  }
  FrameRecord& r = slot(begun_++);
  r = FrameRecord{};  // reuses the oldest slot once the ring is full
  r.frame = frame;
  r.start_ns = now.mono_ns;
  open_start_ = now;
  open_ = true;
  if (frame == trace_frame_) trace_start();
  const uint64_t t2 = ticks();
  r.measure_ticks += t2 - t1;
  totals_.measure_ticks += t2 - t1;
}

void FrameLedger::end_frame() {
  if (!open_) return;
  ScopedUncounted quiet;
  const uint64_t t0 = ticks();
  const Sample now = sampler_.sample();
  const uint64_t t1 = ticks();
  last_tick_ = t1;
  last_ns_ = now.mono_ns;
  slot(begun_ - 1).measure_ticks += t1 - t0;
  totals_.measure_ticks += t1 - t0;
  close_window(now);
}

uint64_t FrameLedger::now_ns() {
  ScopedUncounted quiet;
  const uint64_t t0 = ticks();
  const uint64_t ns = monotonic_ns();
  if (open_) {
    const uint64_t dt = ticks() - t0;
    slot(begun_ - 1).measure_ticks += dt;
    totals_.measure_ticks += dt;
  }
  return ns;
}

void FrameLedger::copy(uint64_t bytes, const char* where) {
  if (!open_) {
    // A copy outside any frame is a bug in the caller's bracketing or a copy
    // at setup time; either way it must not vanish from the report.
    ++unattributed_copies_;
    unattributed_bytes_ += bytes;
    log::debug("copy of {} bytes at {} outside any frame window", bytes, where);
    return;
  }
  FrameRecord& r = slot(begun_ - 1);
  ++r.cpu_copies;
  r.cpu_copy_bytes += bytes;
  if (r.n_copies < kMaxCopiesPerFrame) r.copies[r.n_copies++] = CopyRecord{where, bytes};
  totals_.cpu_copies++;
  totals_.cpu_copy_bytes += bytes;
}

// Newest first: the frames apps ask about are the few still in flight, at
// the front of the search.
FrameRecord* FrameLedger::record(uint64_t frame) {
  return const_cast<FrameRecord*>(static_cast<const FrameLedger*>(this)->record(frame));
}

const FrameRecord* FrameLedger::record(uint64_t frame) const {
  const size_t n = size();
  for (size_t k = 1; k <= n; ++k) {
    const FrameRecord& r = slot(begun_ - k);
    if (r.frame == frame) return &r;
  }
  return nullptr;
}

// ---- summaries ----------------------------------------------------------------

// Median and p99 rather than the mean alone: one frame that waited for a page
// fault or a scheduler hiccup moves the mean but says little about the steady
// state; the median says what a typical frame costs, p99 what the bad ones do.
Summary summarize(std::vector<double> values) {
  // NaN has no place in an order; it would make std::sort's result undefined.
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  Summary s;
  s.n = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  s.min = values.front();
  s.max = values.back();
  s.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
  // Nearest rank: the smallest value with at least 99% of the values at or
  // below it, i.e. rank ceil(0.99 n), 1-based. Integer arithmetic, because
  // 0.99 * 100 in binary floating point is not exactly 99.
  const size_t rank = (99 * n + 99) / 100;
  s.p99 = values[rank - 1];
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(n);
  return s;
}

}  // namespace zc::stats
