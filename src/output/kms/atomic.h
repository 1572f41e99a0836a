// kms::AtomicRequest: one atomic commit, built property by property.
//
// An atomic commit is a list of (object, property, value) triples that the
// kernel applies all together at the next refresh — or not at all. Two uses:
//
//   test()    DRM_MODE_ATOMIC_TEST_ONLY: the driver checks the whole new
//             state (can this plane scan out this buffer, at this size, in
//             this format, with this modifier?) and answers yes or no
//             without touching the screen. This is how a compositor learns
//             whether a client's buffer can go on a plane directly: no
//             driver lists all its constraints, so asking is the only way.
//   commit()  the real thing, usually NONBLOCK | PAGE_FLIP_EVENT: the call
//             returns at once and an event arrives when the new frame is on
//             screen.
//
// Failure is sticky: if a property is missing, add() records why and every
// later test()/commit() fails with that reason without reaching the kernel,
// so call sites need no error check after each add().
// The libdrm request (drmModeAtomicReq) lives only inside Drm::atomic_commit,
// allocated and freed there; this object owns plain values.
#pragma once

#include <fmt/core.h>

#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "output/kms/drm.h"
#include "output/kms/properties.h"

namespace zc::output::kms {

class AtomicRequest {
 public:
  explicit AtomicRequest(Drm& drm) : drm_(&drm) {}

  template <typename E>
  AtomicRequest& add(const PropertyTable<E>& table, E prop, uint64_t value) {
    if (!failure_.empty()) return *this;
    if (!table.has(prop)) {
      failure_ = fmt::format("object {} has no property {}", table.object, prop_name(prop));
      return *this;
    }
    props_.push_back(AtomicProp{table.object, table.id(prop), value});
    return *this;
  }

  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }
  std::span<const AtomicProp> props() const { return props_; }

  // `flags`: DRM_MODE_ATOMIC_ALLOW_MODESET when the request changes the mode.
  Result<void> test(uint32_t flags = 0) const;
  Result<void> commit(uint32_t flags, uint64_t user_data) const;

 private:
  Drm* drm_;
  std::vector<AtomicProp> props_;
  std::string failure_;
};

}  // namespace zc::output::kms
