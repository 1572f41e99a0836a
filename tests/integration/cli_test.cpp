// Operator mistakes on the command line: a non-zero exit status and one line
// on stderr that names what was wrong (CLI11 may add a "Run with --help" hint).
// The only tests that read program output as text: that output is the product.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.h"

namespace zct {
namespace {

struct Outcome {
  Exit exit;
  std::vector<std::string> err_lines;
  std::string out;
};

Outcome run(const TempDir& dir, std::vector<std::string> argv,
            std::map<std::string, std::optional<std::string>> env = {}) {
  SpawnOptions s;
  s.argv = std::move(argv);
  s.env = std::move(env);
  s.stdout_path = dir / "stdout";
  s.stderr_path = dir / "stderr";
  Process p(s);
  Outcome o;
  o.exit = p.wait_or_kill(30s);
  o.err_lines = lines_of(read_file(dir / "stderr"));
  o.out = read_file(dir / "stdout");
  return o;
}

// Non-zero exit; one error line naming `bad`, optionally followed by the help hint.
void expect_one_error_line(const Outcome& o, const std::string& bad) {
  EXPECT_TRUE(o.exit.exited) << o.exit.describe();
  EXPECT_NE(o.exit.code, 0);
  ASSERT_GE(o.err_lines.size(), 1u) << "nothing on stderr";
  std::string all;
  for (const auto& l : o.err_lines) all += l + "\n";
  const bool hint = o.err_lines.size() == 2 && o.err_lines[1].find("--help") != std::string::npos;
  EXPECT_TRUE(o.err_lines.size() == 1 || hint) << "expected one error line (+ optional --help hint), got:\n" << all;
  EXPECT_NE(o.err_lines[0].find(bad), std::string::npos) << "the error must name '" << bad << "':\n" << all;
  EXPECT_EQ(o.out, "") << "errors go to stderr";
}

TEST(Cli, DemoRejectsANonNumericFrameCount) {
  TempDir dir;
  expect_one_error_line(run(dir, {demo_path(), "--frames", "abc"}), "abc");
}

TEST(Cli, DemoRejectsAZeroWidth) {
  TempDir dir;
  expect_one_error_line(run(dir, {demo_path(), "--size", "0x10"}), "0x10");
}

TEST(Cli, DemoRejectsAMalformedSize) {
  TempDir dir;
  expect_one_error_line(run(dir, {demo_path(), "--size", "640by480"}), "640by480");
}

TEST(Cli, DemoRejectsAnUnknownTransport) {
  TempDir dir;
  expect_one_error_line(run(dir, {demo_path(), "--transport", "carrier-pigeon"}), "carrier-pigeon");
}

TEST(Cli, ClientRejectsAnUnknownFormat) {
  TempDir dir;
  expect_one_error_line(run(dir, {client_path(), "--format", "YUYV"}, {{"XDG_RUNTIME_DIR", dir.path()}}), "YUYV");
}

TEST(Cli, ClientWithoutACompositorSaysWhichSocket) {
  TempDir dir;  // an empty runtime dir: nothing listens there
  const Outcome o = run(dir, {client_path(), "--socket", "nonexistent", "--frames", "1"},
                        {{"XDG_RUNTIME_DIR", dir.path()}});
  expect_one_error_line(o, "nonexistent");
  EXPECT_EQ(o.exit.code, 1);
}

TEST(Cli, CompositorWithoutRuntimeDirSaysSo) {
  TempDir dir;
  const Outcome o = run(dir, {compositor_path(), "--socket", socket_name("cli")}, {{"XDG_RUNTIME_DIR", std::nullopt}});
  expect_one_error_line(o, "XDG_RUNTIME_DIR");
  EXPECT_EQ(o.exit.code, 1);
  ASSERT_EQ(o.err_lines.size(), 1u);
}

TEST(Cli, CompositorOnASocketInUseSaysSo) {
  TempDir rt;
  CompositorOptions opts = at_refresh(0);
  opts.stats = false;
  Compositor first(rt, opts);
  TempDir dir;
  const Outcome o =
      run(dir, {compositor_path(), "--socket", first.socket()}, {{"XDG_RUNTIME_DIR", rt.path()}});
  expect_one_error_line(o, first.socket());
  EXPECT_EQ(o.exit.code, 1);
  EXPECT_TRUE(first.process().running()) << "the first compositor is unaffected";
}

}  // namespace
}  // namespace zct
