// Which DRM node the GBM allocator tries first (buffer/drm_node.h): the one
// linux-dmabuf feedback names, then primary before render nodes, so Mesa's
// software driver never tries CREATE_DUMB on a render node first.
#include <sys/sysmacros.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "buffer/drm_node.h"

namespace zc::buffer {
namespace {

using Paths = std::vector<std::string>;

DrmNode card(unsigned n, size_t dev) { return {"/dev/dri/card" + std::to_string(n), NodeType::primary, makedev(226, n), dev}; }
DrmNode render(unsigned n, size_t dev) {
  return {"/dev/dri/renderD" + std::to_string(128 + n), NodeType::render, makedev(226, 128 + n), dev};
}

TEST(DrmNodeOrder, FeedbackNamingThePrimaryNodeOpensItFirst) {
  // libdrm lists a device's nodes in any order; virtio-gpu in the VM.
  EXPECT_EQ(gbm_node_order({render(0, 0), card(0, 0)}, makedev(226, 0)),
            (Paths{"/dev/dri/card0", "/dev/dri/renderD128"}));
}

TEST(DrmNodeOrder, FeedbackNamingTheRenderNodeOpensItFirst) {
  EXPECT_EQ(gbm_node_order({card(0, 0), render(0, 0)}, makedev(226, 128)),
            (Paths{"/dev/dri/renderD128", "/dev/dri/card0"}));
}

TEST(DrmNodeOrder, WithoutFeedbackPrimaryBeforeRenderDeviceByDevice) {
  EXPECT_EQ(gbm_node_order({render(0, 0), card(0, 0), render(1, 1), card(1, 1)}, std::nullopt),
            (Paths{"/dev/dri/card0", "/dev/dri/renderD128", "/dev/dri/card1", "/dev/dri/renderD129"}));
}

TEST(DrmNodeOrder, AMainDeviceThatIsNoListedNodeChangesNothing) {
  EXPECT_EQ(gbm_node_order({render(0, 0), card(0, 0)}, makedev(226, 5)),
            (Paths{"/dev/dri/card0", "/dev/dri/renderD128"}));
}

TEST(DrmNodeOrder, RenderOnlyDeviceStillOffersItsNode) {
  EXPECT_EQ(gbm_node_order({render(0, 0)}, std::nullopt), (Paths{"/dev/dri/renderD128"}));
  EXPECT_EQ(gbm_node_order({}, std::nullopt), Paths{});
}

}  // namespace
}  // namespace zc::buffer
