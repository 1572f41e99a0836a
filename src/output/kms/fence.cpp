#include "output/kms/fence.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/clock.h"
#include "stats/trace.h"

namespace zc::output::kms {

namespace {

// The planes' fds, one per distinct buffer object, in plane order. Two fds
// are the same object when they are the same dma-buf file (a dup, or the
// same fd sent twice over SCM_RIGHTS: one struct file, one inode in the
// kernel's dma-buf filesystem). An fd fstat cannot read counts as its own
// object: exporting it twice is harmless, missing its fence is not.
size_t distinct_objects(const buffer::Dmabuf& desc, std::array<int, FrameFence::kMaxFds>& out) {
  std::array<std::pair<dev_t, ino_t>, FrameFence::kMaxFds> seen{};
  size_t n = 0;
  const size_t planes = std::min<size_t>(desc.num_planes, FrameFence::kMaxFds);
  // One plane is one object: no fstat (a syscall per frame) to learn it.
  if (planes == 1 && desc.planes[0].fd.get() >= 0) {
    out[0] = desc.planes[0].fd.get();
    return 1;
  }
  for (size_t i = 0; i < planes; ++i) {
    const int fd = desc.planes[i].fd.get();
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) == 0) {
      const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
      if (std::find(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(n), id) !=
          seen.begin() + static_cast<std::ptrdiff_t>(n))
        continue;  // a plane of an object already listed: its fences are the same
      seen[n] = id;
    } else {
      seen[n] = {0, 0};
    }
    out[n++] = fd;
  }
  return n;
}

}  // namespace

Result<FrameFence> FrameFence::take(const FenceOps& ops, const buffer::Dmabuf& desc, uint64_t now_ns) {
  std::array<int, kMaxFds> objs{};
  const size_t n = distinct_objects(desc, objs);
  if (n == 0) return Error{EBADF, "the buffer has no plane fd to take a fence from"};

  // One export per object: each sync_file waits for that object's writers.
  std::array<UniqueFd, kMaxFds> exported;
  size_t ok = 0;
  for (; ok < n; ++ok) {
    auto s = ops.exporter(objs[ok]);
    if (!s) break;
    exported[ok] = std::move(s.value());
  }
  if (ok == n) {
    if (n == 1) {
      ZC_TRACE("render fence: the dma-buf's pending GPU writes exported as a sync_file (DMA_BUF_IOCTL_EXPORT_SYNC_FILE)", 0);
      return FrameFence(std::move(exported), 1, true, 1, false, now_ns);
    }
    // Several objects: fold them into one (a, b -> ab; ab, c -> abc). Each
    // input closes as soon as it is merged (the kernel copied its fences);
    // every fd here is a UniqueFd, so each closes exactly once, on every path.
    UniqueFd acc = std::move(exported[0]);
    size_t i = 1;
    for (; i < n; ++i) {
      auto m = ops.merger(acc.get(), exported[i].get());
      if (!m) break;
      acc = std::move(m.value());
      exported[i].reset();
    }
    if (i == n) {
      ZC_TRACE(fmt::format("render fence: the planes are {} buffer objects, each with its own fences: {} exports "
                           "(DMA_BUF_IOCTL_EXPORT_SYNC_FILE) merged into one sync_file (SYNC_IOC_MERGE) for the "
                           "plane's IN_FENCE_FD",
                           n, n),
               0);
      std::array<UniqueFd, kMaxFds> one;
      one[0] = std::move(acc);
      return FrameFence(std::move(one), 1, true, static_cast<uint32_t>(n), true, now_ns);
    }
    // A merge failed (out of memory, or a kernel without sync_file merges):
    // keep the sync_files apart. They cannot go into IN_FENCE_FD (it takes
    // one), but the event loop can wait for all of them.
    ZC_TRACE("render fence: the sync_files of the buffer's objects could not be merged: the event loop waits for each", 0);
    exported[0] = std::move(acc);
    std::array<UniqueFd, kMaxFds> rest;
    size_t k = 0;
    for (size_t j = 0; j < n; ++j)
      if (exported[j]) rest[k++] = std::move(exported[j]);
    return FrameFence(std::move(rest), static_cast<uint32_t>(k), true, static_cast<uint32_t>(n), false, now_ns);
  }
  // ENOTTY (no such ioctl: Linux < 6.0, or not a dma-buf) or EINVAL (an
  // older kernel's check of the flags): poll the dma-bufs themselves. Their
  // POLLIN answers the same question, "have the writers finished?", for now
  // only. (Exports that worked before the failure close here.)
  ZC_TRACE("render fence: no export ioctl (Linux < 6.0): the dma-buf itself will be polled for its implicit fences", 0);
  std::array<UniqueFd, kMaxFds> selves;
  for (size_t i = 0; i < n; ++i) {
    selves[i] = UniqueFd{::fcntl(objs[i], F_DUPFD_CLOEXEC, 0)};
    if (!selves[i]) return Error::from_errno("cannot duplicate the dma-buf to wait for its fence");
  }
  return FrameFence(std::move(selves), static_cast<uint32_t>(n), false, static_cast<uint32_t>(n), false, now_ns);
}

