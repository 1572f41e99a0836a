// Integration-test harness: real zcpipe processes on a private
// XDG_RUNTIME_DIR, started and always cleaned up by RAII.
//
//   TempDir        mkdtemp'd directory (mode 0700, usable as XDG_RUNTIME_DIR),
//                  removed with its contents
//   Process        fork/exec with a chosen environment, stdout/stderr to files,
//                  only fds 0-2 (and optionally one fd as 3) inherited;
//                  wait with a timeout; killed (its whole process group) and
//                  reaped if still running when it goes out of scope
//   Compositor     zcpipe-compositor started with --ready-fd and waited for
//   read_json      a stats/--json file
//
// Setup failures throw std::runtime_error: GoogleTest reports the message
// and the destructors still stop every child and remove every directory.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace zct {

using namespace std::chrono_literals;
using nlohmann::json;

inline uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Path of a zcpipe program, from the environment meson gives the test
// (ZCPIPE_COMPOSITOR, ZCPIPE_CLIENT, ZCPIPE_DEMO).
inline std::string program(const char* env_var) {
  const char* p = std::getenv(env_var);
  if (p == nullptr || *p == '\0') throw std::runtime_error(std::string(env_var) + " is not set (run through meson test)");
  return p;
}
inline std::string compositor_path() { return program("ZCPIPE_COMPOSITOR"); }
inline std::string client_path() { return program("ZCPIPE_CLIENT"); }
inline std::string demo_path() { return program("ZCPIPE_DEMO"); }

// A unique, short socket name for this test process.
inline std::string socket_name(const std::string& tag) { return "zct-" + tag + "-" + std::to_string(::getpid()); }

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/zcpipe-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// With ZCPIPE_JSON_KEEP set (meson does), a copy of every file read lands
// there for the json-schema test, which validates them all (tests/schema).
inline void keep_json_copy(const std::string& path) {
  const char* dir = std::getenv("ZCPIPE_JSON_KEEP");
  if (dir == nullptr || *dir == '\0') return;
  static int n = 0;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string name = std::filesystem::path(path).stem().string() + "-" + std::to_string(::getpid()) + "-" +
                           std::to_string(n++) + ".json";
  std::filesystem::copy_file(path, std::filesystem::path(dir) / name, std::filesystem::copy_options::overwrite_existing, ec);
}

inline json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("missing JSON file " + path);
  keep_json_copy(path);
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot parse " + path + ": " + e.what());
  }
}

