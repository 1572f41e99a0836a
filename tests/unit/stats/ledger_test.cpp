// FrameLedger: copy accounting, frame windows, kernel counters charged to the
// right frame, and the JSON a run reports.
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"

namespace zc::stats {
namespace {

FrameLedger make_ledger(const char* name = "test") {
  auto l = FrameLedger::create(name);
  EXPECT_TRUE(l.ok()) << (l.ok() ? "" : l.error().message());
  return std::move(l).value();
}

void write_dev_null(int n) {
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  for (int i = 0; i < n; ++i) (void)!::write(fd.get(), "x", 1);
}

TEST(SysName, EveryKindHasAUniqueName) {
  std::set<std::string> names;
  for (size_t i = 0; i < kSysKinds; ++i) {
    const std::string_view n = sys_name(static_cast<Sys>(i));
    EXPECT_NE(n, "?");
    names.emplace(n);
  }
  EXPECT_EQ(names.size(), kSysKinds);
  EXPECT_EQ(sys_name(Sys::sendmsg), "sendmsg");
  EXPECT_EQ(sys_name(Sys::clock_nanosleep), "clock_nanosleep");
}

TEST(SyscallCountsTest, ArithmeticAndJson) {
  SyscallCounts a, b;
  a.n[static_cast<size_t>(Sys::sendmsg)] = 5;
  a.n[static_cast<size_t>(Sys::ioctl)] = 2;
  b.n[static_cast<size_t>(Sys::sendmsg)] = 3;
  b.n[static_cast<size_t>(Sys::ioctl)] = 4;  // more than a: saturates at 0
  const SyscallCounts d = a - b;
  EXPECT_EQ(d[Sys::sendmsg], 2u);
  EXPECT_EQ(d[Sys::ioctl], 0u);
  SyscallCounts s = a;
  s += b;
  EXPECT_EQ(s[Sys::sendmsg], 8u);
  EXPECT_EQ(s.total(), 14u);
  const nlohmann::json j = to_json(a);
  EXPECT_EQ(j.at("total"), 7u);
  EXPECT_EQ(j.at("by_call").at("sendmsg"), 5u);
  EXPECT_EQ(j.at("by_call").at("ioctl"), 2u);
  EXPECT_EQ(j.at("by_call").size(), 2u);  // zero kinds are left out
}

TEST(Ledger, CopiesArePerFrameAndUnattributedOutsideWindows) {
  FrameLedger l = make_ledger();
  l.copy(100, "setup");  // no window yet
  l.begin_frame(1);
  l.copy(33'177'600, "client render->socket");
  l.copy(33'177'600, "compositor staging->scanout");
  l.begin_frame(2);
  l.copy(10, "x");
  l.end_frame();
  l.copy(7, "after");
  l.end_frame();  // no-op: nothing open

  ASSERT_EQ(l.size(), 2u);
  const FrameRecord& f1 = l.at(0);
  EXPECT_EQ(f1.frame, 1u);
  EXPECT_EQ(f1.cpu_copies, 2u);
  EXPECT_EQ(f1.cpu_copy_bytes, 2u * 33'177'600u);
  ASSERT_EQ(f1.n_copies, 2u);
  EXPECT_STREQ(f1.copies[1].where, "compositor staging->scanout");
  EXPECT_EQ(f1.copies[1].bytes, 33'177'600u);
  EXPECT_EQ(l.at(1).cpu_copies, 1u);
  EXPECT_EQ(l.at(1).cpu_copy_bytes, 10u);
  EXPECT_EQ(l.unattributed_copies(), 2u);
  // Windows are contiguous: frame 1 ends where frame 2 starts.
  EXPECT_EQ(f1.end_ns, l.at(1).start_ns);
  EXPECT_LE(f1.start_ns, f1.end_ns);
  EXPECT_FALSE(l.window_open());
}

TEST(Ledger, SyscallsInsideAWindowLandInThatFrame) {
  FrameLedger l = make_ledger();
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  l.begin_frame(10);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  l.begin_frame(11);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  l.end_frame();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(::write(fd.get(), "x", 1), 1);  // no window

  ASSERT_EQ(l.size(), 2u);
  // Exactly: the ledger's own sampling (pread of /proc/self/io) is uncounted.
  EXPECT_EQ(l.at(0).syscalls[Sys::write], 5u);
  EXPECT_EQ(l.at(0).syscalls.total(), 5u);
  EXPECT_EQ(l.at(0).mode_switches(), 10u);
  EXPECT_EQ(l.at(1).syscalls.total(), 3u);
}

TEST(Ledger, ProcIoCountsWritesButNotTheSamplersOwnReads) {
  auto made = FrameLedger::create("io", LedgerOptions{.capacity = 16, .proc_io = true});
  ASSERT_TRUE(made.ok());
  FrameLedger l = std::move(made).value();
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  char buf[64] = {};
  l.begin_frame(1);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(::write(fd.get(), buf, sizeof buf), 64);
  l.begin_frame(2);  // nothing in this window
  l.end_frame();
  const FrameRecord& a = l.at(0);
  const FrameRecord& b = l.at(1);
  if (a.syscw == 0 && a.wchar == 0) GTEST_SKIP() << "/proc/self/io is not readable here";
  // Process-wide counters; this test process has no other busy thread.
  EXPECT_EQ(a.syscw, 7u);
  EXPECT_EQ(a.wchar, 7u * 64u);
  EXPECT_EQ(a.syscr, 0u);  // our own pread of /proc/self/io is subtracted
  EXPECT_EQ(a.rchar, 0u);
  EXPECT_EQ(b.syscr, 0u);
  EXPECT_EQ(b.syscw, 0u);
}

TEST(Ledger, BlockingShowsAsVoluntaryContextSwitches) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r{p[0]}, w{p[1]};
  FrameLedger l = make_ledger();
  l.begin_frame(1);
  std::thread filler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)!::write(w.get(), "x", 1);
  });
  char c = 0;
  ASSERT_EQ(::read(r.get(), &c, 1), 1);  // blocks until the filler writes
  l.end_frame();
  filler.join();
  const FrameRecord& f = l.at(0);
  EXPECT_GE(f.voluntary_cs, 1u);
  EXPECT_EQ(f.context_switches(), f.voluntary_cs + f.involuntary_cs);
  EXPECT_GE(f.end_ns - f.start_ns, 40'000'000u);  // the window spans the wait
  EXPECT_EQ(f.syscalls[Sys::read], 1u);           // the filler's write is its own thread's
  EXPECT_EQ(f.syscalls[Sys::write], 0u);
}