FrameFence::FrameFence(FrameFence&& o) noexcept
    : fds_(std::move(o.fds_)),
      n_fds_(o.n_fds_),
      sync_file_(o.sync_file_),
      objects_(o.objects_),
      merged_(o.merged_),
      taken_ns_(o.taken_ns_),
      signalled_ns_(o.signalled_ns_),
      commit_ns_(o.commit_ns_),
      attached_(o.attached_),
      out_fence_(std::move(o.out_fence_)),
      // The watch is on the fd (which moved with us) and calls the owner
      // back, not this object: it stays valid as it is.
      watch_(std::exchange(o.watch_, nullptr)),
      watched_(o.watched_) {}

FrameFence& FrameFence::operator=(FrameFence&& o) noexcept {
  if (this != &o) {
    stop_watching();
    fds_ = std::move(o.fds_);
    n_fds_ = o.n_fds_;
    sync_file_ = o.sync_file_;
    objects_ = o.objects_;
    merged_ = o.merged_;
    taken_ns_ = o.taken_ns_;
    signalled_ns_ = o.signalled_ns_;
    commit_ns_ = o.commit_ns_;
    attached_ = o.attached_;
    out_fence_ = std::move(o.out_fence_);
    watch_ = std::exchange(o.watch_, nullptr);
    watched_ = o.watched_;
  }
  return *this;
}

FrameFence::~FrameFence() { stop_watching(); }

void FrameFence::stop_watching() {
  if (watch_ != nullptr) wl_event_source_remove(watch_);
  watch_ = nullptr;
}

bool FrameFence::wait_in_loop(wl_event_loop* loop, wl_event_loop_fd_func_t on_readable, void* data, uint64_t now_ns) {
  if (signalled_ns_ != 0) return true;
  // The first fence still pending, if any (poll with timeout 0: never waits).
  uint32_t pending = 0;
  while (pending < n_fds_ && buffer::fence_signalled(fds_[pending].get())) ++pending;
  if (pending == n_fds_) {
    signalled(now_ns);
    return true;
  }
  // Not yet: let the event loop tell us. POLLIN on a sync_file (or a
  // dma-buf) is exactly "signalled"; nothing blocks meanwhile.
  if (watch_ != nullptr && watched_ == pending) return false;
  stop_watching();
  ZC_TRACE("render fence not signalled yet: the event loop polls the fence, nothing blocks (the commit, or the copy, waits)", 0);
  watch_ = wl_event_loop_add_fd(loop, fds_[pending].get(), WL_EVENT_READABLE, on_readable, data);
  watched_ = pending;
  // Cannot watch (no memory): go ahead. The kernel still honours the
  // buffer's implicit fences, at the cost of a late flip (or a copy that
  // sleeps in DMA_BUF_IOCTL_SYNC).
  return watch_ == nullptr;
}

void FrameFence::signalled(uint64_t now_ns) {
  // The kernel's own timestamp when the fds can say (then often before we
  // got the frame: the GPU was done already); else when it was seen.
  uint64_t latest = 0;
  for (uint32_t i = 0; i < n_fds_; ++i) {
    auto t = buffer::sync_file_signal_time(fds_[i].get());
    if (!t) {
      latest = now_ns;
      break;
    }
    latest = std::max(latest, *t);
  }
  signalled_ns_ = latest != 0 ? latest : now_ns;
  stop_watching();  // level-triggered: it would fire again
}

void FrameFence::committed(bool attached, uint64_t now_ns, UniqueFd out_fence) {
  attached_ = attached;
  commit_ns_ = now_ns;
  if (attached)
    ZC_TRACE(out_fence ? "committed with IN_FENCE_FD on the plane (the display waits for the GPU) and OUT_FENCE_PTR on the CRTC"
                       : "committed with IN_FENCE_FD on the plane (the display waits for the GPU)",
             0);
  else
    ZC_TRACE("committed once the render fence had signalled (waited in the event loop)", 0);
  out_fence_ = std::move(out_fence);
  stop_watching();
}

FenceTimes FrameFence::flipped(uint64_t flip_ns) {
  FenceTimes t;
  t.attached = attached_;
  uint64_t sig = signalled_ns_;
  if (sig == 0) {
    // Attached: the display waited for it, so it had signalled by the flip.
    // The kernel's timestamp says when exactly; without one (not a real
    // sync_file), the flip bounds it.
    sig = buffer::sync_file_signal_time(fds_[0].get()).value_or(flip_ns);
  }
  t.signal_after_ns = sig > commit_ns_ ? sig - commit_ns_ : 0;
  if (!attached_ && sig > taken_ns_) t.wait_ns = (sig < commit_ns_ ? sig : commit_ns_) - taken_ns_;
  t.flip_after_ns = flip_ns > commit_ns_ ? flip_ns - commit_ns_ : 0;
  t.out_fence = out_fence_ && buffer::fence_signalled(out_fence_.get());
  // Done with them: the kernel took its own references at the commit.
  stop_watching();
  for (auto& fd : fds_) fd.reset();
  out_fence_.reset();
  return t;
}

}  // namespace zc::output::kms
