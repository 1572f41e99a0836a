#include "demo/copybench_run.h"

#include <fmt/core.h>
#include <stdlib.h>
#include <unistd.h>


#include "common/process.h"
#include "demo/pipeline.h"

namespace zc::demo {
using nlohmann::json;

// Why a separate process rather than the copybench library linked in: the
// benchmark counts the sender's syscalls, scheduler switches and
// /proc/self/io for its whole process, and forks a receiver; in its own
// process nothing else (no leftover thread, no earlier run's state) is
// mixed into those counters. Its --json is the same document the program
// writes for anyone, so the report shows exactly what `zcpipe-copybench
// --json` says.
Result<json> run_copybench(const std::string& bin_dir, unsigned repeats, int timeout_s, const volatile sig_atomic_t* interrupt) {
  const std::string bin = bin_dir.empty() ? self_dir() : bin_dir;
  std::string exe;
  for (const std::string& c : {bin + "/zcpipe-copybench", bin + "/../copybench/zcpipe-copybench"})
    if (::access(c.c_str(), X_OK) == 0) {
      exe = c;
      break;
    }
  if (exe.empty()) return Error{ENOENT, fmt::format("zcpipe-copybench is not in {} (build it, or run with --no-copybench)", bin)};
  char tmpl[] = "/tmp/zcpipe-copybench-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) return Error::from_errno("mkstemp");
  ::close(fd);
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } cleanup{tmpl};
  SpawnOptions s;
  s.argv = {exe, "--repeats", std::to_string(repeats), "--json", tmpl};
  s.stdout_path = "/dev/null";  // the table: the report draws its own
  s.parent_death_signal = SIGTERM;
  auto child = Child::spawn(s);
  if (!child) return child.error();
  const auto st = child->wait_for(timeout_s > 0 ? timeout_s * 1000 : -1, interrupt);
  if (!st) {
    child->terminate(2000);
    return Error{interrupt != nullptr && *interrupt != 0 ? EINTR : ETIMEDOUT, "zcpipe-copybench did not finish"};
  }
  if (!st->ok()) return Error{EIO, fmt::format("zcpipe-copybench failed ({})", st->describe())};
  return load_json(tmpl);
}

}  // namespace zc::demo