TEST(Ledger, TouchingAFreshMappingShowsAsMinorFaults) {
  constexpr size_t kPages = 256;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  FrameLedger l = make_ledger();
  l.begin_frame(1);
  auto* mem = static_cast<volatile char*>(
      ::mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(static_cast<volatile void*>(mem), MAP_FAILED);
  // One fault per 4 KiB page; a transparent huge page would serve 512 pages
  // with one fault, so ask for small pages to make the count exact.
  ::madvise(const_cast<char*>(mem), kPages * page, MADV_NOHUGEPAGE);
  for (size_t i = 0; i < kPages; ++i) mem[i * page] = 1;  // first touch of each page
  l.end_frame();
  ::munmap(const_cast<char*>(mem), kPages * page);
  const FrameRecord& f = l.at(0);
  EXPECT_GE(f.minor_faults, kPages);
  EXPECT_LT(f.minor_faults, kPages + 64);  // plus a few for the code and stack we ran
  EXPECT_EQ(f.major_faults, 0u);
  EXPECT_EQ(f.syscalls[Sys::mmap], 1u);
}

TEST(Ledger, RecordFindsOpenAndClosedFramesAndNotUnknownOnes) {
  FrameLedger l = make_ledger();
  l.begin_frame(1);
  ASSERT_NE(l.record(1), nullptr);
  l.record(1)->notes.set_commit(1234);  // open window
  l.begin_frame(2);
  l.end_frame();
  l.record(1)->notes.set_checksum(0xabcd);  // closed window
  EXPECT_EQ(l.record(99), nullptr);  // nothing is created for an unknown frame
  EXPECT_FALSE(l.has_frame(99));
  EXPECT_TRUE(l.has_frame(2));
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l.at(0).notes.commit_ns, 1234u);
  EXPECT_TRUE(l.at(0).notes.is(FrameNotes::kChecksum));
  EXPECT_EQ(l.at(1).notes.has, 0u);
  // Hold the document: a range-for over a temporary's member would read
  // freed memory (AddressSanitizer: heap-use-after-free).
  const nlohmann::json doc = to_json(l);
  const nlohmann::json& frames = doc.at("frames");
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].at("commit_ns"), 1234u);
  EXPECT_EQ(frames[0].at("checksum"), "000000000000abcd");
  for (const auto& f : frames) EXPECT_FALSE(f.contains("presented"));
}

