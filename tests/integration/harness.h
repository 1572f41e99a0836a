// Integration-test harness: real zcpipe processes on a private
// XDG_RUNTIME_DIR, started and always cleaned up by RAII.
//
//   TempDir        mkdtemp'd directory (mode 0700, usable as XDG_RUNTIME_DIR),
//                  removed with its contents
//   Process        zc::Child (src/common/process.h, the one fork/exec of the
//                  project): a chosen environment, stdout/stderr to files,
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/process.h"

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

// How to start a child (zc::SpawnOptions, src/common/process.h). Process
// always adds: WAYLAND_DISPLAY removed (nothing reaches a real session), its
// own process group (cleanup also kills a demo's children), and SIGKILL when
// the test dies (a crashed test leaves no compositor behind).
using SpawnOptions = zc::SpawnOptions;
// How a child ended: exited + code, or signal.
using Exit = zc::ExitStatus;

// zc::Child with the harness's defaults; setup failures throw.
class Process {
 public:
  // own_group = false only for tests that check what a program does to its
  // own children: cleanup through the group would hide what it left behind.
  explicit Process(const SpawnOptions& o, bool own_group = true) : argv0_(o.argv.empty() ? "" : o.argv[0]) {
    SpawnOptions so = o;
    so.env.try_emplace("WAYLAND_DISPLAY", std::nullopt);
    so.new_process_group = own_group;
    so.parent_death_signal = SIGKILL;
    auto c = zc::Child::spawn(so);
    if (!c) throw std::runtime_error("spawn " + argv0_ + ": " + c.error().message());
    child_ = std::move(c.value());
    pid_ = child_.pid();
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The pid it was started with (still valid for /proc checks after it ended).
  pid_t pid() const { return pid_; }
  bool running() { return child_.running(); }
  void signal(int sig) { child_.signal(sig); }
  // The exit, or nullopt if it is still running after `timeout`.
  std::optional<Exit> wait(std::chrono::milliseconds timeout) { return child_.wait_for(static_cast<int>(timeout.count())); }
  // Waits; on timeout kills the process (group) and throws.
  Exit wait_or_kill(std::chrono::milliseconds timeout) {
    if (auto e = wait(timeout)) return *e;
    child_.kill_and_reap();
    throw std::runtime_error(argv0_ + " did not finish within " + std::to_string(timeout.count()) + " ms (killed)");
  }
  void kill_and_reap() { child_.kill_and_reap(); }

 private:
  std::string argv0_;
  pid_t pid_ = -1;
  zc::Child child_;
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

// A program run to its end with its output kept: for tests of what a
// program says and how it exits (usage errors, --version, refusals).
struct Outcome {
  Exit exit;
  std::vector<std::string> err_lines;  // non-empty stderr lines
  std::string out;                     // all of stdout
};

inline Outcome run_to_end(const TempDir& dir, std::vector<std::string> argv,
                          std::map<std::string, std::optional<std::string>> env = {},
                          std::chrono::milliseconds timeout = 60s) {
  SpawnOptions s;
  s.argv = std::move(argv);
  s.env = std::move(env);
  s.stdout_path = dir / "stdout";
  s.stderr_path = dir / "stderr";
  Process p(s);
  Outcome o;
  o.exit = p.wait_or_kill(timeout);
  o.err_lines = lines_of(read_file(dir / "stderr"));
  o.out = read_file(dir / "stdout");
  return o;
}

}  // namespace zct
