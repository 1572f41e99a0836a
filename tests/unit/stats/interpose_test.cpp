// The syscall interposer: exact counts for calls we make, calls that come
// through the dynamic linker the way a shared library's do, suppression by
// ScopedUncounted, per-thread scope, and correct forwarding (variadic
// arguments, return values, errno).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"

namespace zc::stats {
namespace {

constexpr int kN = 25;

TEST(Interpose, LinkedAndExported) {
  EXPECT_TRUE(interposer_linked());
  // This test executable is linked with export_dynamic : true, like the apps.
  EXPECT_TRUE(interposer_exported());
}

TEST(Interpose, CountsExactlyNWritesToDevNull) {
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  ASSERT_TRUE(fd);
  const char byte = 'x';
  const SyscallCounts before = thread_syscalls();
  for (int i = 0; i < kN; ++i) ASSERT_EQ(::write(fd.get(), &byte, 1), 1);
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_EQ(d[Sys::write], static_cast<uint64_t>(kN));
  EXPECT_EQ(d.total(), static_cast<uint64_t>(kN)) << to_json(d).dump();
}

TEST(Interpose, CountsExactlyNSendmsgAndRecvmsgOverASocketpair) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a{sv[0]}, b{sv[1]};
  char out = 'm', in = 0;
  iovec out_iov{&out, 1}, in_iov{&in, 1};
  msghdr out_msg{}, in_msg{};
  out_msg.msg_iov = &out_iov;
  out_msg.msg_iovlen = 1;
  in_msg.msg_iov = &in_iov;
  in_msg.msg_iovlen = 1;

  const SyscallCounts before = thread_syscalls();
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(::sendmsg(a.get(), &out_msg, 0), 1);
    ASSERT_EQ(::recvmsg(b.get(), &in_msg, 0), 1);
  }
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_EQ(in, 'm');
  EXPECT_EQ(d[Sys::sendmsg], static_cast<uint64_t>(kN));
  EXPECT_EQ(d[Sys::recvmsg], static_cast<uint64_t>(kN));
  EXPECT_EQ(d.total(), 2u * kN);
}

TEST(Interpose, ScopedUncountedSuppressesAndNests) {
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  ASSERT_TRUE(fd);
  const SyscallCounts before = thread_syscalls();
  {
    ScopedUncounted outer;
    ASSERT_EQ(::write(fd.get(), "a", 1), 1);
    {
      ScopedUncounted inner;
      ASSERT_EQ(::write(fd.get(), "b", 1), 1);
    }
    ASSERT_EQ(::write(fd.get(), "c", 1), 1);  // still inside outer
  }
  ASSERT_EQ(::write(fd.get(), "d", 1), 1);  // counted again
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_EQ(d[Sys::write], 1u);
  EXPECT_EQ(d.total(), 1u);
}

TEST(Interpose, UncountedCallsGoToTheMeasuringCounters) {
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  ASSERT_TRUE(fd);
  const SyscallCounts before = thread_syscalls();
  const SyscallCounts mbefore = thread_measuring_syscalls();
  rusage ru{};
  {
    ScopedUncounted quiet;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(::write(fd.get(), "m", 1), 1);
    ASSERT_EQ(::getrusage(RUSAGE_THREAD, &ru), 0);
  }
  ASSERT_EQ(::getrusage(RUSAGE_THREAD, &ru), 0);  // counted as the frame's
  const SyscallCounts d = thread_syscalls() - before;
  const SyscallCounts m = thread_measuring_syscalls() - mbefore;
  EXPECT_EQ(d[Sys::write], 0u);
  EXPECT_EQ(d[Sys::getrusage], 1u);
  EXPECT_EQ(d.total(), 1u);
  EXPECT_EQ(m[Sys::write], 3u);
  EXPECT_EQ(m[Sys::getrusage], 1u);
  EXPECT_EQ(m.total(), 4u);
}

