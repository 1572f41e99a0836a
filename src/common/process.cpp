#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

extern char** environ;

namespace zc {

namespace {

uint64_t now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000u;
}

// A descriptor that becomes readable when the process ends (Linux 5.3).
// Called through syscall() so it builds against any glibc; on older kernels
// the wait falls back to polling waitpid.
int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// In the child, between fork and exec: only async-signal-safe calls.
void reset_signals_in_child() {
  // The mask and SIG_IGN survive execve (handlers do not: they reset to
  // SIG_DFL by themselves). Undo what our parent set up for itself.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
}

[[noreturn]] void child_fail(const char* what, const char* arg) {
  const char* why = std::strerror(errno);  // glibc: a static table, no allocation
  for (const char* part : {"cannot ", what, " ", arg, ": ", why, "\n"})
    (void)!::write(STDERR_FILENO, part, std::strlen(part));
  ::_exit(127);  // the shell's "command not found / not executable"
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited) return "exit status " + std::to_string(code);
  const char* name = sigabbrev_np(signal);  // "BUS", "KILL", ...
  return "killed by signal " + std::to_string(signal) + (name != nullptr ? std::string(" (SIG") + name + ")" : "");
}

ExitStatus ExitStatus::from_wait_status(int status) {
  ExitStatus e;
  if (WIFEXITED(status)) {
    e.exited = true;
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  }
  return e;
}

Child::Child(pid_t pid, bool group) : pid_(pid), group_(group), pidfd_(pidfd_open(pid)) {}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), group_(o.group_), pidfd_(std::move(o.pidfd_)), exit_(std::move(o.exit_)) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill_and_reap();
    pid_ = std::exchange(o.pid_, -1);
    group_ = o.group_;
    pidfd_ = std::move(o.pidfd_);
    exit_ = std::move(o.exit_);
  }
  return *this;
}

Result<Child> Child::spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return Error{EINVAL, "spawn: empty argv"};
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (the parent may have other threads holding
  // malloc's lock).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    if (o.env.count(kv.substr(0, kv.find('='))) == 0) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : o.env)
    if (v) env_strings.push_back(k + "=" + *v);
  std::vector<char*> args, envp;
  for (const auto& a : o.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork");
  if (pid == 0) {
    if (o.new_process_group) ::setpgid(0, 0);
    if (o.parent_death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, o.parent_death_signal);
      if (::getppid() != parent) ::_exit(126);  // the parent died before prctl
    }
    reset_signals_in_child();
    auto redirect = [](const std::string& path, int target) {
      if (path.empty()) return;
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || ::dup2(fd, target) < 0) child_fail("open", path.c_str());
    };
    redirect(o.stdout_path, STDOUT_FILENO);
    redirect(o.stderr_path, STDERR_FILENO);
    unsigned keep = 2;
    if (o.fd3 >= 0) {
      if (o.fd3 == 3) {
        ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
      } else if (::dup2(o.fd3, 3) < 0) {
        child_fail("pass descriptor", "3");
      }
      keep = 3;
    }
    // Nothing else leaks into the child, CLOEXEC or not.
    ::close_range(keep + 1, ~0u, 0);
    if (o.search_path)
      ::execvpe(args[0], args.data(), envp.data());
    else
      ::execve(args[0], args.data(), envp.data());
    child_fail("execute", args[0]);
  }
  if (o.new_process_group) ::setpgid(pid, pid);  // also here: no race with an early signal()
  return Child(pid, o.new_process_group);
}

Result<Child> Child::fork_call(const std::function<int()>& body, int parent_death_signal) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork");
  if (pid == 0) {
    if (parent_death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, parent_death_signal);
      if (::getppid() != parent) ::_exit(126);
    }
    reset_signals_in_child();
    ::_exit(body());  // _exit: no atexit handlers or stdio flushes of the parent's state
  }
  return Child(pid, false);
}

void Child::record(int wait_status) {
  exit_ = ExitStatus::from_wait_status(wait_status);
  // Anything left in its group (a demo's children) goes too. The group id
  // stays reserved while any member lives, so this cannot hit a stranger.
  if (group_) ::kill(-pid_, SIGKILL);
  pid_ = -1;
  pidfd_.reset();
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) record(status);
  return pid_ > 0;
}

void Child::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<ExitStatus> Child::wait_for(int timeout_ms, const volatile sig_atomic_t* interrupt) {
  const uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ms() + static_cast<uint64_t>(timeout_ms);
  for (;;) {
    if (!running()) return exit_;
    if (interrupt != nullptr && *interrupt != 0) return std::nullopt;
    const uint64_t now = now_ms();
    if (now >= deadline) return std::nullopt;
    // Slices of at most 100 ms: a signal that lands between the check of
    // *interrupt and poll() is noticed within one slice.
    const int slice = static_cast<int>(std::min<uint64_t>(deadline - now, 100));
    if (pidfd_) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      (void)::poll(&p, 1, slice);  // EINTR: a signal, loop and look at *interrupt
    } else {
      ::usleep(static_cast<useconds_t>(std::min(slice, 2)) * 1000u);
    }
  }
}

ExitStatus Child::terminate(int grace_ms) {
  if (!running()) return exit_.value_or(ExitStatus{});
  signal(SIGTERM);
  if (auto e = wait_for(grace_ms)) return *e;
  kill_and_reap();
  return exit_.value_or(ExitStatus{});
}

void Child::kill_and_reap() {
  if (pid_ <= 0) return;
  if (group_) ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  record(status);
}

}  // namespace zc
