#include "stats/trace.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>  // ElfW
#include <sys/ioctl.h>
#include <unistd.h>

// libdrm's copy of the kernel's DRM uapi (the GETPROPERTY struct).
#include <drm.h>
#include <drm_mode.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "common/clock.h"
#include "stats/ioctl_names.h"
#include "stats/ledger.h"
#include "stats/ledger_json.h"
#include "stats/sys.h"

extern "C" {
[[gnu::weak]] void zcpipe_interpose_set_trace(zcpipe_trace_hook hook) noexcept;
[[gnu::weak]] void zcpipe_interpose_set_ioctl_trace(zcpipe_ioctl_hook hook) noexcept;
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
  std::string ioctl;   // ioctls: the request's name ("DRM_IOCTL_MODE_ATOMIC")
  std::string caller;  // ioctls: the function of ours that asked for it
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
  t_events.push_back(Event{start_ns, kind, fd, result, nullptr, nullptr, {}, 0, {}, {}});
}

// A KMS property's name ("FB_ID"), asked of the driver once per id and
// descriptor while tracing (the tracer's own ioctl: uncounted, not traced).
thread_local std::map<std::pair<int, uint32_t>, std::string> t_prop_names;
std::string property_name(int fd, uint32_t prop) {
  auto [it, fresh] = t_prop_names.try_emplace({fd, prop});
  if (fresh) {
    drm_mode_get_property p{};
    p.prop_id = prop;  // count_values = count_enum_blobs = 0: only the name
    if (::ioctl(fd, DRM_IOCTL_MODE_GETPROPERTY, &p) == 0) it->second.assign(p.name, strnlen(p.name, sizeof p.name));
  }
  return it->second;
}

// The first function of this executable on the stack above the ioctl (the
// executable is linked with -rdynamic, so dladdr can name its functions;
// libdrm's and Mesa's frames in between are skipped): "kms::Framebuffer::import".
// Functions with internal linkage (static, anonymous namespaces) are not in
// the dynamic symbol table: dladdr would name the exported symbol before
// them, so a frame counts only when it lies inside its symbol (st_size), and
// such a frame is passed over for its caller.
std::string caller_in_executable() {
  static Dl_info self{};
  static const bool have_self = ::dladdr(reinterpret_cast<void*>(&trace_start), &self) != 0;
  void* frames[24];
  const int n = ::backtrace(frames, 24);
  for (int i = 2; i < n; ++i) {  // 0: here, 1: the hook
    Dl_info info{};
    void* entry = nullptr;  // dladdr1 stores a const ElfW(Sym)* here
    if (::dladdr1(frames[i], &info, &entry, RTLD_DL_SYMENT) == 0 || info.dli_sname == nullptr) continue;
    const auto* sym = static_cast<const ElfW(Sym)*>(entry);
    if (have_self && info.dli_fbase != self.dli_fbase) continue;
    const auto pc = reinterpret_cast<uintptr_t>(frames[i]), start = reinterpret_cast<uintptr_t>(info.dli_saddr);
    if (sym == nullptr || pc < start || pc - start >= sym->st_size) continue;
    if (std::strcmp(info.dli_sname, "ioctl") == 0) continue;
    int status = 0;
    char* d = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    std::string name = status == 0 && d != nullptr ? d : info.dli_sname;
    std::free(d);
    if (const size_t paren = name.find('('); paren != std::string::npos) name.resize(paren);
    if (name.rfind("zc::", 0) == 0) name.erase(0, 4);
    return name;
  }
  return {};
}

void ioctl_hook(int fd, unsigned long request, void* arg, long result, int err, uint64_t start_ns) {
  ScopedUncounted quiet;  // the tracer's work (property names, backtrace) is not the frame's
  remember_fd(fd);
  const IoctlText t = describe_ioctl(request, arg, result, err, [fd](uint32_t prop) { return property_name(fd, prop); });
  t_events.push_back(Event{start_ns, static_cast<int>(Sys::ioctl), fd, result, nullptr, nullptr, t.meaning, 0, t.name,
                           caller_in_executable()});
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
  if (zcpipe_interpose_set_ioctl_trace != nullptr) zcpipe_interpose_set_ioctl_trace(&ioctl_hook);
}

void trace_step(const char* file, const char* function, std::string text, uint64_t bytes) {
  if (!t_tracing) return;
  ScopedUncounted quiet;
  t_events.push_back(Event{monotonic_ns(), -1, -1, 0, file, function, std::move(text), bytes, {}, {}});
}

void trace_stop() {
  if (zcpipe_interpose_set_trace != nullptr) zcpipe_interpose_set_trace(nullptr);
  if (zcpipe_interpose_set_ioctl_trace != nullptr) zcpipe_interpose_set_ioctl_trace(nullptr);
  t_tracing = false;
}

// Consecutive identical calls on the same fd are merged:
// [{"t_ns","kind":"syscall"|"step","call","fd","fd_name","count","bytes",
// "file","function","text"}].
nlohmann::json trace_events_json() {
  ScopedUncounted quiet;
  nlohmann::json out = nlohmann::json::array();
  for (const Event& e : t_events) {
    if (!e.ioctl.empty()) {
      // One event per ioctl, never merged: each names its own objects.
      out.push_back({{"t_ns", e.t_ns}, {"kind", "ioctl"}, {"call", "ioctl"}, {"fd", e.fd},
                     {"fd_name", t_fd_names.count(e.fd) ? t_fd_names[e.fd] : "?"}, {"count", 1}, {"bytes", 0},
                     {"failed", e.result < 0 ? 1 : 0}, {"ioctl", e.ioctl}, {"text", e.text}, {"function", e.caller}});
      continue;
    }
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
