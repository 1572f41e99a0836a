// Syscall counting by ELF symbol interposition.
//
// WHAT: this file defines read(), write(), sendmsg(), ioctl(), mmap() ... (the
// list in stats/sys.h). Each definition adds one to a per-thread counter and
// then calls the real libc function.
//
// WHY INTERPOSITION: zcpipe wants to know how many times a frame entered the
// kernel, and most of those entries are not in our code: libwayland sends and
// receives the protocol (sendmsg/recvmsg/epoll_wait), libdrm and Mesa talk to
// the GPU driver (ioctl), the shm path maps memory (mmap64/munmap). Those
// libraries call libc through the PLT, and the dynamic linker resolves each
// symbol by searching the loaded objects in order, the executable first. So a
// function named sendmsg exported from the executable wins over libc's, for
// every library in the process, without touching their code or needing root
// (no ptrace, no perf, no eBPF). For that the wrappers must be in the
// executable's dynamic symbol table. GNU ld (and lld) already put there any
// definition that also exists in a shared library of the link (libc.so
// defines all of these names), which is how malloc replacements work; zcpipe
// still links its programs with `export_dynamic : true` (-rdynamic) so this
// does not hinge on that linker rule, and zcpipe_interpose_exported() checks
// the result at run time. Libraries loaded later with dlopen (Mesa's DRI
// driver, loaded by libgbm) bind to the same exported definitions.
//
// WHY ONLY IN EXECUTABLES: the trick depends on being first in the search
// order and on RTLD_NEXT meaning "libc" (the next object after ours). In a
// shared library both would depend on link order. It is therefore offered as
// meson's `zcpipe_interpose_dep` (sources compiled into each executable), never
// as part of a library.
//
// WHY PER THREAD: a frame's window is opened and closed by one thread (the
// client's or compositor's event loop). Counting per thread charges that frame
// only with what its own thread did, not with Mesa's worker threads or a
// logging thread, and it needs no atomics: one thread_local increment, about a
// nanosecond, cheap enough to leave on in every build. getrusage(RUSAGE_THREAD)
// has the same scope, so syscalls, context switches and faults in a frame
// record all describe the same thread.
//
// WHAT IS NOT COUNTED, and why `strace -f -c` shows more:
//  - glibc's internal calls. stdio's fread/fwrite/fopen, malloc (mmap/brk),
//    dlopen, getaddrinfo, opendir ... call the kernel through hidden internal
//    aliases (__read_nocancel, __mmap), which never go through the PLT, so no
//    interposer can see them.
//  - The dynamic loader itself (mapping libraries at start-up, lazy binding).
//  - Everything not in the list: clone, futex, getrusage, fstat, nanosleep,
//    brk, rt_sigaction, epoll_create1, signalfd, bind/listen, accept (only a
//    fallback in libwayland), raw syscall(2) (Mesa uses it for futex and
//    memfd on some paths), and all other threads when a frame is charged.
//  - Reading the clock, where it is not a syscall: clock_gettime is usually
//    served by the vDSO, a small library the kernel maps into every process
//    that reads a time page (and the CPU's counter) without entering the
//    kernel. That works only with a clocksource user space can read (tsc,
//    kvm-clock); with hpet or acpi_pm (QEMU's default guest) every read is a
//    real syscall, which strace sees. So clock_gettime is wrapped, and counted
//    exactly when it enters the kernel: always for CPU-time clocks, for the
//    others when the stats library says the clocksource has no vDSO read
//    (zcpipe_interpose_set_clock_syscall). gettimeofday and time() are not
//    wrapped.
// strace counts at the kernel boundary, so it sees all of the above. Ours is a
// lower bound on what our code and its libraries asked for; strace is the
// independent cross-check.
//
// RULES this file keeps, because it runs inside libc's callers at any time
// (before main, in library constructors, in any thread, inside signal-safe
// paths):
//  - no dynamic initialisation: the counters and function pointers are
//    constinit, so they are valid before any constructor runs;
//  - never call a counted function (that would count itself, or recurse while
//    resolving); the only calls are dlsym() and the real function;
//  - keep errno exactly as the real function left it.

