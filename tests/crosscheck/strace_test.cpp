// The independent cross-check of the ledger's syscall counts.
//
// zcpipe counts syscalls inside its own programs (the interposer in
// src/stats/syscall_interpose.cpp). Here both processes run under
// `strace -f -c`, which counts every syscall the kernel saw, and the two
// counts are compared call by call for the calls that move frames:
// write/read (socket baseline), sendmsg/recvmsg (Wayland), poll/epoll_wait.
//
// They cannot be equal: strace also sees what happens outside the frame
// windows (connecting, the registry round trips, writing the stats file at
// exit, the dynamic loader's reads). The tolerance is therefore
//     |strace - ledger| <= 30 calls + 2% of strace's count
// per call and process, which is tight enough to catch a missed path
// (a whole frame's 507 writes, or one call per frame over 40 frames).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "../integration/harness.h"

namespace {
using namespace zct;

constexpr uint64_t kAbsoluteSlack = 30;
constexpr double kRelativeSlack = 0.02;

std::string strace_path() {
  for (const char* p : {"/usr/bin/strace", "/bin/strace"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

// strace -c's table: "% time  seconds  usecs/call  calls  [errors]  syscall".
std::map<std::string, uint64_t> parse_strace(const std::string& path) {
  std::map<std::string, uint64_t> calls;
  for (const auto& line : lines_of(read_file(path))) {
    std::istringstream in(line);
    std::vector<std::string> tok;
    for (std::string t; in >> t;) tok.push_back(t);
    if (tok.size() < 5 || tok[0].find('.') == std::string::npos || tok.back() == "total") continue;
    try {
      calls[tok.back()] += std::stoull(tok[3]);
    } catch (const std::exception&) {
    }
  }
  return calls;
}

// Sum of the ledger's per-frame counts by call.
std::map<std::string, uint64_t> ledger_totals(const json& stats) {
  std::map<std::string, uint64_t> total;
  for (const auto& f : stats["ledger"]["frames"])
    for (const auto& [k, v] : f["syscalls"]["by_call"].items()) total[k] += v.get<uint64_t>();
  return total;
}

// LeakSanitizer cannot run under strace. At exit it stops every thread of
// the process with ptrace(PTRACE_ATTACH) to scan their stacks and registers
// for pointers, and a thread can have only one tracer: strace already is.
// LSan then aborts ("LeakSanitizer has encountered a fatal error") and the
// program exits with status 1. So in the sanitizer build (tools/run-tests)
// the two traced programs run with leak detection off; AddressSanitizer's and
// UBSan's other checks stay on, and every other test of that build checks the
// same programs for leaks. In a normal build the variable is ignored.
std::string asan_options_without_leaks() {
  const char* base = std::getenv("ASAN_OPTIONS");
  std::string opts = base != nullptr ? base : "";
  return opts + (opts.empty() ? "" : ":") + "detect_leaks=0";
}

struct Traced {
  std::map<std::string, uint64_t> strace_client, strace_compositor, ledger_client, ledger_compositor;
};

Traced run_traced(const std::string& transport, uint64_t frames) {
  const std::string strace = strace_path();
  TempDir dir;
  const std::string socket = socket_name("strace-" + transport);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
  SpawnOptions cs;
  cs.argv = {strace, "-f", "-c", "-o", dir / "compositor.strace", "--", compositor_path(), "--socket", socket,
             "--output", "headless", "--refresh", "0", "--quiet", "--exit-after-clients", "1",
             "--stats", dir / "compositor.json", "--ready-fd", "3"};
  cs.env["XDG_RUNTIME_DIR"] = dir.path();
  cs.env["ASAN_OPTIONS"] = asan_options_without_leaks();
  cs.fd3 = pipefd[1];
  Process compositor(cs);
  ::close(pipefd[1]);
  char buf[16];
  pollfd p{pipefd[0], POLLIN, 0};
  const bool ready = ::poll(&p, 1, 30000) == 1 && ::read(pipefd[0], buf, sizeof buf) > 0;
  ::close(pipefd[0]);
  if (!ready) throw std::runtime_error("compositor under strace did not start");

  SpawnOptions cl;
  cl.argv = {strace, "-f", "-c", "-o", dir / "client.strace", "--", client_path(), "--socket", socket, "--quiet",
             "--transport", transport, "--frames", std::to_string(frames), "--stats", dir / "client.json"};
  cl.env["XDG_RUNTIME_DIR"] = dir.path();
  cl.env["ASAN_OPTIONS"] = asan_options_without_leaks();
  Process client(cl);
  const Exit ce = client.wait_or_kill(120s);
  const Exit se = compositor.wait_or_kill(60s);  // exits after its one client left
  if (!ce.ok() || !se.ok())
    throw std::runtime_error("client " + ce.describe() + ", compositor " + se.describe());
  Traced t;
  t.strace_client = parse_strace(dir / "client.strace");
  t.strace_compositor = parse_strace(dir / "compositor.strace");
  t.ledger_client = ledger_totals(read_json(dir / "client.json"));
  t.ledger_compositor = ledger_totals(read_json(dir / "compositor.json"));
  return t;
}

void expect_close(const std::map<std::string, uint64_t>& strace, const std::map<std::string, uint64_t>& ledger,
                  const std::string& call, const std::string& who, uint64_t at_least) {
  const uint64_t s = strace.count(call) ? strace.at(call) : 0;
  const uint64_t l = ledger.count(call) ? ledger.at(call) : 0;
  const uint64_t slack = kAbsoluteSlack + static_cast<uint64_t>(kRelativeSlack * static_cast<double>(s));
  EXPECT_GE(l, at_least) << who << " " << call << ": ledger counted " << l;
  EXPECT_LE(l, s) << who << " " << call << ": the ledger cannot see more calls than the kernel (strace " << s << ")";
  EXPECT_LE(s - std::min(s, l), slack) << who << " " << call << ": strace " << s << " vs ledger " << l
                                       << " (tolerance " << slack << ")";
  ::testing::Test::RecordProperty(who + "_" + call + "_strace", std::to_string(s));
  ::testing::Test::RecordProperty(who + "_" + call + "_ledger", std::to_string(l));
}

class StraceCrossCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    if (strace_path().empty()) GTEST_SKIP() << "strace is not installed (tools/setup installs it)";
  }
};

TEST_F(StraceCrossCheck, SocketTransportCountsMatch) {
  constexpr uint64_t kFrames = 8;
  const Traced t = run_traced("socket", kFrames);
  // 4K XRGB8888 in 64 KiB chunks: 507 writes per frame at least.
  expect_close(t.strace_client, t.ledger_client, "write", "client", kFrames * 507);
  expect_close(t.strace_compositor, t.ledger_compositor, "read", "compositor", kFrames * 507);
  for (const char* c : {"sendmsg", "recvmsg", "poll"})
    expect_close(t.strace_client, t.ledger_client, c, "client", kFrames / 2);
  for (const char* c : {"sendmsg", "recvmsg", "epoll_wait"})
    expect_close(t.strace_compositor, t.ledger_compositor, c, "compositor", kFrames / 2);
}

TEST_F(StraceCrossCheck, DmabufTransportCountsMatch) {
  constexpr uint64_t kFrames = 40;
  const Traced t = run_traced("dmabuf", kFrames);
  // At least one call per two frames: a loaded machine lets a process find
  // two frames' messages in one recvmsg (or one wakeup), so "one per frame"
  // is not a law; the law is the closeness to strace's count.
  for (const char* c : {"sendmsg", "recvmsg", "poll"})
    expect_close(t.strace_client, t.ledger_client, c, "client", kFrames / 2);
  for (const char* c : {"sendmsg", "recvmsg", "epoll_wait"})
    expect_close(t.strace_compositor, t.ledger_compositor, c, "compositor", kFrames / 2);
  // Zero-copy: no pixel ever goes through write()/read() on either side.
  EXPECT_EQ(t.ledger_client.count("write") ? t.ledger_client.at("write") : 0, 0u);
}

}  // namespace
