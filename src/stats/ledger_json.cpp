// FrameLedger -> JSON, once at exit. Everything here may allocate and format
// freely: it runs after the last frame.
#include "stats/ledger_json.h"

#include <fmt/core.h>

#include <cmath>

namespace zc::stats {
using nlohmann::json;

json to_json(const SyscallCounts& c) {
  json by_call = json::object();
  for (size_t i = 0; i < kSysKinds; ++i) {
    if (c.n[i] != 0) by_call[std::string(sys_name(static_cast<Sys>(i)))] = c.n[i];
  }
  return {{"total", c.total()}, {"by_call", std::move(by_call)}};
}

json to_json(const Summary& s) {
  return {{"median", s.median}, {"p99", s.p99}, {"max", s.max}, {"mean", s.mean}, {"min", s.min}, {"n", s.n}};
}

namespace {

// Two decimals are far below what the measurement can resolve; more would
// only make the files longer.
double round2(double v) { return std::round(v * 100.0) / 100.0; }

double latency_us(uint64_t from_ns, uint64_t to_ns) {
  return to_ns >= from_ns ? static_cast<double>(to_ns - from_ns) / 1000.0 : 0.0;
}

}  // namespace

const std::vector<std::string>& record_keys() {
  static const std::vector<std::string> keys = {
      // measured by the ledger
      "frame", "start_ns", "end_ns", "cpu_copies", "cpu_copy_bytes", "copies", "syscalls", "mode_switches",
      "voluntary_cs", "involuntary_cs", "context_switches", "minor_faults", "major_faults", "user_us",
      "system_us", "cpu_us", "measure_syscalls", "measure_us", "verify_syscalls", "verify_us", "rchar", "wchar", "syscr", "syscw",
      // what the apps learned about the frame (FrameNotes)
      "ready_ns", "commit_ns", "surface_commit", "checksum", "shown_frame", "presented", "presented_ns", "msc",
      "zero_copy", "latency_us", "ready_latency_us", "refresh_ns", "presentation_flags", "discarded", "scanout",
      "scanout_reason", "scanout_reasons", "buffer_kind", "output_copy_bytes", "fence_attached", "fence_signal_us",
      "fence_wait_us", "flip_us", "out_fence", "copy_fence_waited", "copy_fence_wait_us", "trace",
      // the client's CPU in pixels, and its whole process (other threads: a GL driver's)
      "cpu_touched_bytes", "process_cpu_us",
      // compositor --verify: how the shown buffer was read
      "verify_read"};
  return keys;
}

json to_json(const FrameLedger& l, const FrameRecord& r) {
  json j;
  j["frame"] = r.frame;
  j["start_ns"] = r.start_ns;
  j["end_ns"] = r.end_ns;
  j["cpu_copies"] = r.cpu_copies;
  j["cpu_copy_bytes"] = r.cpu_copy_bytes;
  json list = json::array();
  for (size_t i = 0; i < r.n_copies; ++i)
    list.push_back({{"where", r.copies[i].where != nullptr ? r.copies[i].where : "?"}, {"bytes", r.copies[i].bytes}});
  j["copies"] = std::move(list);
  j["syscalls"] = to_json(r.syscalls);
  j["mode_switches"] = r.mode_switches();
  j["voluntary_cs"] = r.voluntary_cs;
  j["involuntary_cs"] = r.involuntary_cs;
  j["context_switches"] = r.context_switches();
  j["minor_faults"] = r.minor_faults;
  j["major_faults"] = r.major_faults;
  j["user_us"] = r.user_us;
  j["system_us"] = r.system_us;
  j["cpu_us"] = round2(l.cpu_us(r));
  j["measure_syscalls"] = r.measure_syscalls;
  j["measure_us"] = round2(l.measure_us(r));
  if (r.process) j["process_cpu_us"] = round2(l.process_cpu_us(r));
  // --verify's read-back in this window (0 without --verify): not in
  // `syscalls` nor in `cpu_us`.
  j["verify_syscalls"] = r.verify_syscalls;
  j["verify_us"] = round2(FrameLedger::verify_us(r));
  if (r.io) {
    j["rchar"] = r.rchar;
    j["wchar"] = r.wchar;
    j["syscr"] = r.syscr;
    j["syscw"] = r.syscw;
  }
  const FrameNotes& n = r.notes;
  using B = FrameNotes::Bit;
  if (n.is(B::kReadyNs)) j["ready_ns"] = n.ready_ns;
  if (n.is(B::kCommitNs)) j["commit_ns"] = n.commit_ns;
  if (n.is(B::kSurfaceCommit)) j["surface_commit"] = n.surface_commit;
  if (n.is(B::kChecksum)) j["checksum"] = fmt::format("{:016x}", n.checksum);
  if (n.is(B::kShownFrame)) j["shown_frame"] = n.shown_frame;
  if (n.is(B::kPresented)) {
    j["presented"] = true;
    j["presented_ns"] = n.presented_ns;
    j["msc"] = n.msc;
    j["zero_copy"] = n.zero_copy;
    if (n.is(B::kCommitNs)) j["latency_us"] = latency_us(n.commit_ns, n.presented_ns);
    if (n.is(B::kReadyNs)) j["ready_latency_us"] = latency_us(n.ready_ns, n.presented_ns);
  }
  if (n.is(B::kFeedback)) {
    j["refresh_ns"] = n.refresh_ns;
    j["presentation_flags"] = n.presentation_flags;
  }
  if (n.is(B::kDiscarded)) {
    j["presented"] = false;
    j["discarded"] = true;
  }
  if (n.scanout != Scanout::unknown) j["scanout"] = n.scanout == Scanout::direct ? "direct" : "copy";
  if (n.scanout_reasons != 0) {
    json names = json::array();
    std::string sentence;
    for (uint32_t b = 0; b < 32; ++b) {
      if ((n.scanout_reasons & (1u << b)) == 0) continue;
      const char* t = l.reason_name(b);
      const char* d = l.reason_sentence(b);
      const std::string name = t != nullptr ? t : fmt::format("bit {}", b);
      sentence += (sentence.empty() ? "" : "; ") + std::string(d != nullptr ? d : name.c_str());
      names.push_back(name);
    }
    j["scanout_reason"] = sentence;
    j["scanout_reasons"] = std::move(names);
  }
  if (n.buffer_kind != nullptr) j["buffer_kind"] = n.buffer_kind;
  if (n.verify_read != nullptr) j["verify_read"] = n.verify_read;
  if (n.is(B::kOutputCopy)) j["output_copy_bytes"] = n.output_copy_bytes;
  if (n.is(B::kFence)) {
    j["fence_attached"] = n.fence_attached;
    j["fence_signal_us"] = latency_us(0, n.fence_signal_ns);
    j["fence_wait_us"] = latency_us(0, n.fence_wait_ns);
    j["flip_us"] = latency_us(0, n.flip_ns);
    j["out_fence"] = n.out_fence;
  }
  if (n.is(B::kCopyFence)) {
    j["copy_fence_waited"] = n.copy_fence_waited;
    j["copy_fence_wait_us"] = latency_us(0, n.copy_fence_wait_ns);
  }
  if (n.is(B::kCpuTouched)) j["cpu_touched_bytes"] = n.cpu_touched_bytes;
  if (r.frame == l.trace_frame()) j["trace"] = trace_events_json();
  return j;
}

json to_json(const FrameLedger& l) {
  json frames = json::array();
  for (size_t i = 0; i < l.size(); ++i) frames.push_back(to_json(l, l.at(i)));
  const LedgerTotals& t = l.totals();
  const double measure_us = l.ticks_to_us(t.measure_ticks);
  const double raw_cpu = static_cast<double>(t.user_us + t.system_us);
  const double verify_us = static_cast<double>(t.verify_cpu_ns) / 1000.0;
  const double cpu = std::max(0.0, raw_cpu - measure_us - verify_us);
  const double per = t.frames > 0 ? 1.0 / static_cast<double>(t.frames) : 0.0;
  json totals = {
      {"frames", t.frames},
      {"cpu_copies", t.cpu_copies},
      {"cpu_copy_bytes", t.cpu_copy_bytes},
      {"syscalls", to_json(t.syscalls)},
      {"voluntary_cs", t.voluntary_cs},
      {"involuntary_cs", t.involuntary_cs},
      {"context_switches", t.voluntary_cs + t.involuntary_cs},
      {"minor_faults", t.minor_faults},
      {"major_faults", t.major_faults},
      {"user_us", t.user_us},
      {"system_us", t.system_us},
      {"cpu_us", round2(cpu)},
      // Means over every closed frame: total / frames, exact whatever the ring kept.
      {"cpu_us_per_frame", round2(cpu * per)},
      {"syscalls_per_frame", round2(static_cast<double>(t.syscalls.total()) * per)},
      {"measuring",
       {{"syscalls", to_json(t.measure_syscalls)},
        {"cpu_us", round2(measure_us)},
        {"syscalls_per_frame", round2(static_cast<double>(t.measure_syscalls.total()) * per)},
        {"cpu_us_per_frame", round2(measure_us * per)}}},
      // --verify's read-back (ScopedVerify), apart from the pipeline's figures
      // above the way measuring is; zeros without --verify.
      {"verify",
       {{"syscalls", to_json(t.verify_syscalls)},
        {"cpu_us", round2(verify_us)},
        {"syscalls_per_frame", round2(static_cast<double>(t.verify_syscalls.total()) * per)},
        {"cpu_us_per_frame", round2(verify_us * per)}}}};
  if (l.process_cpu()) {
    // Every thread of the process, less the ledger's own time and --verify's (as cpu_us).
    const double process =
        std::max(0.0, static_cast<double>(t.process_user_us + t.process_system_us) - measure_us - verify_us);
    totals["process_cpu_us"] = round2(process);
    totals["process_cpu_us_per_frame"] = round2(process * per);
  }
  return {{"process", l.process()},
          {"interposer", interposer_linked()},
          {"interposer_exported", interposer_exported()},
          {"unattributed_copies", l.unattributed_copies()},
          {"unattributed_copy_bytes", l.unattributed_copy_bytes()},
          {"clock", {{"source", clock_source().name}, {"reads_are_syscalls", clock_source().syscall}}},
          {"proc_io_per_frame", l.proc_io()},
          {"window",
           {{"capacity", l.capacity()},
            {"frames_begun", l.frames_begun()},
            {"records", l.size()},
            {"dropped", l.frames_dropped()}}},
          {"totals", std::move(totals)},
          {"frames", std::move(frames)}};
}

}  // namespace zc::stats
