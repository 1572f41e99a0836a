// Sampler: one snapshot of the counters the kernel keeps for this thread and
// process, readable without privileges (FACTS.md, "Memory and IPC limits").
//
//  - getrusage(RUSAGE_THREAD): voluntary context switches (the thread blocked:
//    waited for a socket, a pipe, a futex, a page-flip event), involuntary ones
//    (the scheduler took the CPU away), minor faults (a page was mapped on
//    first touch, no disk), major faults (the page had to be read from disk),
//    and user/system CPU time. Per thread, like the syscall counters.
//  - /proc/self/io: rchar/wchar (bytes passed to read/write-family calls,
//    whether or not they touched a disk), syscr/syscw (how many such calls).
//    Per PROCESS, all threads together, and blind to sendmsg/recvmsg, which is
//    why the ledger also counts syscalls itself.
//  - The monotonic clock: through the vDSO (no syscall) where the clocksource
//    allows it, a real syscall elsewhere (stats::clock_source()).
//
// All of it runs under ScopedUncounted: these calls are the cost of
// measuring, counted by the interposer apart from the frame's own.
//
// perf_event_open would give context switches too, but needs root here
// (perf_event_paranoid=2); these sources work for every user.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <string_view>

#include "common/log.h"
#include "common/clock.h"
#include "stats/ledger.h"

namespace zc::stats {
namespace {

// Reading /proc/self/io is itself a read-family syscall: each pread adds 1 to
// syscr and its length to rchar, and would bill the NEXT frame for our own
// measuring. The sampler remembers what it read (process-wide, since the
// counters are) and subtracts it. Another thread's sampler reading at the
// very same moment can leave an error of one call; that is the limit of a
// process-wide counter.
std::atomic<uint64_t> g_own_syscr{0};
std::atomic<uint64_t> g_own_rchar{0};

std::atomic<bool> g_io_warned{false};

void warn_io_once(const char* what, int err) {
  if (!g_io_warned.exchange(true)) {
    log::warn("/proc/self/io: {} failed ({}); rchar/wchar/syscr/syscw will be reported as 0",
              what, std::strerror(err));
  }
}

struct IoCounters {
  uint64_t rchar = 0, wchar = 0, syscr = 0, syscw = 0;
};

// /proc/self/io is lines of "name: value". Unknown lines are skipped, so a
// kernel that adds fields does not break us.
IoCounters parse_io(std::string_view text) {
  IoCounters io;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, colon);
    std::string_view val = line.substr(colon + 1);
    while (!val.empty() && val.front() == ' ') val.remove_prefix(1);
    uint64_t v = 0;
    if (std::from_chars(val.data(), val.data() + val.size(), v).ec != std::errc{}) continue;
    if (key == "rchar") io.rchar = v;
    else if (key == "wchar") io.wchar = v;
    else if (key == "syscr") io.syscr = v;
    else if (key == "syscw") io.syscw = v;
  }
  return io;
}

// One pread at offset 0: procfs regenerates the text for every read from the
// start, so the descriptor opened once is reused for every sample.
bool read_io(int fd, IoCounters& out, int& err) {
  char buf[512];
  const uint64_t own_syscr = g_own_syscr.load(std::memory_order_relaxed);
  const uint64_t own_rchar = g_own_rchar.load(std::memory_order_relaxed);
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n < 0) {
    err = errno;
    return false;
  }
  g_own_syscr.fetch_add(1, std::memory_order_relaxed);
  g_own_rchar.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
  out = parse_io(std::string_view(buf, static_cast<size_t>(n)));
  // The values are as of the start of this pread, which includes all our
  // earlier ones but not itself.
  out.syscr -= std::min(out.syscr, own_syscr);
  out.rchar -= std::min(out.rchar, own_rchar);
  return true;
}

uint64_t timeval_us(const timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1'000'000u + static_cast<uint64_t>(tv.tv_usec);
}

}  // namespace

Result<Sampler> Sampler::create(bool proc_io, bool process_cpu) {
  ScopedUncounted quiet;
  rusage ru{};
  if (::getrusage(RUSAGE_THREAD, &ru) != 0) {
    return Error::from_errno("getrusage(RUSAGE_THREAD)");
  }
  // Optional: some sandboxes hide /proc or deny it (the kernel checks
  // ptrace-read access to ourselves at read time, so try a read too).
  if (!proc_io) return Sampler(UniqueFd{}, process_cpu);
  UniqueFd fd{::open("/proc/self/io", O_RDONLY | O_CLOEXEC)};
  if (!fd) {
    warn_io_once("open", errno);
  } else {
    IoCounters probe;
    int err = 0;
    if (!read_io(fd.get(), probe, err)) {
      warn_io_once("read", err);
      fd.reset();
    }
  }
  return Sampler(std::move(fd), process_cpu);
}

// getrusage comes last: everything before it (the clock, the counters, the
// pread) is CPU time of the window being closed, which is also where the
// ledger books the time it spent here (FrameLedger::begin_frame).
Sample Sampler::sample() {
  ScopedUncounted quiet;  // our own calls must not bill the frame
  Sample s;
  s.mono_ns = monotonic_ns();
  s.sys = thread_syscalls();
  s.measuring = thread_measuring_syscalls();

  if (io_fd_) {
    IoCounters io;
    int err = 0;
    if (read_io(io_fd_.get(), io, err)) {
      s.rchar = io.rchar;
      s.wchar = io.wchar;
      s.syscr = io.syscr;
      s.syscw = io.syscw;
    } else {
      warn_io_once("read", err);
      io_fd_.reset();  // it will not get better; stop paying for the attempt
    }
  }

  rusage ru{};
  if (::getrusage(RUSAGE_THREAD, &ru) == 0) {
    s.voluntary_cs = static_cast<uint64_t>(ru.ru_nvcsw);
    s.involuntary_cs = static_cast<uint64_t>(ru.ru_nivcsw);
    s.minor_faults = static_cast<uint64_t>(ru.ru_minflt);
    s.major_faults = static_cast<uint64_t>(ru.ru_majflt);
    s.user_us = timeval_us(ru.ru_utime);
    s.system_us = timeval_us(ru.ru_stime);
  }
  // The process as a whole: the thread above plus every other thread
  // (a GL driver's workers, for one). Same clock granularity as the thread's.
  if (process_cpu_ && ::getrusage(RUSAGE_SELF, &ru) == 0) {
    s.process_user_us = timeval_us(ru.ru_utime);
    s.process_system_us = timeval_us(ru.ru_stime);
  }
  return s;
}

}  // namespace zc::stats
