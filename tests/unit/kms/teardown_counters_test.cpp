// The output's counters cover the whole run, teardown included.
//
// zcpipe-compositor --stats once wrote "kms_fbs_removed 0, kms_fbs_live 3"
// while its log said 3 created, 3 removed: the counters were read before the
// output gave the display up (its destructor), so the framebuffers removed
// at exit were missing. Output::close() does the destructor's tear-down and
// keeps the object, Server::shutdown() calls it, and the compositor reads
// the counters after shutdown(). Both halves are checked here: the KMS output
// on the fake device, and the server's order with an output that records it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "fake_drm.h"
#include "output_harness.h"
#include "server/server.h"
#include "test_buffer.h"

namespace zc::test {
namespace {

TEST(KmsTeardownCounters, CloseRemovesEveryFramebufferAndTheCountersSayIt) {
  Harness h;
  ASSERT_TRUE(h.out) << h.error;
  auto a = make_buffer(64, 48, 1), b = make_buffer(64, 48, 2), c = make_buffer(64, 48, 3);
  h.out->present(a, 1, true);
  h.flip();
  h.out->present(b, 2, true);
  h.flip();
  h.out->present(c, 3, true);  // still in flight when the display is given up
  h.fake->complete_flips();   // its event is there, not yet handled
  // Before the tear-down the cache keeps every client buffer's framebuffer.
  EXPECT_EQ(h.counter("kms_fbs_created"), 3u);
  EXPECT_EQ(h.counter("kms_fbs_removed"), 0u);
  EXPECT_EQ(h.counter("kms_fbs_live"), 3u);

  h.out->close();
  EXPECT_EQ(h.counter("kms_fbs_created"), 3u);
  EXPECT_EQ(h.counter("kms_fbs_removed"), 3u) << "the tear-down's RmFBs are in the counters";
  EXPECT_EQ(h.counter("kms_fbs_live"), 0u);
  EXPECT_EQ(h.counter("kms_gem_handles_opened"), h.counter("kms_gem_handles_closed"));
  EXPECT_EQ(h.counter("kms_page_flips"), 3u) << "the flip in flight landed before anything was removed";
  EXPECT_GE(h.counter("kms_commits"), 3u) << "the committer's counters outlive the committer";
  EXPECT_TRUE(h.fake->fbs.empty()) << "the device agrees: no framebuffer left";

  // Closed once: a second close() and the destructor touch nothing more.
  const size_t ops = h.fake->ops.size();
  h.out->close();
  FakeDrm* fake = h.fake;
  auto keep = h.device;  // look at the fake after the output is gone
  h.out.reset();
  EXPECT_EQ(fake->ops.size(), ops);
}

// An output that only records what the server asks of it.
class RecordingOutput final : public output::Output {
 public:
  explicit RecordingOutput(bool* closed) : closed_(closed) {}
  std::string name() const override { return "recording"; }
  output::Mode mode() const override { return {64, 48, 0}; }
  std::vector<std::pair<uint32_t, uint64_t>> scanout_formats() const override { return {}; }
  void present(std::shared_ptr<buffer::Buffer>, uint64_t, bool) override {}
  void schedule_vblank() override {}
  void withdraw(uint64_t) override {}
  void close() override { *closed_ = true; }
  std::vector<std::pair<std::string, uint64_t>> counters() const override { return {{"closed", *closed_ ? 1 : 0}}; }

 private:
  bool* closed_;
};

TEST(ServerTeardown, ShutdownClosesTheOutputSoItsCountersAreFinal) {
  // The server listens on a socket in XDG_RUNTIME_DIR: a private one.
  char tmpl[] = "/tmp/zcpipe-teardown-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::setenv("XDG_RUNTIME_DIR", dir.c_str(), 1), 0);
  {
    auto server = server::Server::create(server::ServerConfig{"zcpipe-teardown", 0});
    ASSERT_TRUE(server.ok()) << server.error().message();
    bool closed = false;
    ASSERT_TRUE((*server)->start(std::make_unique<RecordingOutput>(&closed), nullptr).ok());
    EXPECT_FALSE(closed);
    (*server)->shutdown();
    EXPECT_TRUE(closed) << "shutdown() must give the display up before the counters are read";
    EXPECT_EQ((*server)->output().counters().at(0).second, 1u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace zc::test
