#include "output/kms/atomic.h"

#include <xf86drmMode.h>

namespace zc::output::kms {

Result<void> AtomicRequest::test(uint32_t flags) const {
  if (failed()) return Error{EINVAL, failure_};
  // TEST_ONLY never sends an event and never blocks on a commit in flight:
  // it checks the new state against the state already committed.
  if (const int err = drm_->atomic_commit(props_, flags | DRM_MODE_ATOMIC_TEST_ONLY, 0); err != 0)
    return Error{err, "atomic TEST_ONLY commit"};
  return {};
}

Result<void> AtomicRequest::commit(uint32_t flags, uint64_t user_data) const {
  if (failed()) return Error{EINVAL, failure_};
  if (const int err = drm_->atomic_commit(props_, flags, user_data); err != 0)
    return Error{err, "atomic commit"};
  return {};
}

}  // namespace zc::output::kms