TEST(Interpose, CallsResolvedThroughTheDynamicLinkerAreCounted) {
  // A shared library calls write() through its PLT, which the dynamic linker
  // fills with dlsym(RTLD_DEFAULT, "write"): the executable's definition
  // when it is exported.
  using WriteFn = ssize_t (*)(int, const void*, size_t);
  auto* as_library_sees_it = reinterpret_cast<WriteFn>(::dlsym(RTLD_DEFAULT, "write"));
  ASSERT_NE(as_library_sees_it, nullptr);
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  const SyscallCounts before = thread_syscalls();
  for (int i = 0; i < kN; ++i) ASSERT_EQ(as_library_sees_it(fd.get(), "x", 1), 1);
  EXPECT_EQ((thread_syscalls() - before)[Sys::write], static_cast<uint64_t>(kN));
}

TEST(Interpose, ReadsMadeInsideLibstdcxxAreCounted) {
  // libstdc++.so's filebuf reads with read() through its PLT: a real shared
  // library calling a wrapped function. (Its fopen goes through glibc's
  // internal open, which no interposer can see.)
  const SyscallCounts before = thread_syscalls();
  std::ifstream f("/proc/self/stat");
  std::string word;
  f >> word;
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_FALSE(word.empty());
  EXPECT_GE(d[Sys::read], 1u) << to_json(d).dump();
}

TEST(Interpose, CountsArePerThread) {
  UniqueFd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
  const SyscallCounts before = thread_syscalls();
  SyscallCounts other_thread;
  std::thread t([&] {
    for (int i = 0; i < kN; ++i) (void)!::write(fd.get(), "x", 1);
    other_thread = thread_syscalls();  // a fresh thread starts at zero
  });
  t.join();
  EXPECT_EQ(other_thread[Sys::write], static_cast<uint64_t>(kN));
  EXPECT_EQ((thread_syscalls() - before)[Sys::write], 0u);
}

TEST(Interpose, VariadicOpenForwardsTheMode) {
  char dir[] = "/tmp/zcpipe-stats-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/f";
  const mode_t old_mask = ::umask(022);
  const SyscallCounts before = thread_syscalls();
  UniqueFd fd{::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640)};
  UniqueFd dirfd{::open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC)};
  UniqueFd fd2{::openat(dirfd.get(), "g", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0604)};
  const SyscallCounts d = thread_syscalls() - before;
  ::umask(old_mask);
  ASSERT_TRUE(fd);
  ASSERT_TRUE(fd2);
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::fstat(fd2.get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0604u);
  EXPECT_EQ(d[Sys::open], 2u);
  EXPECT_EQ(d[Sys::openat], 1u);
  ::unlinkat(dirfd.get(), "g", 0);
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(Interpose, VariadicFcntlAndIoctlForwardTheirArgument) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r{p[0]}, w{p[1]};
  const SyscallCounts before = thread_syscalls();
  ASSERT_EQ(::fcntl(r.get(), F_SETFL, O_NONBLOCK), 0);         // int argument
  const int fl = ::fcntl(r.get(), F_GETFL);                    // no argument
  UniqueFd dup{::fcntl(r.get(), F_DUPFD_CLOEXEC, 100)};        // int argument
  ASSERT_EQ(::write(w.get(), "hello", 5), 5);
  int queued = -1;
  ASSERT_EQ(::ioctl(r.get(), FIONREAD, &queued), 0);          // pointer argument
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_NE(fl & O_NONBLOCK, 0);
  EXPECT_GE(dup.get(), 100);
  EXPECT_EQ(queued, 5);
  EXPECT_EQ(d[Sys::fcntl], 3u);
  EXPECT_EQ(d[Sys::ioctl], 1u);
}

TEST(Interpose, ErrnoAndReturnValuesComeFromTheRealCall) {
  const SyscallCounts before = thread_syscalls();
  errno = 0;
  EXPECT_EQ(::write(-1, "x", 1), -1);
  EXPECT_EQ(errno, EBADF);
  errno = 0;
  EXPECT_EQ(::close(-1), -1);
  EXPECT_EQ(errno, EBADF);
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, -1, 0), MAP_FAILED);
  EXPECT_EQ(errno, EBADF);
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_EQ(d[Sys::write], 1u);
  EXPECT_EQ(d[Sys::close], 1u);
  EXPECT_EQ(d[Sys::mmap], 1u);
}

