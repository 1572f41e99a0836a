// One compositor on a private runtime dir, a well-behaved zcpipe-client
// running next to a misbehaving test client, and the checks that the
// compositor kept serving: shared by the baseline tests.
#pragma once

#include <gtest/gtest.h>
#include <limits.h>

#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "../integration/harness.h"
#include "raw_client.h"

namespace zcb {

using zct::Compositor;
using zct::CompositorOptions;
using zct::Exit;
using zct::json;
using zct::Process;
using zct::TempDir;
using namespace std::chrono_literals;

constexpr uint32_t kW = 640, kH = 480;
constexpr uint64_t kFrameBytes = uint64_t{kW} * 4 * kH;  // 1228800
constexpr int kGoodFrames = 100;

// A "Key: N kB" line of /proc/<pid>/status in bytes: VmRSS (resident
// memory: anonymous, file and shared pages mapped; a scanout memfd counts
// while mapped), VmPeak (the most address space it ever mapped, touched or
// not). Throws if the process or the key is gone.
inline uint64_t proc_status_bytes(pid_t pid, const std::string& want) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  uint64_t kb = 0;
  while (f >> key) {
    if (key == want + ":") {
      f >> kb;
      return kb * 1024;
    }
    f.ignore(4096, '\n');
  }
  throw std::runtime_error("no " + want + " for pid " + std::to_string(pid));
}

// Descriptors of `pid` that are sockets (the listening socket, one per
// connected client, one per socket-baseline stream), -1 if it is gone.
// How many of the process's descriptors link to a target starting with
// `prefix` ("socket:", "/memfd:zcpipe-frame", ...), from /proc/PID/fd.
inline int count_fds_of(pid_t pid, const std::string& prefix) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[PATH_MAX];
    const ssize_t len = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target - 1);
    if (len > 0 && std::string(target, static_cast<size_t>(len)).rfind(prefix, 0) == 0) ++n;
  }
  ::closedir(d);
  return n;
}
inline int count_sockets_of(pid_t pid) { return count_fds_of(pid, "socket:"); }

class Scenario {
 public:
  explicit Scenario(uint32_t refresh, bool ready_fd = true, std::vector<std::string> extra = {}) {
    CompositorOptions o;
    o.refresh = refresh;
    o.size = std::to_string(kW) + "x" + std::to_string(kH);
    o.ready_fd = ready_fd;
    o.extra = std::move(extra);
    comp_.emplace(rt_, o);
    sockets_at_start_ = count_sockets_of(comp_->pid());
  }

  Compositor& comp() { return *comp_; }
  const TempDir& rt() const { return rt_; }
  std::string socket_path() const { return comp_->socket_path(); }

  // zcpipe-client --transport socket (or another) --frames N --size 640x480, not waited for.
  std::unique_ptr<Process> start_client(const std::string& name, const std::string& transport = "socket",
                                        int frames = kGoodFrames) {
    zct::SpawnOptions s = zct::client_options(
        *comp_,
        {"--transport", transport, "--frames", std::to_string(frames), "--size",
         std::to_string(kW) + "x" + std::to_string(kH)},
        rt_ / (name + ".json"));
    s.stderr_path = rt_ / (name + ".log");
    return std::make_unique<Process>(s);
  }

  // Waits for a client started by start_client; returns its --stats JSON
  // (its exit is checked by the caller through `exit`).
  json finish_client(Process& p, const std::string& name, Exit* exit = nullptr) {
    const Exit e = p.wait_or_kill(45s);
    if (exit != nullptr) *exit = e;
    EXPECT_TRUE(e.ok()) << name << ": " << e.describe() << "\n" << zct::read_file(rt_ / (name + ".log"));
    return zct::read_json(rt_ / (name + ".json"));
  }

  // Runs a client to completion and checks it presented every frame.
  json run_good_client(const std::string& name, const std::string& transport = "socket", int frames = kGoodFrames) {
    auto p = start_client(name, transport, frames);
    json j = finish_client(*p, name);
    EXPECT_EQ(j["frames_presented"], frames) << name;
    EXPECT_EQ(j["error"], "") << name;
    return j;
  }

  // Bounded wait until the compositor holds no client sockets any more (it
  // has noticed every hang-up); returns the socket count then.
  int settle_sockets() {
    int n = count_sockets_of(comp_->pid());
    const uint64_t deadline = zct::now_ns() + 10'000'000'000ull;
    while (n != sockets_at_start_ && zct::now_ns() < deadline) {
      std::this_thread::sleep_for(10ms);
      n = count_sockets_of(comp_->pid());
    }
    return n;
  }
  int sockets_at_start() const { return sockets_at_start_; }

  // Every client gone: SIGTERM, exit 0, and the stats it wrote.
  json stop() {
    EXPECT_EQ(settle_sockets(), sockets_at_start_) << "the compositor still holds client or stream sockets";
    EXPECT_TRUE(comp_->process().running()) << "the compositor died";
    const Exit e = comp_->stop();
    EXPECT_TRUE(e.ok()) << "zcpipe-compositor: " << e.describe();
    return comp_->stats();
  }

 private:
  TempDir rt_;
  std::optional<Compositor> comp_;
  int sockets_at_start_ = -1;
};

}  // namespace zcb