TEST(Ledger, BeginningAFrameAgainMakesANewerRecordThatRecordFinds) {
  FrameLedger l = make_ledger();
  l.begin_frame(7);
  l.begin_frame(7);
  l.end_frame();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l.record(7), &l.at(1));
}

TEST(Ledger, TheRingKeepsTheNewestFramesAndTheTotalsStayExact) {
  auto made = FrameLedger::create("ring", LedgerOptions{.capacity = 8, .proc_io = false});
  ASSERT_TRUE(made.ok());
  FrameLedger l = std::move(made).value();
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  for (uint64_t n = 0; n < 100; ++n) {
    l.begin_frame(n);
    ASSERT_EQ(::write(fd.get(), "x", 1), 1);
    l.copy(10, "ring copy");
  }
  l.end_frame();
  EXPECT_EQ(l.size(), 8u);
  EXPECT_EQ(l.capacity(), 8u);
  EXPECT_EQ(l.frames_begun(), 100u);
  EXPECT_EQ(l.frames_dropped(), 92u);
  EXPECT_EQ(l.at(0).frame, 92u);
  EXPECT_EQ(l.at(7).frame, 99u);
  EXPECT_EQ(l.record(10), nullptr);  // fell out of the ring
  // Totals cover all 100 frames, not only the 8 kept.
  EXPECT_EQ(l.totals().frames, 100u);
  EXPECT_EQ(l.totals().cpu_copies, 100u);
  EXPECT_EQ(l.totals().cpu_copy_bytes, 1000u);
  EXPECT_EQ(l.totals().syscalls[Sys::write], 100u);
  const nlohmann::json j = to_json(l);
  EXPECT_EQ(j.at("window").at("capacity"), 8u);
  EXPECT_EQ(j.at("window").at("frames_begun"), 100u);
  EXPECT_EQ(j.at("window").at("records"), 8u);
  EXPECT_EQ(j.at("window").at("dropped"), 92u);
  EXPECT_EQ(j.at("frames").size(), 8u);
  EXPECT_EQ(j.at("totals").at("frames"), 100u);
  EXPECT_EQ(j.at("totals").at("syscalls").at("by_call").at("write"), 100u);
  EXPECT_EQ(j.at("totals").at("syscalls_per_frame"), 1.0);
}

TEST(Ledger, MoreCopiesThanTheArrayHoldsAreStillCounted) {
  FrameLedger l = make_ledger();
  l.begin_frame(1);
  for (size_t i = 0; i < kMaxCopiesPerFrame + 3; ++i) l.copy(5, "many");
  l.end_frame();
  EXPECT_EQ(l.at(0).cpu_copies, kMaxCopiesPerFrame + 3);
  EXPECT_EQ(l.at(0).cpu_copy_bytes, 5u * (kMaxCopiesPerFrame + 3));
  EXPECT_EQ(l.at(0).n_copies, kMaxCopiesPerFrame);
}

