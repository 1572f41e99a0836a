// The command-line conventions every zcpipe program follows (src/apps/cli_common.h):
//   --version prints "PROGRAM VERSION", exit status 0;
//   a usage error prints ONE line "PROGRAM: error: ..." on stderr, exit status 2;
//   an operator error (no compositor, socket in use) is one line and exit status 1;
//   -D/--device names the DRM node in every program that opens one;
//   --json - writes the JSON to stdout; output paths are checked before the run.
// And what the compositor and the demo promise about processes: the
// compositor names its WAYLAND_DISPLAY, runs `-- COMMAND`, stops cleanly on
// SIGHUP; the demo leaves no process and no directory behind on SIGINT/SIGTERM.
//
// These tests read program output as text where that output is the product
// (error lines, --version); everything else is asserted on JSON, exit
// statuses, pids and files.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.h"

namespace zct {
namespace {

Outcome run(const TempDir& dir, std::vector<std::string> argv,
            std::map<std::string, std::optional<std::string>> env = {}) {
  return run_to_end(dir, std::move(argv), std::move(env));
}

std::string program_name(const std::string& path) { return path.substr(path.rfind('/') + 1); }
std::string probe_path() { return program("ZCPIPE_PROBE"); }
std::string copybench_path() { return program("ZCPIPE_COPYBENCH"); }

std::vector<std::string> all_programs() {
  return {compositor_path(), client_path(), demo_path(), probe_path(), copybench_path()};
}

// Exactly one line on stderr, naming `bad`, nothing on stdout, exit status `code`.
void expect_one_error_line(const Outcome& o, const std::string& bad, int code) {
  EXPECT_TRUE(o.exit.exited) << o.exit.describe();
  EXPECT_EQ(o.exit.code, code) << o.exit.describe();
  ASSERT_GE(o.err_lines.size(), 1u) << "nothing on stderr";
  std::string all;
  for (const auto& l : o.err_lines) all += l + "\n";
  EXPECT_EQ(o.err_lines.size(), 1u) << "expected one error line, got:\n" << all;
  EXPECT_NE(o.err_lines[0].find(bad), std::string::npos) << "the error must name '" << bad << "':\n" << all;
  EXPECT_EQ(o.out, "") << "errors go to stderr";
}

// A usage error: exit status 2 and "PROGRAM: error: ..." naming `bad`.
void expect_usage_error(const Outcome& o, const std::string& program, const std::string& bad) {
  expect_one_error_line(o, bad, 2);
  if (!o.err_lines.empty()) {
    const std::string prefix = program_name(program) + ": error: ";
    EXPECT_EQ(o.err_lines[0].rfind(prefix, 0), 0u) << "must start with '" << prefix << "': " << o.err_lines[0];
  }
}

// ------------------------------------------------------------ every program

TEST(Cli, EveryProgramPrintsItsVersion) {
  for (const auto& p : all_programs()) {
    TempDir dir;
    const Outcome o = run(dir, {p, "--version"});
    EXPECT_TRUE(o.exit.ok()) << p << ": " << o.exit.describe();
    // "PROGRAM VERSION": the name, one space, a dotted version number.
    const auto lines = lines_of(o.out);
    ASSERT_EQ(lines.size(), 1u) << p << " printed:\n" << o.out;
    const std::string prefix = program_name(p) + " ";
    ASSERT_EQ(lines[0].rfind(prefix, 0), 0u) << lines[0];
    const std::string version = lines[0].substr(prefix.size());
    EXPECT_FALSE(version.empty());
    EXPECT_EQ(version.find_first_not_of("0123456789."), std::string::npos) << lines[0];
    EXPECT_TRUE(o.err_lines.empty());
  }
}

TEST(Cli, EveryProgramRefusesAnUnknownOptionWithExitStatus2) {
  for (const auto& p : all_programs()) {
    TempDir dir;
    expect_usage_error(run(dir, {p, "--no-such-option"}), p, "--no-such-option");
  }
}

TEST(Cli, EveryProgramPrintsHelpAndExitsZero) {
  for (const auto& p : all_programs()) {
    TempDir dir;
    const Outcome o = run(dir, {p, "--help"});
    EXPECT_TRUE(o.exit.ok()) << p << ": " << o.exit.describe();
    EXPECT_NE(o.out.find("--version"), std::string::npos) << p;
  }
}

// -D names the DRM node wherever one is opened: a node that does not exist
// is an operator error (1) naming the path, never an unknown option (2).
TEST(Cli, DashDNamesTheDeviceInEveryProgramThatOpensOne) {
  const std::string node = "/nonexistent/dri/card7";
  {
    TempDir dir;
    expect_one_error_line(run(dir, {probe_path(), "-D", node, "--no-gbm"}), node, 1);
  }
  {
    TempDir dir;
    expect_one_error_line(run(dir, {compositor_path(), "-D", node, "--output", "kms", "--socket", socket_name("dev")},
                              {{"XDG_RUNTIME_DIR", dir.path()}}),
                          node, 1);
  }
  for (const auto& p : {client_path(), demo_path()}) {
    TempDir dir;
    std::vector<std::string> argv = {p, "-D", node, "--frames", "2", "--warmup", "1", "--size", "64x64"};
    if (p == client_path()) argv.insert(argv.end(), {"--socket", "nonexistent", "--allocator", "gbm"});
    else argv.insert(argv.end(), {"--output", "kms", "--quiet"});
    const Outcome o = run(dir, argv, {{"XDG_RUNTIME_DIR", dir.path()}});
    EXPECT_TRUE(o.exit.exited && o.exit.code == 1) << p << ": " << o.exit.describe();
  }
}

// The probe's old spelling still works.
TEST(Cli, ProbeKeepsDashLowercaseDAsAnAlias) {
  TempDir dir;
  expect_one_error_line(run(dir, {probe_path(), "-d", "/nonexistent/card9", "--no-gbm"}), "/nonexistent/card9", 1);
}

// ------------------------------------------------------------ usage errors

TEST(Cli, DemoRejectsANonNumericFrameCount) {
  TempDir dir;
  expect_usage_error(run(dir, {demo_path(), "--frames", "abc"}), demo_path(), "abc");
}

TEST(Cli, DemoRejectsAZeroWidth) {
  TempDir dir;
  expect_usage_error(run(dir, {demo_path(), "--size", "0x10"}), demo_path(), "0x10");
}

TEST(Cli, DemoRejectsAMalformedSize) {
  TempDir dir;
  expect_usage_error(run(dir, {demo_path(), "--size", "640by480"}), demo_path(), "640by480");
}

TEST(Cli, DemoRejectsAnUnknownTransport) {
  TempDir dir;
  expect_usage_error(run(dir, {demo_path(), "--transport", "carrier-pigeon"}), demo_path(), "carrier-pigeon");
}

// frames <= warmup would leave nothing to measure, and every check would
// pass vacuously.
TEST(Cli, FramesNotGreaterThanWarmupAreRefused) {
  for (const auto& p : {demo_path(), client_path()}) {
    for (const char* frames : {"3", "2"}) {
      TempDir dir;
      expect_usage_error(run(dir, {p, "--frames", frames, "--warmup", "3"}, {{"XDG_RUNTIME_DIR", dir.path()}}), p,
                         "--warmup");
    }
  }
}

TEST(Cli, ANegativeTimeoutIsRefused) {
  for (const auto& p : {demo_path(), client_path()}) {
    TempDir dir;
    expect_usage_error(run(dir, {p, "--timeout", "-1"}, {{"XDG_RUNTIME_DIR", dir.path()}}), p, "--timeout");
  }
}

TEST(Cli, ClientRejectsAnUnknownFormat) {
  TempDir dir;
  expect_usage_error(run(dir, {client_path(), "--format", "YUYV"}, {{"XDG_RUNTIME_DIR", dir.path()}}), client_path(),
                     "YUYV");
}

// Checked before the run: refused at once, with no process started.
TEST(Cli, UnwritableOutputPathsAreRefusedBeforeTheRun) {
  TempDir dir;
  const std::string file = dir / "a-file";
  std::ofstream(file) << "x";
  const std::string in_missing_dir = dir / "missing/run.json";
  const std::string under_a_file = file + "/report";
  struct Case {
    std::string program, option, path;
  };
  const std::vector<Case> cases = {
      {demo_path(), "--json", in_missing_dir},
      {demo_path(), "--json", dir.path()},  // a directory
      {demo_path(), "--report", under_a_file},
      {demo_path(), "--report", file},  // a file, not a directory
      {copybench_path(), "--json", in_missing_dir},
      {compositor_path(), "--stats", in_missing_dir},
      {client_path(), "--stats", in_missing_dir},
  };
  for (const auto& c : cases) {
    TempDir out;
    const uint64_t t0 = now_ns();
    const Outcome o = run(out, {c.program, c.option, c.path}, {{"XDG_RUNTIME_DIR", out.path()}});
    SCOPED_TRACE(c.program + " " + c.option + " " + c.path);
    expect_usage_error(o, c.program, c.path);
    EXPECT_LT(now_ns() - t0, 5'000'000'000ull) << "refused before any run";
  }
}

// --help states the real defaults: --verify is on in the demo.
TEST(Cli, DemoHelpShowsVerifyIsOn) {
  TempDir dir;
  const Outcome o = run(dir, {demo_path(), "--help"});
  ASSERT_TRUE(o.exit.ok());
  EXPECT_EQ(o.out.find("{false}"), std::string::npos) << o.out;
  const size_t at = o.out.find("Checksum every shown frame");
  ASSERT_NE(at, std::string::npos) << o.out;
  const std::string line = o.out.substr(at, o.out.find('\n', at) - at);
  EXPECT_NE(line.find("(default: on)"), std::string::npos) << line;
}

// ------------------------------------------------------------ operator errors

TEST(Cli, ClientWithoutACompositorSaysWhichSocket) {
  TempDir dir;  // an empty runtime dir: nothing listens there
  const Outcome o = run(dir, {client_path(), "--socket", "nonexistent", "--frames", "1", "--warmup", "0"},
                        {{"XDG_RUNTIME_DIR", dir.path()}});
  expect_one_error_line(o, "nonexistent", 1);
}

TEST(Cli, CompositorWithoutRuntimeDirSaysSo) {
  TempDir dir;
  const Outcome o = run(dir, {compositor_path(), "--socket", socket_name("cli")}, {{"XDG_RUNTIME_DIR", std::nullopt}});
  expect_one_error_line(o, "XDG_RUNTIME_DIR", 1);
}

TEST(Cli, CompositorOnASocketInUseSaysSo) {
  TempDir rt;
  CompositorOptions opts = at_refresh(0);
  opts.stats = false;
  Compositor first(rt, opts);
  TempDir dir;
  const Outcome o =
      run(dir, {compositor_path(), "--socket", first.socket()}, {{"XDG_RUNTIME_DIR", rt.path()}});
  expect_one_error_line(o, first.socket(), 1);
  EXPECT_TRUE(first.process().running()) << "the first compositor is unaffected";
}

// ------------------------------------------------------------ --json -

TEST(Cli, DemoJsonDashWritesTheJsonToStdout) {
  TempDir dir;
  const Outcome o = run(dir, {demo_path(), "--output", "headless", "--refresh", "0", "--size", "64x64", "--frames", "4",
                              "--warmup", "1", "--json", "-"});
  ASSERT_TRUE(o.exit.ok()) << o.exit.describe();
  EXPECT_FALSE(std::filesystem::exists(dir / "-")) << "no file named '-'";
  json doc;
  ASSERT_NO_THROW(doc = json::parse(o.out)) << "stdout is the JSON alone:\n" << o.out;
  ASSERT_EQ(doc["runs"].size(), 1u);
  EXPECT_EQ(doc["runs"][0]["frames_presented"], 4);
  EXPECT_TRUE(doc["runs"][0]["checks"]["passed"].get<bool>());
}

// ------------------------------------------------------------ the compositor

// Without --socket, the first free wayland-N, as other compositors do.
TEST(Cli, CompositorPicksTheFirstFreeWaylandN) {
  TempDir rt;
  std::vector<std::unique_ptr<Process>> comps;
  std::vector<std::unique_ptr<TempDir>> logs;
  for (int n = 0; n < 2; ++n) {
    logs.push_back(std::make_unique<TempDir>());
    SpawnOptions s;
    s.argv = {compositor_path(), "--output", "headless", "--size", "64x64"};
    s.env["XDG_RUNTIME_DIR"] = rt.path();
    s.stderr_path = *logs.back() / "stderr";
    comps.push_back(std::make_unique<Process>(s));
    // It tells a user what to export (once it listens).
    std::string log;
    const uint64_t deadline = now_ns() + 20'000'000'000ull;
    while ((log = read_file(*logs.back() / "stderr")).find("WAYLAND_DISPLAY=") == std::string::npos && now_ns() < deadline)
      std::this_thread::sleep_for(5ms);
    EXPECT_NE(log.find("listening on WAYLAND_DISPLAY=wayland-" + std::to_string(n) + " "), std::string::npos) << log;
    const std::string sock = rt / ("wayland-" + std::to_string(n));
    EXPECT_TRUE(socket_listening(sock)) << "compositor " << n << " is not listening on " << sock;
  }
  for (auto& c : comps) {
    c->signal(SIGTERM);
    EXPECT_TRUE(c->wait_or_kill(20s).ok());
  }
}

// `zcpipe-compositor -- COMMAND`: the command finds the compositor through
// WAYLAND_DISPLAY alone, and the compositor exits with the command's status.
TEST(Cli, CompositorRunsTheCommandAfterDashDash) {
  TempDir rt;
  const std::string stats = rt / "client.json";
  const Outcome o = run(rt, {compositor_path(), "--output", "headless", "--refresh", "0", "--size", "64x64", "--quiet",
                             "--", client_path(), "--frames", "5", "--warmup", "1", "--size", "64x64", "--quiet",
                             "--stats", stats},
                        {{"XDG_RUNTIME_DIR", rt.path()}});
  EXPECT_TRUE(o.exit.ok()) << o.exit.describe();
  const json c = read_json(stats);
  EXPECT_EQ(c["frames_presented"], 5);
  EXPECT_FALSE(std::filesystem::exists(rt / "wayland-0")) << "socket removed at exit";
}

TEST(Cli, CompositorExitsWithTheCommandsStatus) {
  TempDir rt;
  // The command also checks what it was given: a WAYLAND_DISPLAY that exists.
  const Outcome o = run(rt, {compositor_path(), "--output", "headless", "--size", "64x64", "--quiet", "--", "sh", "-c",
                             "test -S \"$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY\" && exit 7; exit 1"},
                        {{"XDG_RUNTIME_DIR", rt.path()}});
  EXPECT_TRUE(o.exit.exited) << o.exit.describe();
  EXPECT_EQ(o.exit.code, 7);
}

// SIGHUP (the terminal closed) stops it as SIGTERM does: stats written,
// socket and lock file removed.
TEST(Cli, CompositorStopsCleanlyOnSighup) {
  TempDir rt;
  Compositor comp(rt, at_refresh(0));
  const std::string sock = comp.socket_path();
  ASSERT_TRUE(std::filesystem::exists(sock + ".lock"));
  comp.process().signal(SIGHUP);
  const Exit e = comp.process().wait_or_kill(20s);
  EXPECT_TRUE(e.ok()) << e.describe();
  const json s = comp.stats();
  EXPECT_EQ(s["process"], "compositor");
  EXPECT_FALSE(std::filesystem::exists(sock)) << "socket left behind";
  EXPECT_FALSE(std::filesystem::exists(sock + ".lock")) << "lock file left behind";
}

// --output auto on a machine without a DRM device: the compositor runs
// headless and says why, as data the demo can show.
TEST(Cli, OutputAutoSaysWhyItRanHeadless) {
  if (std::filesystem::exists("/dev/dri")) GTEST_SKIP() << "/dev/dri exists here: auto may pick KMS";
  TempDir rt;
  CompositorOptions opts = at_refresh(0);
  opts.extra = {"--output", "auto"};  // the later --output wins
  Compositor comp(rt, opts);
  ASSERT_TRUE(comp.stop().ok());
  const json s = comp.stats();
  EXPECT_EQ(s["output"], "headless");
  ASSERT_TRUE(s.contains("output_auto_reason"));
  EXPECT_NE(s["output_auto_reason"].get<std::string>().find("/dev/dri"), std::string::npos) << s["output_auto_reason"];
}

// ------------------------------------------------------------ the demo's children

// Direct children of `pid` (from /proc/PID/task/*/children).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(task_dir, ec)) {
    std::istringstream in(read_file(t.path().string() + "/children"));
    pid_t c;
    while (in >> c) out.push_back(c);
  }
  return out;
}

// A process that has not exited (a zombie has exited).
bool alive(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

std::string env_of(pid_t pid, const std::string& key) {
  const std::string env = read_file("/proc/" + std::to_string(pid) + "/environ");
  const std::string needle = key + "=";
  for (size_t at = 0; at < env.size();) {
    const size_t end = env.find('\0', at);
    const std::string kv = env.substr(at, end - at);
    if (kv.rfind(needle, 0) == 0) return kv.substr(needle.size());
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return "";
}

class DemoSignal : public ::testing::TestWithParam<int> {};

TEST_P(DemoSignal, LeavesNoProcessAndNoDirectory) {
  const int sig = GetParam();
  TempDir dir;
  SpawnOptions s;
  // Paced at 60 Hz: 100000 frames would take half an hour.
  s.argv = {demo_path(), "--output", "headless", "--refresh", "60", "--size", "64x64", "--frames", "100000", "--quiet"};
  s.stdout_path = dir / "stdout";
  s.stderr_path = dir / "stderr";
  Process demo(s, /*own_group=*/false);
  // Wait for both children (compositor, then client) to be running.
  std::vector<pid_t> kids;
  const uint64_t deadline = now_ns() + 30'000'000'000ull;
  while (now_ns() < deadline) {
    kids = children_of(demo.pid());
    if (kids.size() == 2) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(kids.size(), 2u) << "the demo did not start its compositor and client";
  const std::string runtime_dir = env_of(kids[0], "XDG_RUNTIME_DIR");
  ASSERT_FALSE(runtime_dir.empty());
  ASSERT_TRUE(std::filesystem::is_directory(runtime_dir));

  demo.signal(sig);
  const Exit e = demo.wait_or_kill(20s);
  // It dies of the signal it got (after cleaning up), as a shell expects.
  EXPECT_FALSE(e.exited) << e.describe();
  EXPECT_EQ(e.signal, sig) << e.describe();
  for (pid_t k : kids) {
    // An orphan would be re-parented and keep running; give a reaper a moment.
    for (int i = 0; i < 100 && alive(k); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(alive(k)) << "child " << k << " is still running";
  }
  EXPECT_FALSE(std::filesystem::exists(runtime_dir)) << runtime_dir << " left behind";
}

INSTANTIATE_TEST_SUITE_P(Cli, DemoSignal, ::testing::Values(SIGINT, SIGTERM, SIGHUP),
                         [](const ::testing::TestParamInfo<int>& i) { return std::string("SIG") + sigabbrev_np(i.param); });

}  // namespace
}  // namespace zct
