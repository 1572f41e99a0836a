// kms::Committer: how a frame is put on screen — one interface, two
// implementations, as in wlroots' backend/drm (iface.h, atomic.c, legacy.c).
//
//   atomic (atomic_commit.cpp)  every change is a list of (object, property,
//       value) triples applied together at the next refresh or not at all;
//       a TEST_ONLY commit asks the driver whether a state would work
//       without touching the screen. The modern API (Linux 4.2+).
//   legacy (legacy_commit.cpp)  drmModeSetCrtc (blocking modeset) and
//       drmModePageFlip (swap the primary plane's framebuffer at the next
//       refresh). No way to ask first: the commit itself is the test, and a
//       refusal at commit time falls back to a copy (kms_output.cpp).
//
// The KMS output only says what it wants ("this framebuffer on the primary
// plane, with or without a modeset"); which API says it to the kernel is
// decided once, at start.
#pragma once

#include <xf86drmMode.h>

#include <cstdint>
#include <memory>

#include "common/result.h"
#include "common/unique_fd.h"
#include "output/kms/drm.h"
#include "output/kms/framebuffer.h"

namespace zc::output::kms {

// The objects one output drives (kms/pipeline.h chose them).
struct Target {
  uint32_t connector_id = 0;
  uint32_t crtc_id = 0;
  uint32_t plane_id = 0;  // primary plane (atomic only)
  drmModeModeInfo mode{};
};

// How a page flip completes.
enum class Completion {
  event,     // a page-flip event with the commit's user_data will follow
  done_now,  // the call was synchronous (legacy modeset): on screen already
};

// The fences of one flip (fence.h explains them).
struct CommitFences {
  // The render fence (a sync_file) for the plane's IN_FENCE_FD; -1 = none.
  // Borrowed: the kernel takes its own reference during the call, the
  // caller closes its descriptor whenever it likes.
  int in_fence_fd = -1;
  bool in_fence_attached = false;  // set by page_flip: it went into the commit
  // Ask for the CRTC's OUT_FENCE_PTR: a sync_file that signals when the
  // frame is on screen. Filled by page_flip when the commit returned one.
  bool want_out_fence = false;
  UniqueFd out_fence;
};

struct CommitCounters {
  uint64_t tests = 0;           // TEST_ONLY commits sent to the kernel
  uint64_t tests_skipped = 0;   // answered from the last successful test
  uint64_t tests_rejected = 0;  // TEST_ONLY said no
};

class Committer {
 public:
  virtual ~Committer() = default;
  virtual const char* name() const = 0;  // "atomic", "legacy"

  // Could the primary plane show `fb` (with a modeset first when
  // `modeset`)? Nothing changes on screen. Legacy cannot ask: it says yes.
  virtual Result<void> test(const Framebuffer& fb, bool modeset) = 0;
  // Shows `fb` at the next refresh, without blocking. Error codes are
  // errno values: EBUSY means a commit is still in flight (try again).
  // `fences`, when given: the render fence to wait for, and whether to ask
  // for an out-fence (used only when takes_in_fences()).
  virtual Result<Completion> page_flip(const Framebuffer& fb, bool modeset, uint64_t user_data,
                                       CommitFences* fences = nullptr) = 0;
  // Whether page_flip() hands a render fence to the kernel (atomic, with
  // the plane's IN_FENCE_FD). If not, the caller must wait for the fence
  // before committing: a legacy page flip cannot carry one.
  virtual bool takes_in_fences() const { return false; }
  // A blocking full modeset showing `fb`: puts the display back after
  // another session (VT switch) changed it.
  virtual Result<void> modeset(const Framebuffer& fb) = 0;
  // Plane off, CRTC off, connector detached (at exit, when it was off).
  virtual Result<void> disable() = 0;
  // Whatever was tested before no longer holds (another session used the
  // display meanwhile).
  virtual void forget_tests() {}

  const CommitCounters& counters() const { return n_; }

 protected:
  CommitCounters n_;
};

// Atomic, if the driver accepts it and the objects have every property a
// commit needs; the error says what is missing (the caller falls back to
// legacy). Makes the mode blob, which lives as long as the Committer.
Result<std::unique_ptr<Committer>> make_atomic_committer(std::shared_ptr<Drm> drm, const Target& target);
std::unique_ptr<Committer> make_legacy_committer(std::shared_ptr<Drm> drm, const Target& target);

}  // namespace zc::output::kms