TEST(Ledger, TheLedgersOwnCallsAreCountedApartFromTheFrames) {
  FrameLedger l = make_ledger();
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  l.begin_frame(1);
  ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  l.begin_frame(2);
  (void)l.now_ns();
  l.end_frame();
  // The frame sees only its own write; the getrusage of every boundary (and
  // a clock read where that is a syscall) is the measuring cost.
  EXPECT_EQ(l.at(0).syscalls.total(), 1u);
  EXPECT_EQ(l.at(0).syscalls[Sys::getrusage], 0u);
  const uint64_t clock = clock_source().syscall ? 1u : 0u;
  const SyscallCounts m = l.totals().measure_syscalls;
  // Two boundaries close a window (begin 2, end); begin 1's calls precede
  // any window. Each is a getrusage and a clock read; now_ns() one more read.
  EXPECT_EQ(m[Sys::getrusage], 2u);
  EXPECT_EQ(m[Sys::clock_gettime], 3u * clock);
  EXPECT_EQ(l.at(0).measure_syscalls + l.at(1).measure_syscalls, m.total());
  EXPECT_GT(l.at(0).measure_ticks, 0u);
  const nlohmann::json j = to_json(l);
  EXPECT_EQ(j.at("totals").at("measuring").at("syscalls").at("by_call").at("getrusage"), 2u);
  EXPECT_EQ(j.at("clock").at("reads_are_syscalls"), clock_source().syscall);
  // cpu_us is the window's CPU less the ledger's own time.
  for (size_t i = 0; i < l.size(); ++i) {
    const double raw = static_cast<double>(l.at(i).raw_cpu_us());
    EXPECT_NEAR(l.cpu_us(l.at(i)) + std::min(raw, l.measure_us(l.at(i))), raw, 1e-6);
  }
}

