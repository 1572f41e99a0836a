#include "buffer/drm_node.h"

#include <algorithm>
#include <tuple>

namespace zc::buffer {

std::vector<std::string> gbm_node_order(std::vector<DrmNode> nodes, std::optional<dev_t> main_device) {
  const auto key = [&](const DrmNode& n) {
    const bool named = main_device && n.rdev == *main_device;
    return std::make_tuple(!named, n.device, n.type == NodeType::render);
  };
  std::stable_sort(nodes.begin(), nodes.end(), [&](const DrmNode& a, const DrmNode& b) { return key(a) < key(b); });
  std::vector<std::string> paths;
  for (const auto& n : nodes) paths.push_back(n.path);
  return paths;
}

}  // namespace zc::buffer