// We define read(), open() ... ourselves, under their exact symbol names:
//  - without _FORTIFY_SOURCE, whose inline wrappers would clash with ours;
//  - without _FILE_OFFSET_BITS=64 (meson passes it by default), under which
//    glibc's headers rename open -> open64, mmap -> mmap64 ... with asm
//    labels, so our open() would be emitted as a second open64.
// Both must be undone before the first system header is read.
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "stats/sys.h"

namespace {

using zc::stats::kSysKinds;
using zc::stats::Sys;

// One set per thread, zero at thread start. Trivial and constinit: the
// thread's static TLS block is already zeroed when the thread (or the process,
// before main) runs its first instruction, so no lazy-init guard is needed,
// and in an executable the access compiles to a single %fs-relative
// instruction. initial-exec says so explicitly (no __tls_get_addr, which could
// allocate).
struct ThreadCounters {
  uint64_t n[kSysKinds];
  // Calls made while uncounted > 0: the ledger's (and tracer's) own cost,
  // kept apart so it is reported, not charged to frames nor lost.
  uint64_t measuring[kSysKinds];
  int uncounted;  // depth of live ScopedUncounted objects on this thread
  // Set only while one frame is being traced (--explain): called after each
  // fd call with its kind, descriptor and result.
  zcpipe_trace_hook trace;
  // The same for ioctl(), with its request and argument (stats/ioctl_names.h).
  zcpipe_ioctl_hook ioctl_trace;
};
[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadCounters t_counts{};

inline void count(Sys s) noexcept {
  ThreadCounters& c = t_counts;
  if (c.uncounted == 0) ++c.n[static_cast<size_t>(s)];
  else ++c.measuring[static_cast<size_t>(s)];
}

// Set by the stats library from the clocksource (stats::clock_source()).
// Relaxed atomics: a plain flag, read in every clock_gettime.
constinit std::atomic<bool> g_clock_syscall{false};

// The real function, looked up once with dlsym(RTLD_NEXT): "the next
// definition after this object", which is libc's. Several threads may race on
// the first call; they all store the same pointer, so a relaxed-enough atomic
// is all the synchronisation needed (no mutex, no function-local static whose
// guard could block). glibc's dlsym does not call any function we wrap (its
// own work uses libc-internal calls), so resolving cannot recurse.
template <typename Fn>
struct Real {
  const char* name;
  std::atomic<void*> ptr{nullptr};

  Fn get() noexcept {
    void* p = ptr.load(std::memory_order_acquire);
    if (p == nullptr) {
      const int saved = errno;  // dlsym may touch errno; our caller must not see it
      p = ::dlsym(RTLD_NEXT, name);
      errno = saved;
      ptr.store(p, std::memory_order_release);
    }
    // POSIX guarantees a dlsym result can be converted to a function pointer.
    return reinterpret_cast<Fn>(p);
  }
};

// What a wrapper returns if libc lacks the function (not on glibc 2.36, but a
// null call must never happen): the function's usual failure value, ENOSYS.
template <typename R>
R missing() noexcept {
  errno = ENOSYS;
  if constexpr (std::is_pointer_v<R>) {
    return static_cast<R>(MAP_FAILED);  // only mmap returns a pointer
  } else {
    return static_cast<R>(-1);
  }
}

constinit Real<int (*)(clockid_t, timespec*)> real_clock_gettime{"clock_gettime"};

// When a traced call started: the real clock_gettime, not our wrapper, so the
// tracer's clock reads are never counted as the frame's.
inline uint64_t now_ns() noexcept {
  timespec ts{};
  auto fn = real_clock_gettime.get();
  if (fn != nullptr) fn(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Whether reading clock `id` enters the kernel. The vDSO serves REALTIME,
// MONOTONIC, MONOTONIC_RAW, BOOTTIME and TAI when the clocksource allows it,
// the COARSE clocks always (they read a value the kernel stored at the last
// tick), and never the CPU-time clocks (per-process and per-thread clocks,
// negative ids) nor the alarm clocks.
inline bool clock_read_is_syscall(clockid_t id) noexcept {
  switch (id) {
    case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC_COARSE:
      return false;
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_BOOTTIME:
    case CLOCK_TAI:
      return g_clock_syscall.load(std::memory_order_relaxed);
    default:
      return true;
  }
}

}  // namespace

// ZC_WRAP(kind, return type, name, (parameters), (arguments), exception spec)
// defines `name` with exactly the prototype glibc's header declares (C++
// insists the noexcept matches: glibc marks non-cancellation-point functions
// __THROW = noexcept(true)), counts `kind`, and forwards.
#define ZC_WRAP(kind, R, name, params, args, ...)                          \
  namespace {                                                              \
  constinit Real<R(*) params> real_##name{#name};                          \
  }                                                                        \
  extern "C" R name params __VA_ARGS__ {                                   \
    count(Sys::kind);                                                      \
    auto fn = real_##name.get();                                           \
    if (fn == nullptr) return missing<R>();                                \
    return fn args;                                                        \
  }

// ZC_WRAP_FD: the same, for calls whose `fdexpr` names a descriptor; when a
// trace hook is set (one frame of --explain) it also reports the call.
#define ZC_WRAP_FD(kind, R, name, params, args, fdexpr, ...)                 \
  namespace {                                                              \
  constinit Real<R(*) params> real_##name{#name};                          \
  }                                                                        \
  extern "C" R name params __VA_ARGS__ {                                   \
    count(Sys::kind);                                                      \
    auto fn = real_##name.get();                                           \
    if (fn == nullptr) return missing<R>();                                \
    const bool traced = t_counts.trace != nullptr && t_counts.uncounted == 0; \
    const uint64_t start = traced ? now_ns() : 0;                          \
    const R r = fn args;                                                   \
    if (traced) {                                                          \
      const int saved = errno;                                             \
      t_counts.trace(static_cast<int>(Sys::kind), fdexpr, static_cast<long>(r), start); \
      errno = saved;                                                       \
    }                                                                      \
    return r;                                                              \
  }

// --- plain wrappers --------------------------------------------------------
// The *64 names are the same functions on x86-64 (off_t is already 64 bits),
// but they are separate exported symbols and libraries built with
// _FILE_OFFSET_BITS=64 call them (libwayland: mmap64, fcntl64, open64;
// libdrm/libgbm: open64, mmap64; Mesa: lseek64, ftruncate64, openat64), so
// both spellings are wrapped and counted as one kind.

ZC_WRAP_FD(read, ssize_t, read, (int fd, void* buf, size_t n), (fd, buf, n), fd)
ZC_WRAP_FD(write, ssize_t, write, (int fd, const void* buf, size_t n), (fd, buf, n), fd)
ZC_WRAP_FD(readv, ssize_t, readv, (int fd, const struct iovec* iov, int n), (fd, iov, n), fd)
ZC_WRAP_FD(writev, ssize_t, writev, (int fd, const struct iovec* iov, int n), (fd, iov, n), fd)
ZC_WRAP(pread, ssize_t, pread, (int fd, void* buf, size_t n, off_t off), (fd, buf, n, off))
ZC_WRAP(pread, ssize_t, pread64, (int fd, void* buf, size_t n, off64_t off), (fd, buf, n, off))
ZC_WRAP(pwrite, ssize_t, pwrite, (int fd, const void* buf, size_t n, off_t off),
        (fd, buf, n, off))
ZC_WRAP(pwrite, ssize_t, pwrite64, (int fd, const void* buf, size_t n, off64_t off),
        (fd, buf, n, off))

ZC_WRAP_FD(send, ssize_t, send, (int fd, const void* buf, size_t n, int flags), (fd, buf, n, flags), fd)
ZC_WRAP_FD(recv, ssize_t, recv, (int fd, void* buf, size_t n, int flags), (fd, buf, n, flags), fd)
ZC_WRAP_FD(sendmsg, ssize_t, sendmsg, (int fd, const struct msghdr* msg, int flags),
        (fd, msg, flags), fd)
ZC_WRAP_FD(recvmsg, ssize_t, recvmsg, (int fd, struct msghdr* msg, int flags), (fd, msg, flags), fd)

ZC_WRAP_FD(poll, int, poll, (struct pollfd* fds, nfds_t n, int timeout), (fds, n, timeout), (n > 0 ? fds[0].fd : -1))
ZC_WRAP(ppoll, int, ppoll,
        (struct pollfd* fds, nfds_t n, const struct timespec* timeout, const sigset_t* mask),
        (fds, n, timeout, mask))
ZC_WRAP_FD(epoll_wait, int, epoll_wait, (int epfd, struct epoll_event* ev, int max, int timeout),
        (epfd, ev, max, timeout), epfd)
ZC_WRAP(epoll_pwait, int, epoll_pwait,
        (int epfd, struct epoll_event* ev, int max, int timeout, const sigset_t* mask),
        (epfd, ev, max, timeout, mask))
ZC_WRAP(epoll_ctl, int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event* ev),
        (epfd, op, fd, ev), noexcept)

ZC_WRAP(lseek, off_t, lseek, (int fd, off_t off, int whence), (fd, off, whence), noexcept)
ZC_WRAP(lseek, off64_t, lseek64, (int fd, off64_t off, int whence), (fd, off, whence), noexcept)
ZC_WRAP(close, int, close, (int fd), (fd))
ZC_WRAP(dup, int, dup, (int fd), (fd), noexcept)
ZC_WRAP(dup3, int, dup3, (int fd, int fd2, int flags), (fd, fd2, flags), noexcept)

ZC_WRAP(mmap, void*, mmap, (void* addr, size_t len, int prot, int flags, int fd, off_t off),
        (addr, len, prot, flags, fd, off), noexcept)
ZC_WRAP(mmap, void*, mmap64,
        (void* addr, size_t len, int prot, int flags, int fd, off64_t off),
        (addr, len, prot, flags, fd, off), noexcept)
ZC_WRAP(munmap, int, munmap, (void* addr, size_t len), (addr, len), noexcept)
ZC_WRAP(memfd_create, int, memfd_create, (const char* name, unsigned int flags), (name, flags),
        noexcept)
ZC_WRAP(ftruncate, int, ftruncate, (int fd, off_t len), (fd, len), noexcept)
ZC_WRAP(ftruncate, int, ftruncate64, (int fd, off64_t len), (fd, len), noexcept)
ZC_WRAP(fallocate, int, fallocate, (int fd, int mode, off_t off, off_t len),
        (fd, mode, off, len))
ZC_WRAP(fallocate, int, fallocate64, (int fd, int mode, off64_t off, off64_t len),
        (fd, mode, off, len))

ZC_WRAP(socket, int, socket, (int domain, int type, int proto), (domain, type, proto), noexcept)
ZC_WRAP(socketpair, int, socketpair, (int domain, int type, int proto, int fds[2]),
        (domain, type, proto, fds), noexcept)
ZC_WRAP(connect, int, connect, (int fd, const struct sockaddr* addr, socklen_t len),
        (fd, addr, len))
ZC_WRAP(accept4, int, accept4, (int fd, struct sockaddr* addr, socklen_t* len, int flags),
        (fd, addr, len, flags))

ZC_WRAP(timerfd_create, int, timerfd_create, (clockid_t clock, int flags), (clock, flags),
        noexcept)
ZC_WRAP(timerfd_settime, int, timerfd_settime,
        (int fd, int flags, const struct itimerspec* value, struct itimerspec* old),
        (fd, flags, value, old), noexcept)
ZC_WRAP(eventfd, int, eventfd, (unsigned int initval, int flags), (initval, flags), noexcept)

// --- _FORTIFY_SOURCE twins -------------------------------------------------
// Code compiled with -D_FORTIFY_SOURCE (many distributions' default flags)
// calls these checked variants instead of read(), poll(), open() ... when the
// compiler can see a buffer size. None of the libraries above use them on
// Debian 12, but our own code might be built that way by a packager, so they
// are counted as their plain kind. glibc declares them only under fortify,
// hence our own prototypes.
ZC_WRAP(read, ssize_t, __read_chk, (int fd, void* buf, size_t n, size_t buflen),
        (fd, buf, n, buflen))
ZC_WRAP(pread, ssize_t, __pread_chk, (int fd, void* buf, size_t n, off_t off, size_t buflen),
        (fd, buf, n, off, buflen))
ZC_WRAP(pread, ssize_t, __pread64_chk,
        (int fd, void* buf, size_t n, off64_t off, size_t buflen), (fd, buf, n, off, buflen))
ZC_WRAP(recv, ssize_t, __recv_chk, (int fd, void* buf, size_t n, size_t buflen, int flags),
        (fd, buf, n, buflen, flags))
ZC_WRAP(poll, int, __poll_chk, (struct pollfd* fds, nfds_t n, int timeout, size_t fdslen),
        (fds, n, timeout, fdslen))
ZC_WRAP(ppoll, int, __ppoll_chk,
        (struct pollfd* fds, nfds_t n, const struct timespec* timeout, const sigset_t* mask,
         size_t fdslen),
        (fds, n, timeout, mask, fdslen))
ZC_WRAP(open, int, __open_2, (const char* path, int flags), (path, flags))
ZC_WRAP(open, int, __open64_2, (const char* path, int flags), (path, flags))
ZC_WRAP(openat, int, __openat_2, (int dirfd, const char* path, int flags), (dirfd, path, flags))
ZC_WRAP(openat, int, __openat64_2, (int dirfd, const char* path, int flags),
        (dirfd, path, flags))

#undef ZC_WRAP
#undef ZC_WRAP_FD

// --- variadic functions ----------------------------------------------------
// C cannot forward "..." as such, so each wrapper takes the optional third
// argument out of its va_list and passes it on explicitly, the same way
// glibc's own implementations read it.

namespace {
constinit Real<int (*)(int, unsigned long, void*)> real_ioctl{"ioctl"};
constinit Real<int (*)(int, int, void*)> real_fcntl{"fcntl"};
constinit Real<int (*)(int, int, void*)> real_fcntl64{"fcntl64"};
constinit Real<int (*)(const char*, int, mode_t)> real_open{"open"};
constinit Real<int (*)(const char*, int, mode_t)> real_open64{"open64"};
constinit Real<int (*)(int, const char*, int, mode_t)> real_openat{"openat"};
constinit Real<int (*)(int, const char*, int, mode_t)> real_openat64{"openat64"};
constinit Real<int (*)(clockid_t, int, const timespec*, timespec*)> real_clock_nanosleep{
    "clock_nanosleep"};

// open's mode argument exists only when the call creates a file: O_CREAT, or
// O_TMPFILE (which includes O_DIRECTORY, hence the full-mask test). This is
// glibc's __OPEN_NEEDS_MODE; reading a va_arg that was never passed is
// undefined behaviour.
inline bool open_needs_mode(int flags) noexcept {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

// fcntl's and ioctl's third argument is an int or a pointer depending on the
// command. On x86-64 both travel in the same 64-bit register, and glibc reads
// it as a pointer in every case; so do we.
int fcntl_common(Real<int (*)(int, int, void*)>& real, int fd, int cmd, va_list ap) noexcept {
  count(Sys::fcntl);
  void* arg = va_arg(ap, void*);
  auto fn = real.get();
  if (fn == nullptr) return missing<int>();
  return fn(fd, cmd, arg);
}

int open_common(Real<int (*)(const char*, int, mode_t)>& real, const char* path, int flags,
                va_list ap) noexcept {
  count(Sys::open);
  mode_t mode = 0;
  if (open_needs_mode(flags)) mode = static_cast<mode_t>(va_arg(ap, int));  // promoted to int
  auto fn = real.get();
  if (fn == nullptr) return missing<int>();
  return fn(path, flags, mode);
}

int openat_common(Real<int (*)(int, const char*, int, mode_t)>& real, int dirfd,
                  const char* path, int flags, va_list ap) noexcept {
  count(Sys::openat);
  mode_t mode = 0;
  if (open_needs_mode(flags)) mode = static_cast<mode_t>(va_arg(ap, int));
  auto fn = real.get();
  if (fn == nullptr) return missing<int>();
  return fn(dirfd, path, flags, mode);
}
}  // namespace

// ioctl is the display's whole vocabulary (PRIME import, ADDFB2, atomic
// commits, dma-buf syncs). While one frame is traced, the tracer gets each
// call's request and argument after the call, to say what it meant; otherwise
// the cost is one thread-local load and a not-taken branch.
extern "C" int ioctl(int fd, unsigned long request, ...) noexcept {
  count(Sys::ioctl);
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  auto fn = real_ioctl.get();
  if (fn == nullptr) return missing<int>();
  const zcpipe_ioctl_hook hook = t_counts.ioctl_trace;
  if (hook == nullptr || t_counts.uncounted != 0) [[likely]]
    return fn(fd, request, arg);
  const uint64_t start = now_ns();
  const int r = fn(fd, request, arg);
  const int saved = errno;
  hook(fd, request, arg, r, saved, start);
  errno = saved;
  return r;
}

extern "C" int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const int r = fcntl_common(real_fcntl, fd, cmd, ap);
  va_end(ap);
  return r;
}

extern "C" int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const int r = fcntl_common(real_fcntl64, fd, cmd, ap);
  va_end(ap);
  return r;
}

extern "C" int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const int r = open_common(real_open, path, flags, ap);
  va_end(ap);
  return r;
}