// Open descriptors of another process (entries of /proc/PID/fd), -1 if gone.
inline int count_fds_of(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

struct SpawnOptions {
  std::vector<std::string> argv;
  // Environment changes: a value sets the variable, nullopt removes it.
  // WAYLAND_DISPLAY is always removed so nothing reaches a real session.
  std::map<std::string, std::optional<std::string>> env;
  std::string stdout_path;  // empty: inherit the test's
  std::string stderr_path;  // empty: inherit the test's
  int fd3 = -1;             // passed to the child as descriptor 3
};

// How a child ended.
struct Exit {
  bool exited = false;  // normal exit (code valid)
  int code = -1;
  int signal = 0;       // killed by this signal
  bool ok() const { return exited && code == 0; }
  std::string describe() const {
    if (exited) return "exit status " + std::to_string(code);
    const char* name = sigabbrev_np(signal);  // "BUS", "KILL", ...
    return "killed by signal " + std::to_string(signal) + (name != nullptr ? std::string(" (SIG") + name + ")" : "");
  }
};

class Process {
 public:
  explicit Process(const SpawnOptions& o) : argv0_(o.argv.empty() ? "" : o.argv[0]) {
    if (o.argv.empty()) throw std::runtime_error("spawn: empty argv");
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls.
    std::vector<std::string> env_strings;
    std::map<std::string, std::optional<std::string>> changes = o.env;
    changes.try_emplace("WAYLAND_DISPLAY", std::nullopt);
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv(*e);
      const std::string key = kv.substr(0, kv.find('='));
      if (changes.count(key) == 0) env_strings.push_back(kv);
    }
    for (const auto& [k, v] : changes)
      if (v) env_strings.push_back(k + "=" + *v);
    std::vector<char*> args, envp;
    for (const auto& a : o.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      // Own process group, so cleanup can kill grandchildren too (zcpipe-demo's).
      ::setpgid(0, 0);
      // Die with the test, so a crashed test leaves no compositor behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
      auto redirect = [](const std::string& path, int target) {
        if (path.empty()) return;
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ::dup2(fd, target) < 0) ::_exit(126);
      };
      redirect(o.stdout_path, STDOUT_FILENO);
      redirect(o.stderr_path, STDERR_FILENO);
      int keep = 2;
      if (o.fd3 >= 0) {
        if (o.fd3 == 3) {
          ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep FD_CLOEXEC
        } else if (::dup2(o.fd3, 3) < 0) {
          ::_exit(126);
        }
        keep = 3;
      }
      // Nothing else leaks into the child: its fd counts are its own.
      ::close_range(static_cast<unsigned>(keep + 1), ~0u, 0);
      ::execve(args[0], args.data(), envp.data());
      const char* why = std::strerror(errno);  // glibc: a static table, no allocation
      for (const char* part : {"zct: cannot execute ", static_cast<const char*>(args[0]), ": ", why, "\n"})
        (void)!::write(STDERR_FILENO, part, std::strlen(part));
      ::_exit(127);
    }
  }
  ~Process() { kill_and_reap(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    poll_exit();
    return pid_ > 0;
  }
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // The exit, or nullopt if it is still running after `timeout`.
  std::optional<Exit> wait(std::chrono::milliseconds timeout) {
    const uint64_t deadline = now_ns() + static_cast<uint64_t>(timeout.count()) * 1'000'000ull;
    for (;;) {
      poll_exit();
      if (exit_) return exit_;
      if (now_ns() > deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }
  // Waits; on timeout kills the process (group) and throws.
  Exit wait_or_kill(std::chrono::milliseconds timeout) {
    if (auto e = wait(timeout)) return *e;
    kill_and_reap();
    throw std::runtime_error(argv0_ + " did not finish within " + std::to_string(timeout.count()) + " ms (killed)");
  }
  void kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    record(status);
  }

 private:
  void poll_exit() {
    if (pid_ <= 0) return;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) record(status);
  }
  void record(int status) {
    Exit e;
    if (WIFEXITED(status)) {
      e.exited = true;
      e.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      e.signal = WTERMSIG(status);
    }
    exit_ = e;
    // Anything left in its group (a demo's children) goes too.
    ::kill(-pid_, SIGKILL);
    pid_ = -1;
  }

  std::string argv0_;
  pid_t pid_ = -1;
  std::optional<Exit> exit_;
};

struct CompositorOptions {
  std::string socket;          // default: socket_name("c")
  uint32_t refresh = 0;        // Hz; 0 = unpaced
  std::string size = "640x480";
  bool verify = false;
  bool stats = true;           // --stats <runtime dir>/compositor.json
  bool ready_fd = true;        // readiness by --ready-fd; otherwise by the listening socket
  std::vector<std::string> extra;
};

// Default options at a refresh rate (0 = unpaced).
inline CompositorOptions at_refresh(uint32_t hz) {
  CompositorOptions o;
  o.refresh = hz;
  return o;
}

// Whether a UNIX socket bound at `path` is listening (from /proc/net/unix:
// flag __SO_ACCEPTCON = 0x10000). Reads /proc, never connects: probing by
// connecting would itself be a client of the compositor.
inline bool socket_listening(const std::string& path) {
  std::ifstream f("/proc/net/unix");
  std::string line;
  std::getline(f, line);  // header
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string num, refcount, protocol, flags, type, st, inode, p;
    in >> num >> refcount >> protocol >> flags >> type >> st >> inode >> p;
    if (p == path && (std::stoul(flags, nullptr, 16) & 0x10000u) != 0) return true;
  }
  return false;
}

