// zcpipe-demo --explain's narration (demo::format_explain) is read in a
// terminal: no line wider than 100 columns, and wrapping loses no word.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "demo/pipeline.h"

namespace zc {
namespace {

using nlohmann::json;

size_t columns(const std::string& s) {
  size_t w = 0;
  for (unsigned char ch : s) w += (ch & 0xc0) != 0x80;
  return w;
}

std::string words_of(const std::string& s) {
  std::istringstream in(s);
  std::string w, out;
  while (in >> w) out += w + " ";
  return out;
}

json run_with(const std::string& text) {
  json step = {{"t_ns", 1000}, {"kind", "step"}, {"process", "compositor"}, {"file", "src/output/headless.cpp"},
               {"function", "flip"}, {"text", text}, {"bytes", 33177600}};
  json call = {{"t_ns", 2000}, {"kind", "syscall"}, {"process", "client"}, {"call", "sendmsg"}, {"fd", 4},
               {"fd_name", "socket:[152828]"}, {"count", 1}, {"bytes", 80}, {"failed", 0}};
  return {{"transport", "dmabuf"}, {"explain", {{"frame", 4}, {"events", json::array({step, call})}}}};
}

TEST(ExplainFormat, EveryLineFitsIn100Columns) {
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "word" + std::to_string(i) + " — ";
  const std::string out = demo::format_explain(run_with(long_text));
  std::istringstream lines(out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_LE(columns(line), 100u) << line;
    ++n;
  }
  EXPECT_GT(n, 5) << "the long step was wrapped over several lines";
  // No word lost or split: every word of the step appears, in order.
  EXPECT_NE(words_of(out).find(words_of(long_text + "[33177600 bytes]")), std::string::npos);
}

TEST(ExplainFormat, AWordLongerThanALineStaysWhole) {
  const std::string word(150, 'x');
  const std::string out = demo::format_explain(run_with("short " + word + " end"));
  EXPECT_NE(out.find(word), std::string::npos);
}

// The display half on KMS: an ioctl event is a line of its own with its
// request, the function that asked and what it meant; a read() on the DRM fd
// is the flip event.
TEST(ExplainFormat, IoctlsAndTheFlipEventAreNarrated) {
  json run = run_with("commit applied");
  json& ev = run["explain"]["events"];
  ev.push_back({{"t_ns", 3000}, {"kind", "ioctl"}, {"process", "compositor"}, {"call", "ioctl"}, {"fd", 7},
                {"fd_name", "/dev/dri/card0"}, {"count", 1}, {"bytes", 0}, {"failed", 0}, {"ioctl", "DRM_IOCTL_MODE_ATOMIC"},
                {"function", "output::kms::AtomicCommitter::commit"},
                {"text", "atomic commit [NONBLOCK | PAGE_FLIP_EVENT]: ...; object 31: FB_ID=42 CRTC_ID=38"}});
  ev.push_back({{"t_ns", 4000}, {"kind", "syscall"}, {"process", "compositor"}, {"call", "read"}, {"fd", 7},
                {"fd_name", "/dev/dri/card0"}, {"count", 1}, {"bytes", 32}, {"failed", 0}});
  const std::string out = demo::format_explain(run);
  EXPECT_NE(out.find("ioctl(fd 7 = /dev/dri/card0) DRM_IOCTL_MODE_ATOMIC"), std::string::npos) << out;
  EXPECT_NE(words_of(out).find("from output::kms::AtomicCommitter::commit — atomic commit [NONBLOCK | PAGE_FLIP_EVENT]"),
            std::string::npos)
      << out;
  EXPECT_NE(words_of(out).find("FB_ID=42 CRTC_ID=38"), std::string::npos) << out;
  EXPECT_NE(words_of(out).find("page flip completed"), std::string::npos) << out;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(columns(line), 100u) << line;
}

}  // namespace
}  // namespace zc

namespace zc {
namespace {

using nlohmann::json;

json step(uint64_t t, const char* fn, const char* text) {
  return {{"t_ns", t}, {"kind", "step"}, {"process", "compositor"}, {"function", fn}, {"text", text}};
}
json ioctl_ev(uint64_t t, const char* name, const char* text, int failed = 0) {
  return {{"t_ns", t}, {"kind", "ioctl"}, {"process", "compositor"}, {"ioctl", name}, {"text", text}, {"failed", failed}};
}

TEST(DisplayTimings, KmsFromTheAtomicCommitToTheFlipEventToTheRelease) {
  const json ev = json::array({
      step(1'000, "apply_commit", "commit applied"),
      ioctl_ev(2'000, "DRM_IOCTL_MODE_ATOMIC", "atomic commit [TEST_ONLY]: would the hardware accept this state?"),
      ioctl_ev(3'000, "DRM_IOCTL_MODE_ATOMIC", "atomic commit [NONBLOCK | PAGE_FLIP_EVENT]: ..."),
      {{"t_ns", 7'000}, {"kind", "syscall"}, {"process", "compositor"}, {"call", "read"}, {"fd_name", "/dev/dri/card0"}},
      step(7'500, "release_buffer", "wl_buffer.release queued"),
  });
  const json t = demo::display_timings(ev);
  EXPECT_EQ(t["commit_to_flip_us"], 4.0) << "from the real commit, not TEST_ONLY nor the apply step";
  EXPECT_EQ(t["flip_to_release_us"], 0.5);
}

TEST(DisplayTimings, HeadlessFromCommitAppliedToTheVirtualVblank) {
  const json ev = json::array({
      {{"t_ns", 500}, {"kind", "step"}, {"process", "client"}, {"function", "submit_and_commit"}, {"text", "commit"}},
      step(1'000, "apply_commit", "commit applied"),
      step(2'000, "flip", "--verify: the CPU reads the frame now shown"),
      step(17'000, "flip", "virtual vblank: the client's own buffer becomes what this virtual display shows"),
      step(17'250, "release_buffer", "wl_buffer.release queued"),
  });
  const json t = demo::display_timings(ev);
  EXPECT_EQ(t["commit_to_flip_us"], 16.0);
  EXPECT_EQ(t["flip_to_release_us"], 0.25);
}

TEST(DisplayTimings, MissingMarksAreNull) {
  const json t = demo::display_timings(json::array({step(1'000, "present_copy", "memcpy")}));
  EXPECT_TRUE(t["commit_to_flip_us"].is_null());
  EXPECT_TRUE(t["flip_to_release_us"].is_null());
}

}  // namespace
}  // namespace zc