extern "C" int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const int r = open_common(real_open64, path, flags, ap);
  va_end(ap);
  return r;
}

extern "C" int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const int r = openat_common(real_openat, dirfd, path, flags, ap);
  va_end(ap);
  return r;
}

extern "C" int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const int r = openat_common(real_openat64, dirfd, path, flags, ap);
  va_end(ap);
  return r;
}

// clock_nanosleep reports failure as its return value, not through errno.
extern "C" int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  count(Sys::clock_nanosleep);
  auto fn = real_clock_nanosleep.get();
  if (fn == nullptr) return ENOSYS;
  return fn(clock, flags, req, rem);
}

extern "C" int clock_gettime(clockid_t clock, struct timespec* tp) noexcept {
  if (clock_read_is_syscall(clock)) count(Sys::clock_gettime);
  auto fn = real_clock_gettime.get();
  if (fn == nullptr) return missing<int>();
  return fn(clock, tp);
}

// glibc declares getrusage(int, ...) in C++ (__rusage_who_t is int there).
namespace {
constinit Real<int (*)(int, struct rusage*)> real_getrusage{"getrusage"};
}
extern "C" int getrusage(int who, struct rusage* usage) noexcept {
  count(Sys::getrusage);
  auto fn = real_getrusage.get();
  if (fn == nullptr) return missing<int>();
  return fn(who, usage);
}

