// Why a frame was copied instead of scanned out: typed reasons.
//
// Direct scanout (the display reads the client's own buffer) is the whole
// point of a zero-copy pipeline; when it cannot happen the output copies the
// frame, and says why. The reasons are data, not prose, because the
// compositor acts on them: a client told "format_not_on_plane" or
// "y_invert" through linux-dmabuf feedback can allocate differently next
// time. As Weston does with its plane-failure reasons, every blocker of a
// buffer is named, not only the first: an ARGB8888 buffer rendered by
// OpenGL (bottom-up, Y_INVERT) has two, and fixing one alone would not help.
//
// Each reason has a stable name (the JSON, tests, scripts) and a sentence
// for learners (describe()).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zc::output {

enum class ScanoutReason : uint8_t {
  format_not_on_plane,    // the plane does not take the buffer's pixel format
  not_dmabuf,             // shared memory posing as a dma-buf: nothing to import
  modifier_not_on_plane,  // the plane does not take that memory layout
  y_invert,               // rows stored bottom-up; the plane reads top-down
  size_mismatch,          // the plane must cover the mode and cannot scale
  import_failed,          // the kernel refused to make a framebuffer of it
  test_only_failed,       // the driver's TEST_ONLY commit said no
  commit_failed,          // the real commit was refused (legacy: no TEST_ONLY)
  // Not a reason to copy but a reason the copy itself is refused: the CPU
  // reads a buffer as rows of pixels, which only a LINEAR layout is. The
  // frame is discarded (kms_frames_refused), never copied as garbage.
  modifier_not_linear,    // tiled/compressed layout: the CPU copy cannot read it
  count
};

// "format_not_on_plane": stable, for JSON and tests.
const char* name(ScanoutReason r);
// One sentence for learners: what the display could not do, and why.
const char* describe(ScanoutReason r);

// The same, by bit number of ScanoutReasons::bits() (nullptr past the last):
// what the frame ledger calls to name a record's reasons when it writes JSON.
const char* reason_name(uint32_t bit);
const char* reason_sentence(uint32_t bit);

// A set of reasons (a bitmask): all the blockers of one frame.
class ScanoutReasons {
 public:
  ScanoutReasons() = default;
  ScanoutReasons(ScanoutReason r) { add(r); }  // NOLINT: one reason is a set

  void add(ScanoutReason r) { bits_ |= bit(r); }
  bool has(ScanoutReason r) const { return (bits_ & bit(r)) != 0; }
  bool empty() const { return bits_ == 0; }
  uint32_t bits() const { return bits_; }
  bool operator==(const ScanoutReasons&) const = default;

  // The names, in enum order: ["format_not_on_plane", "y_invert"].
  std::vector<const char*> names() const;
  // The sentences, joined with "; ".
  std::string describe() const;

 private:
  static uint32_t bit(ScanoutReason r) { return 1u << static_cast<uint32_t>(r); }
  uint32_t bits_ = 0;
};

}  // namespace zc::output
