// Child processes: start, wait with a timeout, signal, reap — one
// implementation for every zcpipe program and test that runs another process
// (zcpipe-demo runs a compositor and a client, zcpipe-compositor runs the
// command after `--`, zcpipe-bench forks the peer of its bare round trip, the
// integration tests run all of them).
//
// What a child inherits from fork() is the whole point of getting this right
// once:
//   - open descriptors: every fd above 2 (and the optional fd 3) is closed in
//     the child, so a compositor's DRM fd or a test's pipe never leaks into a
//     client, and a child's fd count is its own;
//   - the signal mask and ignored signals survive execve(): a compositor that
//     blocks SIGTERM (libwayland's signalfd) or ignores SIGPIPE would pass
//     that on, and the client could not be stopped with SIGTERM. Both are
//     reset in the child;
//   - a child whose parent dies keeps running unless told otherwise
//     (PR_SET_PDEATHSIG), and grandchildren survive a kill of the child
//     unless the child leads its own process group.
//
// A Child still running when its owner goes away is killed and reaped: no
// zombie, no orphan, on every exit path.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace zc {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is a path (execve, no $PATH search) unless search_path
  bool search_path = false;       // look argv[0] up in $PATH (execvpe), as a shell would
  // Environment changes on top of ours: a value sets the variable, nullopt removes it.
  std::map<std::string, std::optional<std::string>> env;
  std::string stdout_path;  // empty: inherit ours
  std::string stderr_path;  // empty: inherit ours
  int fd3 = -1;             // passed to the child as descriptor 3 (e.g. a --ready-fd pipe)
  // The child leads a new process group, so signal()/kill reach its own
  // children too (zcpipe-demo's compositor and client).
  bool new_process_group = false;
  // Signal the child receives when the thread that started it dies (0: none).
  int parent_death_signal = 0;
};

// How a child ended.
struct ExitStatus {
  bool exited = false;  // normal exit: code is valid
  int code = -1;
  int signal = 0;       // killed by this signal
  bool ok() const { return exited && code == 0; }
  // The status a shell would report: the exit code, or 128 + signal.
  int shell_status() const { return exited ? code : 128 + signal; }
  std::string describe() const;  // "exit status 1", "killed by signal 9 (SIGKILL)"
  static ExitStatus from_wait_status(int status);
};

class Child {
 public:
  // fork + execve with the options above.
  static Result<Child> spawn(const SpawnOptions& options);
  // fork only: the child runs `body` and _exit()s with its return value.
  // For helpers that share memory set up before the fork (zcpipe-bench's
  // round-trip peer). `body` must not return into the caller's stack frames.
  static Result<Child> fork_call(const std::function<int()>& body, int parent_death_signal = SIGKILL);

  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill_and_reap(); }

  pid_t pid() const { return pid_; }
  // Reaps it if it has ended; true while it runs.
  bool running();
  // Its exit, once reaped (also after running() or wait_for saw it end).
  const std::optional<ExitStatus>& exit_status() const { return exit_; }

  // Sends `sig` to the child alone (it decides what its children get).
  void signal(int sig);
  // Waits for the child to end, at most `timeout_ms` (< 0: no limit).
  // Returns nullopt if it is still running then, or as soon as `*interrupt`
  // becomes non-zero (a signal handler's flag: the caller decides what to do).
  std::optional<ExitStatus> wait_for(int timeout_ms, const volatile sig_atomic_t* interrupt = nullptr);
  // SIGTERM, up to `grace_ms` to exit (a compositor writes its stats and
  // removes its socket), then SIGKILL. Always returns how it ended.
  ExitStatus terminate(int grace_ms);
  // SIGKILL (group too) and reap; no-op if already reaped.
  void kill_and_reap();

 private:
  explicit Child(pid_t pid, bool group);
  void record(int wait_status);

  pid_t pid_ = -1;
  bool group_ = false;
  UniqueFd pidfd_;  // pidfd_open(2): poll()able until the child ends, no busy wait
  std::optional<ExitStatus> exit_;
};

}  // namespace zc