// --verify's work (ScopedVerify) is charged to the window it ran in, as
// verify figures: its calls are not the frame's, its CPU is not cpu_us.
TEST(Ledger, VerifyWorkIsChargedApartFromTheFrame) {
  FrameLedger l = make_ledger();
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  {
    ScopedVerify before_any_window;  // in no window: charged to no frame
    ASSERT_EQ(::write(fd.get(), "x", 1), 1);
  }
  l.begin_frame(1);
  ASSERT_EQ(::write(fd.get(), "x", 1), 1);  // the pipeline's
  volatile uint64_t sink = 0;
  {
    ScopedVerify verify;
    ScopedVerify nested;  // counted once, by the outer one
    for (int i = 0; i < 3; ++i) ASSERT_EQ(::write(fd.get(), "x", 1), 1);
    // Enough CPU to be seen by any CPU clock: spin for 20 ms of thread time
    // (the spin's own clock reads are the test's, not verify's: uncounted).
    timespec t0{}, t{};
    auto now = [](timespec& ts) {
      ScopedUncounted quiet;
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    };
    now(t0);
    do {
      for (int i = 0; i < 100000; ++i) sink = sink + static_cast<uint64_t>(i);
      now(t);
    } while ((t.tv_sec - t0.tv_sec) * 1'000'000'000ll + (t.tv_nsec - t0.tv_nsec) < 20'000'000ll);
  }
  l.begin_frame(2);
  l.end_frame();

  const FrameRecord& r = l.at(0);
  EXPECT_EQ(r.syscalls[Sys::write], 1u) << "the verify scope's writes are not the frame's";
  EXPECT_EQ(r.verify_syscalls, 3u);
  EXPECT_GE(r.verify_cpu_ns, 15'000'000u);
  // cpu_us is the window's CPU less the ledger's time and verify's.
  const double raw = static_cast<double>(r.raw_cpu_us());
  EXPECT_NEAR(l.cpu_us(r), std::max(0.0, raw - l.measure_us(r) - FrameLedger::verify_us(r)), 1e-6);
  EXPECT_LT(l.cpu_us(r), raw - 10'000.0) << "20 ms of verify work left in the pipeline's figure";
  EXPECT_EQ(l.at(1).verify_syscalls, 0u);
  EXPECT_EQ(l.at(1).verify_cpu_ns, 0u);
  EXPECT_EQ(l.totals().verify_syscalls[Sys::write], 3u) << "the scope outside any window is in no total";
  EXPECT_EQ(l.totals().syscalls[Sys::write], 1u);
  const nlohmann::json j = to_json(l);
  EXPECT_EQ(j.at("totals").at("verify").at("syscalls").at("total"), 3u);
  EXPECT_GE(j.at("totals").at("verify").at("cpu_us").get<double>(), 15'000.0);
  EXPECT_EQ(j.at("frames")[0].at("verify_syscalls"), 3u);
  EXPECT_EQ(j.at("frames")[1].at("verify_us"), 0.0);
}

TEST(Ledger, ProcIoIsOffByDefaultAndNotInTheRecords) {
  FrameLedger l = make_ledger();
  l.begin_frame(1);
  l.end_frame();
  EXPECT_FALSE(l.proc_io());
  EXPECT_EQ(l.totals().measure_syscalls[Sys::pread], 0u);
  const nlohmann::json doc = to_json(l);
  EXPECT_FALSE(doc.at("frames")[0].contains("syscr"));
  EXPECT_EQ(doc.at("proc_io_per_frame"), false);
}

// Every field of the record reaches the JSON under a key of record_keys(),
// and every key there is reachable: docs and schema are checked against that
// list (tests/unit/stats/schema_test.cpp), so none of the three can drift.
TEST(Ledger, RecordJsonKeysAreExactlyRecordKeys) {
  auto made = FrameLedger::create("keys", LedgerOptions{.capacity = 4, .proc_io = true, .process_cpu = true});
  ASSERT_TRUE(made.ok());
  FrameLedger l = std::move(made).value();
  l.set_trace_frame(1);
  l.begin_frame(1);
  l.copy(64, "shm->scanout");
  FrameNotes& a = l.current()->notes;
  a.set_ready(10);
  a.set_commit(20);
  a.set_surface_commit(0);
  a.set_checksum(0);
  a.set_shown_frame(1);
  a.set_presented(1020, 5, true);
  a.set_feedback(16'666'666, 7);
  a.set_output_copy(64);
  a.set_fence(true, 2000, 0, 3500, true);
  a.set_copy_fence(true, 4500);
  a.add_cpu_touched(0);
  a.scanout = Scanout::copy;
  // Bits 0 and 3, named and described by what the app registers.
  l.set_reason_names([](uint32_t b) -> const char* { return b == 0 ? "format" : b == 3 ? "y_invert" : nullptr; },
                     [](uint32_t b) -> const char* { return b == 3 ? "rows stored bottom-up" : nullptr; });
  a.scanout_reasons = (1u << 3) | (1u << 0);
  a.buffer_kind = "wl_shm";
  a.verify_read = "gbm_map";
  l.begin_frame(2);
  l.current()->notes.set_discarded();
  l.end_frame();
  const nlohmann::json doc = to_json(l);
  std::set<std::string> seen;
  for (const auto& f : doc.at("frames"))
    for (const auto& [k, v] : f.items()) seen.insert(k);
  const std::set<std::string> want(record_keys().begin(), record_keys().end());
  EXPECT_EQ(seen, want);
  const nlohmann::json& f1 = doc.at("frames")[0];
  EXPECT_EQ(f1.at("latency_us"), 1.0);        // (1020 - 20) ns
  EXPECT_EQ(f1.at("ready_latency_us"), 1.01);  // (1020 - 10) ns
  EXPECT_EQ(f1.at("scanout"), "copy");
  EXPECT_EQ(f1.at("fence_attached"), true);
  EXPECT_EQ(f1.at("fence_signal_us"), 2.0);
  EXPECT_EQ(f1.at("fence_wait_us"), 0.0);
  EXPECT_EQ(f1.at("flip_us"), 3.5);
  EXPECT_EQ(f1.at("out_fence"), true);
  EXPECT_EQ(f1.at("copy_fence_waited"), true);
  EXPECT_EQ(f1.at("copy_fence_wait_us"), 4.5);
  EXPECT_EQ(f1.at("scanout_reasons"), (nlohmann::json{"format", "y_invert"}));  // in bit order
  EXPECT_EQ(f1.at("scanout_reason"), "format; rows stored bottom-up");  // sentence where one is known
  EXPECT_EQ(f1.at("copies")[0].at("where"), "shm->scanout");
  EXPECT_EQ(doc.at("frames")[1].at("presented"), false);
  EXPECT_EQ(doc.at("frames")[1].at("discarded"), true);
}

TEST(Ledger, LedgerJsonHasProcessInterposerAndFrames) {
  FrameLedger l = make_ledger("zcpipe-client");
  l.copy(1, "early");
  l.begin_frame(5);
  write_dev_null(2);
  l.end_frame();
  const nlohmann::json j = to_json(l);
  EXPECT_EQ(j.at("process"), "zcpipe-client");
  EXPECT_EQ(j.at("interposer"), true);
  EXPECT_EQ(j.at("unattributed_copies"), 1u);
  ASSERT_EQ(j.at("frames").size(), 1u);
  EXPECT_EQ(j.at("frames")[0].at("frame"), 5u);
  // write_dev_null: open + 2 write + close
  EXPECT_EQ(j.at("frames")[0].at("syscalls").at("by_call").at("write"), 2u);
  EXPECT_EQ(j.at("frames")[0].at("syscalls").at("total"), 4u);
}

TEST(Ledger, IsMovable) {
  FrameLedger a = make_ledger();
  a.begin_frame(1);
  FrameLedger b = std::move(a);
  b.copy(3, "after move");
  b.end_frame();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b.at(0).cpu_copy_bytes, 3u);
}

}  // namespace
}  // namespace zc::stats