// zcpipe-compositor on a private runtime dir, ready to accept clients.
class Compositor {
 public:
  Compositor(const TempDir& runtime, CompositorOptions o) : runtime_(runtime.path()), opt_(std::move(o)) {
    if (opt_.socket.empty()) opt_.socket = socket_name("c");
    stats_path_ = runtime / "compositor.json";
    SpawnOptions s;
    s.argv = {compositor_path(), "--socket",  opt_.socket, "--output", "headless",
              "--refresh",       std::to_string(opt_.refresh), "--size", opt_.size, "--quiet"};
    if (opt_.verify) s.argv.emplace_back("--verify");
    if (opt_.stats) s.argv.insert(s.argv.end(), {"--stats", stats_path_});
    s.argv.insert(s.argv.end(), opt_.extra.begin(), opt_.extra.end());
    s.env["XDG_RUNTIME_DIR"] = runtime_;
    int pipefd[2] = {-1, -1};
    if (opt_.ready_fd) {
      if (::pipe2(pipefd, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
      s.argv.insert(s.argv.end(), {"--ready-fd", "3"});
      s.fd3 = pipefd[1];
    }
    proc_.emplace(s);
    if (opt_.ready_fd) {
      ::close(pipefd[1]);
      const bool ok = wait_ready_pipe(pipefd[0]);
      ::close(pipefd[0]);
      if (!ok) fail_start("did not write 'ready' to --ready-fd");
    } else {
      const uint64_t deadline = now_ns() + 20'000'000'000ull;
      while (!socket_listening(socket_path())) {
        if (!proc_->running()) fail_start("exited before listening");
        if (now_ns() > deadline) fail_start("socket not listening after 20 s");
        std::this_thread::sleep_for(5ms);
      }
    }
  }

  pid_t pid() const { return proc_->pid(); }
  Process& process() { return *proc_; }
  const std::string& socket() const { return opt_.socket; }
  const std::string& runtime_dir() const { return runtime_; }
  std::string socket_path() const { return runtime_ + "/" + opt_.socket; }
  const std::string& stats_path() const { return stats_path_; }
  int open_fds() const { return count_fds_of(proc_->pid()); }
  // open_fds() of the idle compositor: the lowest of a few readings 10 ms
  // apart, because it briefly holds one more descriptor whenever it counts its
  // own (count_open_fds opens /proc/self/fd), e.g. right after "ready".
  int idle_fds() const {
    int n = open_fds();
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(10ms);
      const int m = open_fds();
      if (m >= 0 && m < n) n = m;
    }
    return n;
  }

  // SIGTERM, then its exit (killed and thrown on timeout).
  Exit stop(std::chrono::milliseconds timeout = 20s) {
    proc_->signal(SIGTERM);
    return proc_->wait_or_kill(timeout);
  }
  json stats() const { return read_json(stats_path_); }

 private:
  // "ready\n", then end-of-file: the compositor has also closed its end, so
  // its descriptor table is settled when the test takes a baseline.
  bool wait_ready_pipe(int fd) {
    std::string got;
    const uint64_t deadline = now_ns() + 20'000'000'000ull;
    for (;;) {
      const uint64_t now = now_ns();
      if (now > deadline) return false;
      pollfd p{fd, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000ull) + 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      char buf[64];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return got.rfind("ready", 0) == 0;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  [[noreturn]] void fail_start(const std::string& why) {
    std::string status;
    if (auto e = proc_->wait(100ms)) status = " (" + e->describe() + ")";
    proc_->kill_and_reap();
    throw std::runtime_error("zcpipe-compositor " + why + status);
  }

  std::string runtime_;
  CompositorOptions opt_;
  std::string stats_path_;
  std::optional<Process> proc_;
};

// Starts zcpipe-client against `c` (not waited for). --quiet unless extra says otherwise.
inline SpawnOptions client_options(const Compositor& c, const std::vector<std::string>& args,
                                   const std::string& stats_path = "") {
  SpawnOptions s;
  s.argv = {client_path(), "--socket", c.socket(), "--quiet"};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  if (!stats_path.empty()) s.argv.insert(s.argv.end(), {"--stats", stats_path});
  s.env["XDG_RUNTIME_DIR"] = c.runtime_dir();
  return s;
}

}  // namespace zct
