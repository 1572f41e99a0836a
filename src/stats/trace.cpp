#include "stats/trace.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <vector>

#include "common/clock.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"
#include "stats/sys.h"

extern "C" {
[[gnu::weak]] void zcpipe_interpose_set_trace(zcpipe_trace_hook hook) noexcept;
}

namespace zc::stats {
namespace {

struct Event {
  uint64_t t_ns;
  int kind;  // Sys, or -1 for a step
  int fd;
  long result;
  const char* file;
  const char* function;
  std::string text;
  uint64_t bytes;
};

thread_local bool t_tracing = false;
thread_local std::vector<Event> t_events;
thread_local std::map<int, std::string> t_fd_names;

// What a descriptor is, from /proc/self/fd: "socket:[1234]", "/memfd:zcpipe-frame (deleted)", "anon_inode:[eventpoll]".
void remember_fd(int fd) {
  if (fd < 0 || t_fd_names.count(fd) != 0) return;
  char path[64], target[256] = {};
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(path, target, sizeof target - 1);
  t_fd_names[fd] = n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
}

void hook(int kind, int fd, long result, uint64_t start_ns) {
  ScopedUncounted quiet;  // the tracer's own work is not part of the frame
  remember_fd(fd);
  t_events.push_back(Event{start_ns, kind, fd, result, nullptr, nullptr, {}, 0});
}

// "../src/client/client.cpp" -> "src/client/client.cpp"
std::string source_path(const char* file) {
  const std::string f = file != nullptr ? file : "";
  const size_t at = f.rfind("src/");
  return at == std::string::npos ? f : f.substr(at);
}

}  // namespace

bool tracing() { return t_tracing; }

void trace_start() {
  ScopedUncounted quiet;
  t_events.clear();
  t_events.reserve(4096);
  t_fd_names.clear();
  t_tracing = true;
  if (zcpipe_interpose_set_trace != nullptr) zcpipe_interpose_set_trace(&hook);
}

void trace_step(const char* file, const char* function, std::string text, uint64_t bytes) {
  if (!t_tracing) return;
  ScopedUncounted quiet;
  t_events.push_back(Event{monotonic_ns(), -1, -1, 0, file, function, std::move(text), bytes});
}

void trace_stop() {
  if (zcpipe_interpose_set_trace != nullptr) zcpipe_interpose_set_trace(nullptr);
  t_tracing = false;
}

// Consecutive identical calls on the same fd are merged:
// [{"t_ns","kind":"syscall"|"step","call","fd","fd_name","count","bytes",
// "file","function","text"}].
nlohmann::json trace_events_json() {
  ScopedUncounted quiet;
  nlohmann::json out = nlohmann::json::array();
  for (const Event& e : t_events) {
    if (e.kind >= 0) {
      const std::string call(sys_name(static_cast<Sys>(e.kind)));
      const uint64_t bytes = e.result > 0 && call != "poll" && call != "epoll_wait" ? static_cast<uint64_t>(e.result) : 0;
      const bool failed = e.result < 0;
      // Merge a run of the same call on the same descriptor: "write(fd 7) x508".
      if (!out.empty()) {
        auto& last = out.back();
        if (last["kind"] == "syscall" && last["call"] == call && last["fd"] == e.fd) {
          last["count"] = last["count"].get<uint64_t>() + 1;
          last["bytes"] = last["bytes"].get<uint64_t>() + bytes;
          if (failed) last["failed"] = last.value("failed", 0) + 1;
          continue;
        }
      }
      out.push_back({{"t_ns", e.t_ns}, {"kind", "syscall"}, {"call", call}, {"fd", e.fd},
                     {"fd_name", t_fd_names.count(e.fd) ? t_fd_names[e.fd] : "?"}, {"count", 1}, {"bytes", bytes},
                     {"failed", failed ? 1 : 0}});
    } else {
      out.push_back({{"t_ns", e.t_ns}, {"kind", "step"}, {"file", source_path(e.file)},
                     {"function", e.function != nullptr ? e.function : ""}, {"text", e.text}, {"bytes", e.bytes}});
    }
  }
  return out;
}

}  // namespace zc::stats
