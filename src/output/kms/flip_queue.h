// kms::FlipQueue: the three places a frame can be on its way to the screen.
//
//   queued     presented by the compositor, not yet committed
//   in flight  committed; the display will take it at the next refresh
//   on screen  the display is reading it now
//
// At most one commit is in flight per CRTC: a NONBLOCK commit while another
// is pending fails with EBUSY (the kernel queues nothing), and page-flip
// events could not be matched to frames. So a frame arriving meanwhile
// waits as `queued`, replaced by any newer one (the replaced one was never
// seen: discarded), and is committed when the flip in flight completes.
// When a flip completes the frame that was on screen is given back: the
// display has stopped reading it, only now may its buffer be reused.
//
// Only the state lives here; what a commit is, and what "discarded" or
// "released" mean to the compositor, is the output's business.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

namespace zc::output::kms {

template <typename Frame>
class FlipQueue {
 public:
  // A new frame waits for the display. Returns the frame it replaced, if
  // one was queued: that one never reached the screen.
  std::optional<Frame> queue(Frame f) {
    std::optional<Frame> old = take_queued();
    queued_ = std::move(f);
    return old;
  }
  std::optional<Frame> take_queued() {
    std::optional<Frame> old = std::move(queued_);
    queued_.reset();
    return old;
  }

  // A commit may go out now: a frame waits and none is in flight.
  bool ready() const { return queued_.has_value() && !inflight_.has_value(); }
  // The queued frame was committed.
  void committed() {
    inflight_ = std::move(queued_);
    queued_.reset();
    busy_in_a_row_ = 0;
  }
  // The kernel answered EBUSY: the frame stays queued. Returns how many
  // times in a row (a CRTC that never frees up deserves a warning).
  uint32_t busy() { return ++busy_in_a_row_; }
  // The commit failed for good: the frame will not be shown.
  std::optional<Frame> failed() {
    busy_in_a_row_ = 0;
    return take_queued();
  }
  // The flip in flight completed: it is on screen now. Returns the frame it
  // replaced there, which the display no longer reads.
  std::optional<Frame> flipped() {
    std::optional<Frame> old = std::move(current_);
    current_ = std::move(inflight_);
    inflight_.reset();
    return old;
  }
  // Drops whatever is on screen (the caller knows the display stopped
  // reading it, e.g. it was turned off).
  std::optional<Frame> take_current() {
    std::optional<Frame> old = std::move(current_);
    current_.reset();
    return old;
  }

  Frame* queued() { return queued_ ? &*queued_ : nullptr; }
  Frame* in_flight() { return inflight_ ? &*inflight_ : nullptr; }
  Frame* on_screen() { return current_ ? &*current_ : nullptr; }
  bool idle() const { return !queued_ && !inflight_; }

 private:
  std::optional<Frame> queued_, inflight_, current_;
  uint32_t busy_in_a_row_ = 0;
};

}  // namespace zc::output::kms