TEST(Interpose, MemoryAndTimerCallsAreCounted) {
  const SyscallCounts before = thread_syscalls();
  UniqueFd mfd{::memfd_create("zcpipe-test", MFD_CLOEXEC)};
  ASSERT_TRUE(mfd);
  ASSERT_EQ(::ftruncate(mfd.get(), 8192), 0);
  void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd.get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  ASSERT_EQ(::munmap(p, 8192), 0);
  const timespec ts{0, 1000};
  ASSERT_EQ(::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr), 0);
  mfd.reset();
  const SyscallCounts d = thread_syscalls() - before;
  EXPECT_EQ(d[Sys::memfd_create], 1u);
  EXPECT_EQ(d[Sys::ftruncate], 1u);
  EXPECT_EQ(d[Sys::mmap], 1u);
  EXPECT_EQ(d[Sys::munmap], 1u);
  EXPECT_EQ(d[Sys::clock_nanosleep], 1u);
  EXPECT_EQ(d[Sys::close], 1u);
  EXPECT_EQ(d.total(), 6u);
}

// clock_gettime is counted exactly when it enters the kernel. The machine's
// clocksource decides for the ordinary clocks; the test sets both answers in
// turn and checks the wrapper obeys, then that CPU-time clocks (always a
// syscall) and COARSE clocks (never one) ignore the setting.
TEST(Interpose, ClockReadsAreCountedWhenTheyEnterTheKernel) {
  timespec ts{};
  auto reads = [&](clockid_t id) {
    const SyscallCounts before = thread_syscalls();
    for (int i = 0; i < kN; ++i) EXPECT_EQ(::clock_gettime(id, &ts), 0);
    const SyscallCounts d = thread_syscalls() - before;
    EXPECT_EQ(d.total(), d[Sys::clock_gettime]) << to_json(d).dump();
    return d[Sys::clock_gettime];
  };
  zcpipe_interpose_set_clock_syscall(false);  // a tsc / kvm-clock machine
  EXPECT_EQ(reads(CLOCK_MONOTONIC), 0u);
  EXPECT_EQ(reads(CLOCK_REALTIME), 0u);
  EXPECT_EQ(reads(CLOCK_MONOTONIC_COARSE), 0u);
  EXPECT_EQ(reads(CLOCK_THREAD_CPUTIME_ID), static_cast<uint64_t>(kN));
  zcpipe_interpose_set_clock_syscall(true);  // an hpet machine (QEMU's guest)
  EXPECT_EQ(reads(CLOCK_MONOTONIC), static_cast<uint64_t>(kN));
  EXPECT_EQ(reads(CLOCK_BOOTTIME), static_cast<uint64_t>(kN));
  EXPECT_EQ(reads(CLOCK_MONOTONIC_COARSE), 0u);
  EXPECT_EQ(reads(CLOCK_PROCESS_CPUTIME_ID), static_cast<uint64_t>(kN));
  zcpipe_interpose_set_clock_syscall(clock_source().syscall);  // this machine's answer again
  EXPECT_GT(ts.tv_sec + ts.tv_nsec, 0);  // the real function still answers
}

TEST(ClockSource, VdsoRuleAndThisMachinesClocksource) {
  EXPECT_TRUE(clocksource_is_vdso("tsc"));
  EXPECT_TRUE(clocksource_is_vdso("kvm-clock"));
  EXPECT_FALSE(clocksource_is_vdso("hpet"));
  EXPECT_FALSE(clocksource_is_vdso("acpi_pm"));
  std::ifstream f("/sys/devices/system/clocksource/clocksource0/current_clocksource");
  std::string name;
  if (!(f >> name)) GTEST_SKIP() << "no clocksource in sysfs here";
  EXPECT_EQ(clock_source().name, name);
  EXPECT_EQ(clock_source().syscall, !clocksource_is_vdso(name));
}

}  // namespace
}  // namespace zc::stats
