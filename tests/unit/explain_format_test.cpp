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
