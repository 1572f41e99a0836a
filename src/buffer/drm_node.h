// Which DRM node the GBM allocator opens, in which order.
//
// A DRM device has up to two nodes a client may open:
//   /dev/dri/cardN       the primary node: modesetting (for the DRM master)
//                        and buffer allocation, including "dumb" buffers
//   /dev/dri/renderD12N  the render node: rendering and buffer sharing only,
//                        no modesetting, no master, open to any user of the
//                        render group
// A render node refuses DRM_IOCTL_MODE_CREATE_DUMB (EACCES): dumb buffers
// are a KMS feature, and render nodes have none. That matters because Mesa,
// on a device it has no hardware driver for (virtio-gpu without virgl,
// vkms), falls back to its software driver kms_swrast, which allocates every
// GBM buffer as a dumb buffer. On a render node that fails, and Mesa says so
// on stderr ("KMS: DRM_IOCTL_MODE_CREATE_DUMB failed: Permission denied")
// before GBM gives up. The primary node works with both kinds of driver.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace zc::buffer {

enum class NodeType { primary, render };

struct DrmNode {
  std::string path;    // "/dev/dri/card0"
  NodeType type = NodeType::primary;
  dev_t rdev = 0;      // the node's device number (stat's st_rdev)
  size_t device = 0;   // which device it belongs to (index in libdrm's list)
};

// The order to try nodes in:
//   1. the node linux-dmabuf feedback's main_device names: the compositor
//      imports buffers there, and it is the node it chose for that;
//   2. then device by device (libdrm's order), the primary node before the
//      render node, because the primary node also allows the dumb buffers
//      a software driver needs (see above).
std::vector<std::string> gbm_node_order(std::vector<DrmNode> nodes, std::optional<dev_t> main_device);

}  // namespace zc::buffer
