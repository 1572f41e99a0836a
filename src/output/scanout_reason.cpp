#include "output/scanout_reason.h"

#include <array>

namespace zc::output {
namespace {

struct Text {
  const char* name;
  const char* sentence;
};

constexpr std::array<Text, static_cast<size_t>(ScanoutReason::count)> kText = {{
    {"format_not_on_plane", "the buffer's pixel format is not one the primary plane takes"},
    {"not_dmabuf",
     "the buffer is shared memory, not a dma-buf: the display engine can only read memory a driver exported"},
    {"modifier_not_on_plane", "the buffer's memory layout (modifier) is not one the primary plane takes"},
    {"y_invert", "y_invert: rows are stored bottom-up (OpenGL's order) and the plane reads them top-down"},
    {"size_mismatch", "the buffer is not the mode's size, and the primary plane must cover the screen unscaled"},
    {"import_failed", "the kernel could not make a framebuffer of the buffer (import failed)"},
    {"test_only_failed", "the driver refused the buffer on the plane in an atomic TEST_ONLY commit"},
    {"commit_failed", "the driver refused the buffer when it was committed"},
    {"modifier_not_linear",
     "the buffer's memory layout (modifier) is tiled or compressed, not LINEAR: the CPU copy reads rows of pixels "
     "and would show garbage, so the frame is refused"},
}};

}  // namespace

const char* name(ScanoutReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kText.size() ? kText[i].name : "unknown";
}

const char* describe(ScanoutReason r) {
  const auto i = static_cast<size_t>(r);
  return i < kText.size() ? kText[i].sentence : "unknown reason";
}

const char* reason_name(uint32_t bit) {
  return bit < kText.size() ? kText[bit].name : nullptr;
}

const char* reason_sentence(uint32_t bit) {
  return bit < kText.size() ? kText[bit].sentence : nullptr;
}

std::vector<const char*> ScanoutReasons::names() const {
  std::vector<const char*> out;
  for (size_t i = 0; i < kText.size(); ++i)
    if (has(static_cast<ScanoutReason>(i))) out.push_back(kText[i].name);
  return out;
}

std::string ScanoutReasons::describe() const {
  std::string out;
  for (size_t i = 0; i < kText.size(); ++i)
    if (has(static_cast<ScanoutReason>(i))) out += (out.empty() ? "" : "; ") + std::string(kText[i].sentence);
  return out;
}

}  // namespace zc::output
