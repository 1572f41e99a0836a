#include "output/headless.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/clock.h"
#include "common/unique_fd.h"
#include "output/read_back.h"
#include "stats/ledger.h"
#include "stats/trace.h"

namespace zc::output {
namespace {

class HeadlessOutput final : public Output {
 public:
  HeadlessOutput(wl_event_loop* loop, const HeadlessConfig& cfg) : loop_(loop), cfg_(cfg) {
    if (cfg.refresh_hz > 0) period_ns_ = 1'000'000'000ull / cfg.refresh_hz;
    epoch_ns_ = monotonic_ns();
  }
  ~HeadlessOutput() override {
    if (timer_source_ != nullptr) wl_event_source_remove(timer_source_);
    if (idle_source_ != nullptr) wl_event_source_remove(idle_source_);
  }

  Result<void> init() {
    if (period_ns_ == 0) return {};
    timer_fd_ = UniqueFd{::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)};
    if (!timer_fd_) return Error::from_errno("timerfd_create");
    timer_source_ = wl_event_loop_add_fd(loop_, timer_fd_.get(), WL_EVENT_READABLE, &on_timer, this);
    if (timer_source_ == nullptr) return Error::from_errno("wl_event_loop_add_fd");
    return {};
  }

  std::string name() const override { return "headless"; }
  std::string description() const override { return "headless: a virtual display, no DRM device (it reads no pixels unless --verify asks)"; }
  Mode mode() const override {
    return Mode{cfg_.width, cfg_.height, cfg_.refresh_hz * 1000};
  }
  std::optional<dev_t> device() const override { return cfg_.device; }
  std::vector<std::pair<uint32_t, uint64_t>> scanout_formats() const override {
    // A virtual display "scans out" anything the CPU can read: linear layouts.
    std::vector<std::pair<uint32_t, uint64_t>> f;
    for (uint32_t fmt : {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888, DRM_FORMAT_ABGR8888}) {
      f.emplace_back(fmt, DRM_FORMAT_MOD_LINEAR);
      f.emplace_back(fmt, DRM_FORMAT_MOD_INVALID);
    }
    // 24-bit packed, for the articles' 23.7 MiB frame (few real planes take it).
    f.emplace_back(DRM_FORMAT_RGB888, DRM_FORMAT_MOD_LINEAR);
    return f;
  }

  void present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) override {
    if (pending_.buffer) {
      // Replaced before it reached the screen: the display never read it.
      const uint64_t old = pending_.tag;
      pending_ = {};
      if (cb_.discarded) cb_.discarded(old);
    }
    pending_ = Slot{std::move(buffer), tag, client_owned};
    schedule();
  }

  void schedule_vblank() override { schedule(); }

  void withdraw(uint64_t tag) override {
    if (pending_.buffer && pending_.tag == tag) {
      pending_ = {};
      if (cb_.discarded) cb_.discarded(tag);
    }
    if (current_.buffer && current_.tag == tag) {
      current_ = {};
      if (cb_.released) cb_.released(tag);
    }
  }

 private:
  struct Slot {
    std::shared_ptr<buffer::Buffer> buffer;
    uint64_t tag = 0;
    bool client_owned = false;
  };

  void schedule() {
    if (period_ns_ == 0) {
      // Unpaced: flip on the next loop iteration, after the current batch of
      // client requests has been handled.
      if (idle_source_ == nullptr) idle_source_ = wl_event_loop_add_idle(loop_, &on_idle, this);
      return;
    }
    if (timer_armed_) return;
    // The next virtual vblank strictly after now, on the grid started at epoch.
    const uint64_t now = monotonic_ns();
    const uint64_t k = (now - epoch_ns_) / period_ns_ + 1;
    const uint64_t when = epoch_ns_ + k * period_ns_;
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(when / 1'000'000'000ull);
    its.it_value.tv_nsec = static_cast<long>(when % 1'000'000'000ull);
    if (::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &its, nullptr) == 0) timer_armed_ = true;
    else log::error("timerfd_settime: {}", std::strerror(errno));
  }

  static int on_timer(int fd, uint32_t, void* data) {
    auto* self = static_cast<HeadlessOutput*>(data);
    uint64_t expirations = 0;
    if (::read(fd, &expirations, sizeof expirations) < 0) return 0;
    self->timer_armed_ = false;
    const uint64_t now = monotonic_ns();
    // Time of the vblank that just happened, and its number on the grid.
    const uint64_t k = (now - self->epoch_ns_) / self->period_ns_;
    self->flip(self->epoch_ns_ + k * self->period_ns_, k);
    return 0;
  }

  static void on_idle(void* data) {
    auto* self = static_cast<HeadlessOutput*>(data);
    self->idle_source_ = nullptr;
    self->flip(monotonic_ns(), ++self->unpaced_seq_);
  }

  void flip(uint64_t time_ns, uint64_t seq) {
    if (pending_.buffer) {
      Presented p;
      p.time_ns = time_ns;
      p.seq = seq;
      p.refresh_ns = static_cast<uint32_t>(period_ns_);
      p.vsync = period_ns_ != 0;
      p.zero_copy = pending_.client_owned;
      if (cfg_.verify) {
        // Both reads below are --verify's cost, not the pipeline's: one
        // scope around them (the ones inside read_back() and last_look()
        // nest in it) reads the thread's CPU clock twice per flip, not four
        // times.
        stats::ScopedVerify verify;
        // The outgoing frame first: the display's last look at it, the
        // moment before this flip replaces it.
        if (current_.buffer) witness_.leaving(*current_.buffer);
        ZC_TRACE("--verify: the CPU reads the frame now shown, in place, for its checksum and frame number "
                 "(a stand-in for a display CRC; a virtual display reads nothing otherwise)",
                 0);
        read_back(*pending_.buffer, p);
        witness_.shown(p);
      }
      ZC_TRACE(pending_.client_owned
                   ? "virtual vblank: the client's own buffer becomes what this virtual display shows (a pointer "
                     "swap, as a page flip is: no copy)"
                   : "virtual vblank: the compositor's scanout buffer (a copy of the frame) becomes what this "
                     "virtual display shows",
               0);
      Slot old = std::move(current_);
      current_ = std::move(pending_);
      pending_ = {};
      if (old.buffer && cb_.released) cb_.released(old.tag);
      if (cb_.presented) cb_.presented(current_.tag, p);
    }
    if (cb_.vblank) cb_.vblank(time_ns);
  }

  std::vector<std::pair<std::string, uint64_t>> counters() const override {
    if (!cfg_.verify) return {};
    return witness_.counters();
  }

  wl_event_loop* loop_;
  HeadlessConfig cfg_;
  uint64_t period_ns_ = 0;
  uint64_t epoch_ns_ = 0;
  uint64_t unpaced_seq_ = 0;
  UniqueFd timer_fd_;
  wl_event_source* timer_source_ = nullptr;
  wl_event_source* idle_source_ = nullptr;
  bool timer_armed_ = false;
  Slot pending_;
  Slot current_;
  LeavingWitness witness_;  // --verify: the last look at each frame as it leaves the screen
};

}  // namespace

Result<std::unique_ptr<Output>> create_headless(wl_event_loop* loop, const HeadlessConfig& config) {
  auto out = std::make_unique<HeadlessOutput>(loop, config);
  if (auto r = out->init(); !r) return r.error();
  return std::unique_ptr<Output>(std::move(out));
}

}  // namespace zc::output