namespace zc::stats {
namespace {

// The process figure sees other threads' CPU (a GL driver's, in the client);
// the thread figure, by design, does not.
TEST(Ledger, ProcessCpuCountsOtherThreads) {
  auto made = FrameLedger::create("proc", LedgerOptions{.capacity = 4, .proc_io = false, .process_cpu = true});
  ASSERT_TRUE(made.ok());
  FrameLedger l = std::move(made).value();
  l.begin_frame(0);
  std::thread worker([] {
    // Burn 60 ms of this thread's own CPU time (not wall time: on a busy
    // machine the thread may wait for a CPU).
    auto cpu_ns = [] {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
    };
    const uint64_t until = cpu_ns() + 60'000'000u;
    while (cpu_ns() < until) {
    }
  });
  worker.join();
  l.end_frame();
  const FrameRecord& r = l.at(0);
  EXPECT_TRUE(r.process);
  EXPECT_GE(l.process_cpu_us(r), 30'000.0);  // the worker's time, with margin for a busy machine
  EXPECT_LT(l.cpu_us(r), 30'000.0);          // this thread only waited in join()
  const nlohmann::json doc = to_json(l);
  EXPECT_GE(doc.at("frames")[0].at("process_cpu_us").get<double>(), 30'000.0);
  EXPECT_GE(doc.at("totals").at("process_cpu_us_per_frame").get<double>(), 30'000.0);
}

TEST(Ledger, CpuTouchedBytesAccumulateAndZeroIsWritten) {
  auto made = FrameLedger::create("touch", LedgerOptions{.capacity = 4});
  ASSERT_TRUE(made.ok());
  FrameLedger l = std::move(made).value();
  l.begin_frame(0);
  l.current()->notes.add_cpu_touched(100);
  l.current()->notes.add_cpu_touched(16);
  l.begin_frame(1);
  l.current()->notes.add_cpu_touched(0);  // a GPU drew: 0 is a figure, not an absence
  l.begin_frame(2);                       // nothing said: no key
  l.end_frame();
  const nlohmann::json doc = to_json(l);
  EXPECT_EQ(doc.at("frames")[0].at("cpu_touched_bytes"), 116);
  EXPECT_EQ(doc.at("frames")[1].at("cpu_touched_bytes"), 0);
  EXPECT_FALSE(doc.at("frames")[2].contains("cpu_touched_bytes"));
  EXPECT_FALSE(doc.at("frames")[0].contains("process_cpu_us"));  // not asked for
  EXPECT_FALSE(doc.at("totals").contains("process_cpu_us"));
}

}  // namespace
}  // namespace zc::stats