// --- the interface to the stats library (stats/sys.h) -----------------------

extern "C" void zcpipe_interpose_thread_counts(uint64_t* out, size_t n) noexcept {
  const ThreadCounters& c = t_counts;
  for (size_t i = 0; i < n && i < kSysKinds; ++i) out[i] = c.n[i];
}

extern "C" void zcpipe_interpose_uncounted(int delta) noexcept { t_counts.uncounted += delta; }

extern "C" void zcpipe_interpose_measuring_counts(uint64_t* out, size_t n) noexcept {
  const ThreadCounters& c = t_counts;
  for (size_t i = 0; i < n && i < kSysKinds; ++i) out[i] = c.measuring[i];
}

extern "C" void zcpipe_interpose_set_clock_syscall(bool syscall) noexcept {
  g_clock_syscall.store(syscall, std::memory_order_relaxed);
}

extern "C" void zcpipe_interpose_set_trace(zcpipe_trace_hook hook) noexcept { t_counts.trace = hook; }

extern "C" void zcpipe_interpose_set_ioctl_trace(zcpipe_ioctl_hook hook) noexcept { t_counts.ioctl_trace = hook; }

// dlsym(RTLD_DEFAULT, name) is the lookup a shared library's PLT performs.
// If it finds our definitions, libraries are counted too; if it finds libc's,
// the wrappers were not exported (an unusual linker, a version script) and
// only the executable's own direct calls are counted. A few names are checked
// in case only some were exported.
extern "C" bool zcpipe_interpose_exported() noexcept {
  const int saved = errno;
  const bool ok = ::dlsym(RTLD_DEFAULT, "read") == reinterpret_cast<void*>(&read) &&
                  ::dlsym(RTLD_DEFAULT, "sendmsg") == reinterpret_cast<void*>(&sendmsg) &&
                  ::dlsym(RTLD_DEFAULT, "ioctl") == reinterpret_cast<void*>(&ioctl) &&
                  ::dlsym(RTLD_DEFAULT, "memfd_create") == reinterpret_cast<void*>(&memfd_create) &&
                  ::dlsym(RTLD_DEFAULT, "clock_nanosleep") ==
                      reinterpret_cast<void*>(&clock_nanosleep);
  errno = saved;
  return ok;
}
