// FrameLedger: copy accounting, frame windows, kernel counters charged to the
// right frame, and the JSON a run reports.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "stats/ledger.h"

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
  const nlohmann::json j = a.to_json();
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

  ASSERT_EQ(l.frames().size(), 2u);
  const FrameRecord& f1 = l.frames()[0];
  EXPECT_EQ(f1.frame, 1u);
  EXPECT_EQ(f1.cpu_copies, 2u);
  EXPECT_EQ(f1.cpu_copy_bytes, 2u * 33'177'600u);
  ASSERT_EQ(f1.copies.size(), 2u);
  EXPECT_EQ(f1.copies[1].first, "compositor staging->scanout");
  EXPECT_EQ(f1.copies[1].second, 33'177'600u);
  EXPECT_EQ(l.frames()[1].cpu_copies, 1u);
  EXPECT_EQ(l.frames()[1].cpu_copy_bytes, 10u);
  EXPECT_EQ(l.unattributed_copies(), 2u);
  // Windows are contiguous: frame 1 ends where frame 2 starts.
  EXPECT_EQ(f1.end_ns, l.frames()[1].start_ns);
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

  ASSERT_EQ(l.frames().size(), 2u);
  // Exactly: the ledger's own sampling (pread of /proc/self/io) is uncounted.
  EXPECT_EQ(l.frames()[0].syscalls[Sys::write], 5u);
  EXPECT_EQ(l.frames()[0].syscalls.total(), 5u);
  EXPECT_EQ(l.frames()[0].mode_switches(), 10u);
  EXPECT_EQ(l.frames()[1].syscalls.total(), 3u);
}

TEST(Ledger, ProcIoCountsWritesButNotTheSamplersOwnReads) {
  FrameLedger l = make_ledger();
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  char buf[64] = {};
  l.begin_frame(1);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(::write(fd.get(), buf, sizeof buf), 64);
  l.begin_frame(2);  // nothing in this window
  l.end_frame();
  const FrameRecord& a = l.frames()[0];
  const FrameRecord& b = l.frames()[1];
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
  const FrameRecord& f = l.frames()[0];
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
  const FrameRecord& f = l.frames()[0];
  EXPECT_GE(f.minor_faults, kPages);
  EXPECT_LT(f.minor_faults, kPages + 64);  // plus a few for the code and stack we ran
  EXPECT_EQ(f.major_faults, 0u);
  EXPECT_EQ(f.syscalls[Sys::mmap], 1u);
}

TEST(Ledger, AnnotateFindsOpenAndClosedFramesAndIgnoresUnknownOnes) {
  FrameLedger l = make_ledger();
  l.reserve(8);
  l.begin_frame(1);
  l.annotate(1)["latency_us"] = 1234;  // open window
  l.begin_frame(2);
  l.end_frame();
  l.annotate(1)["checksum"] = "abcd";  // closed window
  nlohmann::json& scratch = l.annotate(99);
  scratch["lost"] = true;  // must not crash nor create a record
  EXPECT_FALSE(l.has_frame(99));
  EXPECT_TRUE(l.has_frame(2));
  ASSERT_EQ(l.frames().size(), 2u);
  EXPECT_EQ(l.frames()[0].extra.at("latency_us"), 1234);
  EXPECT_EQ(l.frames()[0].extra.at("checksum"), "abcd");
  EXPECT_TRUE(l.frames()[1].extra.empty());
  EXPECT_TRUE(l.annotate(98).empty());  // scratch does not keep old data
  for (const auto& f : l.to_json().at("frames")) EXPECT_FALSE(f.contains("lost"));
}

TEST(Ledger, RecordJsonHasEveryKeyWithTheRightValue) {
  FrameRecord r;
  r.frame = 42;
  r.start_ns = 1000;
  r.end_ns = 5000;
  r.cpu_copies = 1;
  r.cpu_copy_bytes = 64;
  r.copies = {{"shm->scanout", 64}};
  r.syscalls.n[static_cast<size_t>(Sys::sendmsg)] = 3;
  r.voluntary_cs = 4;
  r.involuntary_cs = 1;
  r.minor_faults = 6;
  r.major_faults = 0;
  r.user_us = 70;
  r.system_us = 30;
  r.rchar = 11;
  r.wchar = 12;
  r.syscr = 13;
  r.syscw = 14;
  r.extra["latency_us"] = 999;
  r.extra["frame"] = 7;  // a colliding app key cannot overwrite a measurement

  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j.at("frame"), 42u);
  EXPECT_EQ(j.at("start_ns"), 1000u);
  EXPECT_EQ(j.at("end_ns"), 5000u);
  EXPECT_EQ(j.at("cpu_copies"), 1u);
  EXPECT_EQ(j.at("cpu_copy_bytes"), 64u);
  ASSERT_EQ(j.at("copies").size(), 1u);
  EXPECT_EQ(j.at("copies")[0].at("where"), "shm->scanout");
  EXPECT_EQ(j.at("copies")[0].at("bytes"), 64u);
  EXPECT_EQ(j.at("syscalls").at("total"), 3u);
  EXPECT_EQ(j.at("syscalls").at("by_call").at("sendmsg"), 3u);
  EXPECT_EQ(j.at("mode_switches"), 6u);
  EXPECT_EQ(j.at("voluntary_cs"), 4u);
  EXPECT_EQ(j.at("involuntary_cs"), 1u);
  EXPECT_EQ(j.at("context_switches"), 5u);
  EXPECT_EQ(j.at("minor_faults"), 6u);
  EXPECT_EQ(j.at("major_faults"), 0u);
  EXPECT_EQ(j.at("user_us"), 70u);
  EXPECT_EQ(j.at("system_us"), 30u);
  EXPECT_EQ(j.at("cpu_us"), 100u);
  EXPECT_EQ(j.at("rchar"), 11u);
  EXPECT_EQ(j.at("wchar"), 12u);
  EXPECT_EQ(j.at("syscr"), 13u);
  EXPECT_EQ(j.at("syscw"), 14u);
  EXPECT_EQ(j.at("latency_us"), 999);
  EXPECT_EQ(j.size(), 21u);  // the 20 keys above + latency_us
}

TEST(Ledger, LedgerJsonHasProcessInterposerAndFrames) {
  FrameLedger l = make_ledger("zcpipe-client");
  l.copy(1, "early");
  l.begin_frame(5);
  write_dev_null(2);
  l.end_frame();
  const nlohmann::json j = l.to_json();
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
  ASSERT_EQ(b.frames().size(), 1u);
  EXPECT_EQ(b.frames()[0].cpu_copy_bytes, 3u);
}

}  // namespace
}  // namespace zc::stats
