#include "buffer/scanout_planner.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "common/format.h"

namespace zc::buffer {
namespace detail {

struct ScanoutSlot {
  std::shared_ptr<Buffer> buffer;
  uint64_t bytes = 0;
  bool leased = false;
  // Extent of the pixels earlier copies wrote (new buffers are zeroed).
  ScanoutLease::Drawn drawn;

  bool fits(uint32_t w, uint32_t h, uint32_t format) const {
    return buffer->width() == w && buffer->height() == h && buffer->format() == format;
  }
};

struct ScanoutState {
  std::unique_ptr<Allocator> allocator;
  ScanoutLimits limits;
  std::vector<std::shared_ptr<ScanoutSlot>> slots;
  // The size and format each user asked for last: an idle buffer that fits
  // neither is useless until someone asks for that shape again, so it is
  // freed.
  struct Shape {
    uint32_t w = 0, h = 0, format = 0;
  };
  std::array<Shape, kScanoutUsers> want{};
  bool wanted(const ScanoutSlot& s) const {
    return std::any_of(want.begin(), want.end(), [&s](const Shape& x) { return s.fits(x.w, x.h, x.format); });
  }
  ScanoutPlanner::Stats stats;

  // Drops the planner's reference: the memory goes back to the system when
  // the display (which may hold its own reference) lets go too.
  void free_slot(size_t i) {
    stats.bytes -= slots[i]->bytes;
    stats.frees++;
    slots.erase(slots.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void free_idle_if(bool (*stale)(const ScanoutSlot&, const ScanoutState&)) {
    for (size_t i = 0; i < slots.size();) {
      if (!slots[i]->leased && stale(*slots[i], *this))
        free_slot(i);
      else
        ++i;
    }
  }

  void give_back(ScanoutSlot* s) {
    auto it = std::find_if(slots.begin(), slots.end(), [s](const auto& p) { return p.get() == s; });
    if (it == slots.end()) return;  // already freed (release at shutdown)
    s->leased = false;
    stats.leased--;
    if (!wanted(*s)) free_slot(static_cast<size_t>(it - slots.begin()));
  }
};

}  // namespace detail

// ------------------------------------------------------------------- lease
ScanoutLease& ScanoutLease::operator=(ScanoutLease&& other) noexcept {
  if (this != &other) {
    reset();
    state_ = std::move(other.state_);
    slot_ = std::move(other.slot_);
  }
  return *this;
}

Buffer& ScanoutLease::buffer() const { return *slot_->buffer; }
ScanoutLease::Drawn& ScanoutLease::drawn() const { return slot_->drawn; }
std::shared_ptr<Buffer> ScanoutLease::shared_buffer() const { return slot_->buffer; }

void ScanoutLease::reset() {
  if (slot_ == nullptr) return;
  if (auto state = state_.lock()) state->give_back(slot_.get());
  slot_.reset();
  state_.reset();
}

Result<uint64_t> ScanoutLease::copy_into(const uint8_t* src, uint32_t src_stride, uint32_t row_bytes,
                                         uint32_t height) {
  Buffer& dst = *slot_->buffer;
  auto px = dst.map(true);
  if (!px) return px.error();
  if (row_bytes > dst.stride() || height > dst.height())
    return Error{EINVAL, fmt::format("frame rows of {} bytes do not fit the scanout buffer", row_bytes)};
  dst.begin_cpu_access(true);
  uint8_t* out = px->data();
  const size_t dst_stride = dst.stride();
  const bool whole = src_stride == dst_stride && height == dst.height();
  if (whole) {
    std::memcpy(out, src, dst_stride * height);
  } else {
    for (uint32_t y = 0; y < height; ++y)
      std::memcpy(out + y * dst_stride, src + static_cast<size_t>(y) * src_stride, row_bytes);
  }
  clear_stale(out, dst_stride, whole ? static_cast<uint32_t>(dst_stride) : row_bytes, height,
              slot_->drawn.row_bytes, slot_->drawn.rows);
  dst.end_cpu_access(true);
  return whole ? uint64_t{src_stride} * height : uint64_t{row_bytes} * height;
}

// ----------------------------------------------------------------- planner
ScanoutPlanner::ScanoutPlanner(std::unique_ptr<Allocator> allocator, ScanoutLimits limits)
    : state_(std::make_shared<detail::ScanoutState>()) {
  state_->allocator = std::move(allocator);
  state_->limits = limits;
}

// Leases still out keep their buffers (the display may be reading them);
// they are freed when those leases end.
ScanoutPlanner::~ScanoutPlanner() = default;

Result<ScanoutLease> ScanoutPlanner::acquire(uint32_t width, uint32_t height, uint32_t format, ScanoutUser user) {
  detail::ScanoutState& st = *state_;
  const FormatInfo* info = format_info(format);
  if (info == nullptr) return Error{EINVAL, "no scanout buffer for format " + format_name(format)};
  const uint64_t need = uint64_t{width} * height * info->bytes_per_pixel;
  if (need > st.limits.max_buffer_bytes) {
    st.stats.refused_too_large++;
    return Error{EFBIG, fmt::format("a {}x{} {} frame needs a {}-byte scanout buffer, more than the limit of {} bytes",
                                    width, height, info->name, need, st.limits.max_buffer_bytes)};
  }
  st.want[static_cast<size_t>(user)] = {width, height, format};
  // This user's buffers of another size are useless now: free the idle ones.
  // Leased ones stay (the display may be reading them) and are freed when
  // given back.
  st.free_idle_if([](const detail::ScanoutSlot& s, const detail::ScanoutState& x) { return !x.wanted(s); });
  std::shared_ptr<detail::ScanoutSlot> slot;
  for (const auto& s : st.slots)
    if (!s->leased && s->fits(width, height, format)) {
      slot = s;
      break;
    }
  if (slot == nullptr) {
    if (st.slots.size() >= st.limits.max_buffers) {
      st.stats.refused_busy++;
      return Error{EBUSY, fmt::format("all {} scanout buffers are in use", st.slots.size())};
    }
    auto b = st.allocator->allocate(width, height, format, {});
    if (!b) return b.error();
    slot = std::make_shared<detail::ScanoutSlot>();
    slot->buffer = std::shared_ptr<Buffer>(std::move(b.value()));
    slot->bytes = uint64_t{slot->buffer->stride()} * slot->buffer->height();
    st.slots.push_back(slot);
    st.stats.allocations++;
    st.stats.bytes += slot->bytes;
    st.stats.peak_bytes = std::max(st.stats.peak_bytes, st.stats.bytes);
  }
  slot->leased = true;
  st.stats.leased++;
  return ScanoutLease(state_, std::move(slot));
}

void ScanoutPlanner::release_idle() {
  state_->free_idle_if([](const detail::ScanoutSlot&, const detail::ScanoutState&) { return true; });
}

ScanoutPlanner::Stats ScanoutPlanner::stats() const {
  Stats s = state_->stats;
  s.buffers = state_->slots.size();
  return s;
}

std::vector<std::pair<const char*, uint64_t>> ScanoutPlanner::counters() const {
  const Stats s = stats();
  return {{"buffers", s.buffers},
          {"leased", s.leased},
          {"bytes", s.bytes},
          {"peak_bytes", s.peak_bytes},
          {"allocations", s.allocations},
          {"frees", s.frees},
          {"refused_too_large", s.refused_too_large},
          {"refused_busy", s.refused_busy},
          {"max_buffer_bytes", state_->limits.max_buffer_bytes},
          {"max_buffers", state_->limits.max_buffers}};
}

}  // namespace zc::buffer
