// FrameLedger and friends: turning counter snapshots into per-frame records.
//
// A frame's cost is always a difference of two snapshots (Sample) of
// monotonically growing counters, taken when its window opens and closes.
// Nothing is sampled per syscall or per copy, so the ledger costs two
// getrusage + two pread per frame, whatever the frame does.
#include "stats/ledger.h"
#include "stats/trace.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"

// The interposer's side of stats/sys.h, declared weak: if no object in the
// executable defines them (it was linked without zcpipe_interpose_dep) their
// addresses are null instead of a link error.
extern "C" {
[[gnu::weak]] void zcpipe_interpose_thread_counts(uint64_t* out, size_t n) noexcept;
[[gnu::weak]] void zcpipe_interpose_uncounted(int delta) noexcept;
[[gnu::weak]] bool zcpipe_interpose_exported() noexcept;
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

nlohmann::json SyscallCounts::to_json() const {
  nlohmann::json by_call = nlohmann::json::object();
  for (size_t i = 0; i < kSysKinds; ++i) {
    if (n[i] != 0) by_call[std::string(sys_name(static_cast<Sys>(i)))] = n[i];
  }
  return {{"total", total()}, {"by_call", std::move(by_call)}};
}

SyscallCounts thread_syscalls() {
  SyscallCounts c;
  if (zcpipe_interpose_thread_counts != nullptr) {
    zcpipe_interpose_thread_counts(c.n.data(), c.n.size());
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

// ---- frame records ------------------------------------------------------------

namespace {

uint64_t minus(uint64_t later, uint64_t earlier) { return later > earlier ? later - earlier : 0; }

}  // namespace

nlohmann::json FrameRecord::to_json() const {
  // extra first, then our counters: an app key that collides with a counter
  // name cannot overwrite a measurement.
  nlohmann::json j = extra.is_object() ? extra : nlohmann::json::object();
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [where, bytes] : copies) list.push_back({{"where", where}, {"bytes", bytes}});
  j["frame"] = frame;
  j["start_ns"] = start_ns;
  j["end_ns"] = end_ns;
  j["cpu_copies"] = cpu_copies;
  j["cpu_copy_bytes"] = cpu_copy_bytes;
  j["copies"] = std::move(list);
  j["syscalls"] = syscalls.to_json();
  j["mode_switches"] = mode_switches();
  j["voluntary_cs"] = voluntary_cs;
  j["involuntary_cs"] = involuntary_cs;
  j["context_switches"] = context_switches();
  j["minor_faults"] = minor_faults;
  j["major_faults"] = major_faults;
  j["user_us"] = user_us;
  j["system_us"] = system_us;
  j["cpu_us"] = cpu_us();
  j["rchar"] = rchar;
  j["wchar"] = wchar;
  j["syscr"] = syscr;
  j["syscw"] = syscw;
  return j;
}

// ---- the ledger ---------------------------------------------------------------

Result<FrameLedger> FrameLedger::create(std::string process) {
  auto sampler = Sampler::create();
  if (!sampler) return sampler.error();
  return FrameLedger(std::move(process), std::move(sampler).value());
}

void FrameLedger::reserve(size_t frames) {
  records_.reserve(frames);
  index_.reserve(frames);
}

void FrameLedger::close_window(const Sample& now) {
  FrameRecord& r = records_.back();
  if (r.frame == trace_frame_ && tracing()) r.extra["trace"] = trace_stop();
  const Sample& s = open_start_;
  r.end_ns = now.mono_ns;
  r.syscalls = now.sys - s.sys;
  r.voluntary_cs = minus(now.voluntary_cs, s.voluntary_cs);
  r.involuntary_cs = minus(now.involuntary_cs, s.involuntary_cs);
  r.minor_faults = minus(now.minor_faults, s.minor_faults);
  r.major_faults = minus(now.major_faults, s.major_faults);
  r.user_us = minus(now.user_us, s.user_us);
  r.system_us = minus(now.system_us, s.system_us);
  r.rchar = minus(now.rchar, s.rchar);
  r.wchar = minus(now.wchar, s.wchar);
  r.syscr = minus(now.syscr, s.syscr);
  r.syscw = minus(now.syscw, s.syscw);
  open_ = false;
}

// The ledger's own bookkeeping runs uncounted as a whole: growing a vector or
// hashing a frame number makes no counted call today (malloc maps memory
// through libc-internal calls), and this keeps it that way whatever changes.
void FrameLedger::begin_frame(uint64_t frame) {
  ScopedUncounted quiet;
  const Sample now = sampler_.sample();
  if (open_) close_window(now);
  FrameRecord& r = records_.emplace_back();
  r.frame = frame;
  r.start_ns = now.mono_ns;
  index_[frame] = records_.size() - 1;
  open_start_ = now;
  open_ = true;
  if (frame == trace_frame_) trace_start();
}

void FrameLedger::end_frame() {
  if (!open_) return;
  ScopedUncounted quiet;
  close_window(sampler_.sample());
}

void FrameLedger::copy(uint64_t bytes, std::string_view where) {
  if (!open_) {
    // A copy outside any frame is a bug in the caller's bracketing or a copy
    // at setup time; either way it must not vanish from the report.
    ++unattributed_copies_;
    unattributed_bytes_ += bytes;
    log::debug("copy of {} bytes at {} outside any frame window", bytes, where);
    return;
  }
  FrameRecord& r = records_.back();
  ++r.cpu_copies;
  r.cpu_copy_bytes += bytes;
  r.copies.emplace_back(std::string(where), bytes);
}

nlohmann::json& FrameLedger::annotate(uint64_t frame) {
  const auto it = index_.find(frame);
  if (it != index_.end()) return records_[it->second].extra;
  log::debug("annotate: no record for frame {}; annotation dropped", frame);
  scratch_ = nlohmann::json::object();
  return scratch_;
}

bool FrameLedger::has_frame(uint64_t frame) const { return index_.count(frame) != 0; }

const std::vector<FrameRecord>& FrameLedger::frames() const { return records_; }

uint64_t FrameLedger::unattributed_copies() const { return unattributed_copies_; }

nlohmann::json FrameLedger::to_json() const {
  nlohmann::json frames = nlohmann::json::array();
  for (const FrameRecord& r : records_) frames.push_back(r.to_json());
  return {{"process", process_},
          {"interposer", interposer_linked()},
          {"unattributed_copies", unattributed_copies_},
          {"unattributed_copy_bytes", unattributed_bytes_},
          {"frames", std::move(frames)}};
}

// ---- summaries ----------------------------------------------------------------

nlohmann::json Summary::to_json() const {
  return {{"median", median}, {"p99", p99}, {"max", max},
          {"mean", mean},     {"min", min}, {"n", n}};
}

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
