// FakeDrm: a KMS device in memory, behind the same kms::Drm seam the real
// libdrm calls go through. It models what the KMS output's correctness
// depends on:
//   - GEM handles as the kernel hands them out: one handle per buffer object
//     per file, the same number for every import of the same dma-buf, and
//     closing an unknown handle fails (EINVAL);
//   - framebuffers that need their handles open at AddFB2 time;
//   - atomic requests recorded verbatim; TEST_ONLY refusals on demand;
//   - the kernel's atomic rules, checked on every request (TEST_ONLY too) as
//     libliftoff's mock does: a change of MODE_ID, ACTIVE or a connector's
//     CRTC_ID needs DRM_MODE_ATOMIC_ALLOW_MODESET; a plane has FB_ID and
//     CRTC_ID both or neither, and only on an active CRTC; an active CRTC
//     needs a mode; TEST_ONLY with PAGE_FLIP_EVENT is refused. Each
//     refusal is EINVAL and counted in rule_violations, with its rule;
//   - at most one commit in flight: a second NONBLOCK commit gets EBUSY
//     (and is counted as a violation), and EBUSY on demand;
//   - page-flip events delivered through a pollable eventfd, when the test
//     says the "display" took the frame.
// "dma-bufs" are memfds here: a buffer object is identified by the inode.
#pragma once

#include <drm_fourcc.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "output/kms/drm.h"

namespace zc::test {

using namespace zc::output::kms;

inline drmModeModeInfo make_mode(uint16_t w, uint16_t h, uint32_t hz, bool preferred) {
  drmModeModeInfo m{};
  m.hdisplay = w;
  m.vdisplay = h;
  // Totals (blanking included) chosen so the pixel clock in kHz is exact.
  m.htotal = static_cast<uint16_t>((w + 100 + 999) / 1000 * 1000);
  m.vtotal = static_cast<uint16_t>(h + 10);
  m.clock = static_cast<uint32_t>(uint64_t{m.htotal} / 1000 * m.vtotal * hz);  // kHz
  m.vrefresh = hz;
  m.type = DRM_MODE_TYPE_DRIVER | (preferred ? DRM_MODE_TYPE_PREFERRED : 0);
  std::snprintf(m.name, sizeof m.name, "%ux%u", w, h);
  return m;
}

// An IN_FORMATS blob as the kernel lays it out: `mods` are (modifier, mask of
// the formats it applies to).
inline std::vector<uint8_t> in_formats_blob(const std::vector<uint32_t>& formats,
                                     const std::vector<std::pair<uint64_t, uint64_t>>& mods /* modifier, mask */) {
  drm_format_modifier_blob h{};
  h.version = FORMAT_BLOB_CURRENT;
  h.count_formats = static_cast<uint32_t>(formats.size());
  h.formats_offset = sizeof h;
  h.count_modifiers = static_cast<uint32_t>(mods.size());
  h.modifiers_offset = static_cast<uint32_t>(sizeof h + formats.size() * 4 + 7) & ~7u;
  std::vector<uint8_t> blob(h.modifiers_offset + mods.size() * sizeof(drm_format_modifier));
  std::memcpy(blob.data(), &h, sizeof h);
  std::memcpy(blob.data() + h.formats_offset, formats.data(), formats.size() * 4);
  for (size_t i = 0; i < mods.size(); ++i) {
    drm_format_modifier m{};
    m.modifier = mods[i].first;
    m.formats = mods[i].second;
    std::memcpy(blob.data() + h.modifiers_offset + i * sizeof m, &m, sizeof m);
  }
  return blob;
}

class FakeDrm final : public Drm {
 public:
  // IDs, as a driver would number its objects.
  static constexpr uint32_t kPrimary = 31, kCursor = 32, kCrtc = 33, kConnector = 34, kEncoder = 35;
  static constexpr uint32_t kConnCrtcId = 100, kCrtcModeId = 101, kCrtcActive = 102;
  static constexpr uint32_t kPlaneType = 110, kFbId = 111, kPlaneCrtcId = 112, kSrcX = 113, kSrcY = 114,
                            kSrcW = 115, kSrcH = 116, kCrtcX = 117, kCrtcY = 118, kCrtcW = 119, kCrtcH = 120,
                            kInFormats = 121, kInFenceFd = 122, kOutFencePtr = 103;

  // ---- knobs
  bool atomic_supported = true;
  bool connected = true;
  bool vblank = false;  // false: like virtio-gpu (crtc_sequence -> EOPNOTSUPP, event sequence 0)
  uint64_t addfb2_modifiers = 0;
  std::vector<drmModeModeInfo> modes = {make_mode(64, 48, 75, true), make_mode(64, 48, 60, false),
                                        make_mode(32, 24, 60, false)};
  std::vector<uint32_t> plane_formats = {DRM_FORMAT_XRGB8888};
  std::optional<std::vector<uint8_t>> in_formats_blob;  // IN_FORMATS property when set
  int reject_test_only = 0;  // errno for every TEST_ONLY commit, 0 = accept
  int ebusy_next = 0;        // the next N real commits fail with EBUSY
  int fail_commit_errno = 0; // every real commit fails with this (0 = none)
  bool hold_flips = true;    // true: flips complete only when complete_flips() is called
  uint32_t initial_fb = 0;   // a framebuffer on the CRTC before we start (a console)
  bool refuse_24bpp_dumb = true;
  std::set<std::string> hidden_props;  // property names the driver lacks
  std::function<void(const FakeDrm&)> on_destroy;  // the device closes: what is left

  // ---- what happened
  struct Commit {
    std::vector<AtomicProp> props;
    uint32_t flags = 0;
    uint64_t user_data = 0;
    uint64_t value(uint32_t object, uint32_t prop) const {
      for (const auto& p : props)
        if (p.object == object && p.property == prop) return p.value;
      return UINT64_MAX;
    }
    bool has(uint32_t object, uint32_t prop) const { return value(object, prop) != UINT64_MAX; }
  };
  std::vector<Commit> test_commits, commits;
  // IN_FENCE_FD of each real commit: the fd, and the file it named then
  // (inode), which the tests compare with the fence they handed out.
  struct InFence {
    int fd;
    ino_t object;
  };
  std::vector<InFence> in_fences;
  int out_fences_made = 0;  // OUT_FENCE_PTR: sync_files (eventfds here) written back
  struct SetCrtc {
    uint32_t crtc, fb;
    std::vector<uint32_t> connectors;
    bool has_mode;
    drmModeModeInfo mode;
  };
  std::vector<SetCrtc> set_crtcs;
  struct Flip {
    uint32_t fb;
    uint32_t flags;
    uint64_t user_data;
  };
  std::vector<Flip> page_flips;
  std::vector<std::string> ops;  // "commit", "event", "rmfb N", "setcrtc", ...
  int overlapping_commits = 0;   // commits made while another was in flight
  int bad_handle_closes = 0;     // close of a handle that was not open
  int prime_imports = 0;
  int addfb_with_modifiers = 0, addfb_plain = 0;
  int rmfb_unknown = 0;

  struct Fb {
    uint32_t w, h, format;
    ino_t object;
    uint32_t planes = 1;             // handles given (the first zero ends them)
    std::array<uint64_t, 4> modifiers{};  // as given to AddFB2WithModifiers (zeros for plain AddFB2)
  };
  std::map<uint32_t, Fb> fbs;
  // The committed state (what the kernel holds), as the rules need it.
  uint32_t plane_fb = 0;  // what the primary plane shows
  uint32_t plane_crtc = 0;
  bool crtc_active = false;
  uint32_t crtc_mode_blob = 0;
  uint32_t conn_crtc = 0;
  int rule_violations = 0;
  std::vector<std::string> violated;  // which rule, per refusal

  FakeDrm() : event_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakeDrm() override {
    if (on_destroy) on_destroy(*this);
    ::close(event_fd_);
    for (auto& [h, fd] : dumb_fds_) ::close(fd);
    for (int fd : out_signals_) ::close(fd);
  }

  void set_initial_fb() {
    // A console framebuffer, made by "someone else".
    const uint32_t id = next_fb_++;
    fbs[id] = Fb{modes[0].hdisplay, modes[0].vdisplay, DRM_FORMAT_XRGB8888, 0};
    initial_fb = id;
    plane_fb = id;
    plane_crtc = kCrtc;
    crtc_active = true;
    conn_crtc = kCrtc;
    kernel_mode_blob(modes[0]);
  }

  // Blobs the program created and has not destroyed.
  size_t blob_count() const {
    return blobs_.size() - kernel_blobs_.size() - blobs_.count(kInFormatsBlob);
  }
  size_t open_handles() const { return handle_to_object_.size(); }
  size_t pending_flips() const { return pending_.size(); }
  bool in_flight() const { return !pending_.empty() || !ready_.empty(); }

  // The display took the pending frame(s): their events become readable.
  void complete_flips(uint32_t sequence = 0, uint64_t time_ns = 1'000'000'000ull) {
    while (!pending_.empty()) {
      FlipEvent e = pending_.front();
      pending_.pop_front();
      e.sequence = vblank ? sequence : 0;
      e.time_ns = time_ns;
      ready_.push_back(e);
    }
    const uint64_t one = 1;
    if (!ready_.empty() && ::write(event_fd_, &one, sizeof one) != sizeof one) std::abort();
    // The out-fences of those commits signal with them.
    for (int fd : out_signals_) {
      if (::write(fd, &one, sizeof one) != sizeof one) std::abort();
      ::close(fd);
    }
    out_signals_.clear();
  }

  // ---- kms::Drm
  int fd() const override { return event_fd_; }
  int version(DriverVersion& out) override {
    out = DriverVersion{"fake", "1.2.3", "a fake DRM device for unit tests"};
    return 0;
  }
  int get_cap(uint64_t cap, uint64_t& value) override {
    switch (cap) {
      case DRM_CAP_ADDFB2_MODIFIERS: value = addfb2_modifiers; return 0;
      case DRM_CAP_DUMB_BUFFER: value = 1; return 0;
      case DRM_CAP_PRIME: value = DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT; return 0;
      case DRM_CAP_TIMESTAMP_MONOTONIC: value = 1; return 0;
      default: return EINVAL;
    }
  }
  int set_client_cap(uint64_t cap, uint64_t) override {
    if (cap == DRM_CLIENT_CAP_ATOMIC && !atomic_supported) return EOPNOTSUPP;
    return 0;
  }
  bool is_master() override { return true; }
  int set_master() override { return 0; }

  int resources(Resources& out) override {
    out.crtcs = {kCrtc};
    out.connectors = {kConnector};
    out.encoders = {kEncoder};
    return 0;
  }
  int connector(uint32_t id, ConnectorInfo& out) override {
    if (id != kConnector) return ENOENT;
    out.id = id;
    out.type = DRM_MODE_CONNECTOR_VIRTUAL;
    out.type_id = 1;
    out.connected = connected;
    out.connection = connected ? DRM_MODE_CONNECTED : DRM_MODE_DISCONNECTED;
    out.mm_width = connected ? 600 : 0;
    out.mm_height = connected ? 340 : 0;
    out.encoder_id = 0;
    out.encoders = {kEncoder};
    out.modes = connected ? modes : std::vector<drmModeModeInfo>{};
    return 0;
  }
  int encoder(uint32_t id, EncoderInfo& out) override {
    if (id != kEncoder) return ENOENT;
    out = EncoderInfo{kEncoder, 0, 1};
    return 0;
  }
  int crtc(uint32_t id, CrtcInfo& out) override {
    if (id != kCrtc) return ENOENT;
    out = CrtcInfo{};
    out.id = id;
    out.fb_id = initial_fb;
    out.mode_valid = initial_fb != 0;
    if (initial_fb != 0) out.mode = modes[0];
    return 0;
  }
  int plane_ids(std::vector<uint32_t>& out) override {
    out = {kPrimary, kCursor};
    return 0;
  }
  int plane(uint32_t id, PlaneInfo& out) override {
    if (id != kPrimary && id != kCursor) return ENOENT;
    out = PlaneInfo{};
    out.id = id;
    out.possible_crtcs = 1;
    out.formats = id == kPrimary ? plane_formats : std::vector<uint32_t>{DRM_FORMAT_ARGB8888};
    return 0;
  }
  int properties(uint32_t object, uint32_t type, std::vector<Property>& out) override {
    out.clear();
    if (object == kConnector && type == DRM_MODE_OBJECT_CONNECTOR) {
      out = {{kConnCrtcId, "CRTC_ID", 0}};
    } else if (object == kCrtc && type == DRM_MODE_OBJECT_CRTC) {
      out = {{kCrtcModeId, "MODE_ID", 0}, {kCrtcActive, "ACTIVE", 0}, {kOutFencePtr, "OUT_FENCE_PTR", 0}};
    } else if ((object == kPrimary || object == kCursor) && type == DRM_MODE_OBJECT_PLANE) {
      const uint64_t t = object == kPrimary ? DRM_PLANE_TYPE_PRIMARY : DRM_PLANE_TYPE_CURSOR;
      out = {{kPlaneType, "type", t},   {kFbId, "FB_ID", 0},    {kPlaneCrtcId, "CRTC_ID", 0},
             {kSrcX, "SRC_X", 0},       {kSrcY, "SRC_Y", 0},    {kSrcW, "SRC_W", 0},
             {kSrcH, "SRC_H", 0},       {kCrtcX, "CRTC_X", 0},  {kCrtcY, "CRTC_Y", 0},
             {kCrtcW, "CRTC_W", 0},     {kCrtcH, "CRTC_H", 0},  {kInFenceFd, "IN_FENCE_FD", UINT64_MAX}};
      if (in_formats_blob && object == kPrimary) {
        blobs_[kInFormatsBlob] = *in_formats_blob;
        out.push_back({kInFormats, "IN_FORMATS", kInFormatsBlob});
      }
    } else {
      return ENOENT;
    }
    std::erase_if(out, [this](const Property& p) { return hidden_props.count(p.name) != 0; });
    return 0;
  }
  int get_blob(uint32_t id, std::vector<uint8_t>& out) override {
    auto it = blobs_.find(id);
    if (it == blobs_.end()) return ENOENT;
    out = it->second;
    return 0;
  }
  int create_blob(const void* data, size_t size, uint32_t& id) override {
    id = next_blob_++;
    const auto* p = static_cast<const uint8_t*>(data);
    blobs_[id] = std::vector<uint8_t>(p, p + size);
    return 0;
  }
  int destroy_blob(uint32_t id) override { return blobs_.erase(id) != 0 ? 0 : ENOENT; }

  int prime_fd_to_handle(int fd, uint32_t& handle) override {
    prime_imports++;
    struct stat st {};
    if (::fstat(fd, &st) != 0) return EBADF;
    if (import_errno != 0 && dumb_objects_.count(st.st_ino) == 0) return import_errno;
    // The kernel's rule: one handle per object per file, whoever asks.
    if (auto it = object_to_handle_.find(st.st_ino); it != object_to_handle_.end()) {
      handle = it->second;
      return 0;
    }
    handle = next_handle_++;
    object_to_handle_[st.st_ino] = handle;
    handle_to_object_[handle] = st.st_ino;
    ops.push_back("import " + std::to_string(handle));
    return 0;
  }
  int prime_handle_to_fd(uint32_t handle, uint32_t, int& out) override {
    auto it = dumb_fds_.find(handle);
    if (it == dumb_fds_.end()) return ENOENT;
    out = ::fcntl(it->second, F_DUPFD_CLOEXEC, 0);
    return out < 0 ? errno : 0;
  }
  int close_handle(uint32_t handle) override {
    auto it = handle_to_object_.find(handle);
    if (it == handle_to_object_.end()) {
      bad_handle_closes++;
      return EINVAL;
    }
    object_to_handle_.erase(it->second);
    handle_to_object_.erase(it);
    if (auto d = dumb_fds_.find(handle); d != dumb_fds_.end()) {
      ::close(d->second);
      dumb_fds_.erase(d);
    }
    ops.push_back("close " + std::to_string(handle));
    return 0;
  }
  int add_fb2(uint32_t w, uint32_t h, uint32_t format, const std::array<uint32_t, 4>& handles,
              const std::array<uint32_t, 4>& pitches, const std::array<uint32_t, 4>&,
              const std::array<uint64_t, 4>* modifiers, uint32_t& fb_id) override {
    if (modifiers != nullptr && addfb2_modifiers == 0) return EINVAL;  // as the kernel does
    modifiers != nullptr ? addfb_with_modifiers++ : addfb_plain++;
    auto it = handle_to_object_.find(handles[0]);
    if (it == handle_to_object_.end()) return ENOENT;  // the handle must be open now
    uint32_t planes = 1;
    for (; planes < 4 && handles[planes] != 0; ++planes) {
      // Every plane's handle open, with a pitch; all planes one modifier (the kernel's rules).
      if (handle_to_object_.count(handles[planes]) == 0) return ENOENT;
      if (pitches[planes] == 0) return EINVAL;
      if (modifiers != nullptr && (*modifiers)[planes] != (*modifiers)[0]) return EINVAL;
    }
    if (addfb_errno != 0) return addfb_errno;
    fb_id = next_fb_++;
    fbs[fb_id] = Fb{w, h, format, it->second, planes, modifiers != nullptr ? *modifiers : std::array<uint64_t, 4>{}};
    ops.push_back("addfb " + std::to_string(fb_id));
    return 0;
  }
  int rm_fb(uint32_t fb_id) override {
    if (fbs.erase(fb_id) == 0) {
      rmfb_unknown++;
      return ENOENT;
    }
    if (plane_fb == fb_id) plane_fb = 0;  // RmFB turns the plane off
    ops.push_back("rmfb " + std::to_string(fb_id));
    return 0;
  }
  int create_dumb(uint32_t w, uint32_t h, uint32_t bpp, DumbInfo& out) override {
    if (bpp != 32 && refuse_24bpp_dumb) return EINVAL;
    const int fd = ::memfd_create("fake-dumb", MFD_CLOEXEC);
    out.pitch = (w * bpp / 8 + 63u) & ~63u;
    out.size = uint64_t{out.pitch} * h;
    if (::ftruncate(fd, static_cast<off_t>(out.size)) != 0) return errno;
    struct stat st {};
    ::fstat(fd, &st);
    out.handle = next_handle_++;
    handle_to_object_[out.handle] = st.st_ino;
    object_to_handle_[st.st_ino] = out.handle;
    dumb_fds_[out.handle] = fd;
    dumb_objects_.insert(st.st_ino);
    dumbs_created++;
    return 0;
  }
  int destroy_dumb(uint32_t handle) override { return close_handle(handle); }

  int atomic_commit(std::span<const AtomicProp> props, uint32_t flags, uint64_t user_data) override {
    Commit c{std::vector<AtomicProp>(props.begin(), props.end()), flags, user_data};
    for (const auto& p : c.props)
      if (p.object == kPrimary && p.property == kFbId && p.value != 0 && fbs.count(static_cast<uint32_t>(p.value)) == 0)
        return EINVAL;  // no such framebuffer
    if (const char* rule = check_rules(c)) {
      rule_violations++;
      violated.push_back(rule);
      return EINVAL;
    }
    if ((flags & DRM_MODE_ATOMIC_TEST_ONLY) != 0) {
      test_commits.push_back(std::move(c));
      return reject_test_only;
    }
    if (ebusy_next > 0) {
      ebusy_next--;
      ops.push_back("ebusy");
      return EBUSY;
    }
    if (fail_commit_errno != 0) return fail_commit_errno;
    if ((flags & DRM_MODE_ATOMIC_NONBLOCK) != 0 && in_flight()) {
      overlapping_commits++;
      return EBUSY;
    }
    // Explicit fences, as the kernel treats them: IN_FENCE_FD must name a
    // sync_file now (EINVAL otherwise) and the caller keeps its descriptor;
    // OUT_FENCE_PTR is an address where a new descriptor is written, which
    // becomes readable when the flip completes (complete_flips).
    std::optional<InFence> in;
    for (const auto& p : c.props)
      if (p.object == kPrimary && p.property == kInFenceFd && p.value != UINT64_MAX) {
        struct stat st {};
        if (::fstat(static_cast<int>(p.value), &st) != 0) return EINVAL;
        in = InFence{static_cast<int>(p.value), st.st_ino};
      }
    int32_t* out_ptr = nullptr;
    for (const auto& p : c.props)
      if (p.object == kCrtc && p.property == kOutFencePtr && p.value != 0)
        out_ptr = reinterpret_cast<int32_t*>(static_cast<uintptr_t>(p.value));
    if (in) in_fences.push_back(*in);
    if (out_ptr != nullptr) {
      const int fence = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      out_signals_.push_back(::fcntl(fence, F_DUPFD_CLOEXEC, 0));
      *out_ptr = fence;
      out_fences_made++;
    }
    const State next = apply(c);
    plane_fb = next.plane_fb;
    plane_crtc = next.plane_crtc;
    crtc_active = next.active;
    crtc_mode_blob = next.mode_blob;
    conn_crtc = next.conn_crtc;
    commits.push_back(std::move(c));
    ops.push_back("commit");
    if ((flags & DRM_MODE_PAGE_FLIP_EVENT) != 0) queue_event(user_data);
    return 0;
  }
  int set_crtc(uint32_t crtc, uint32_t fb, uint32_t, uint32_t, std::span<const uint32_t> connectors,
               const drmModeModeInfo* mode) override {
    if (fb != 0 && fbs.count(fb) == 0) return ENOENT;
    set_crtcs.push_back(SetCrtc{crtc, fb, std::vector<uint32_t>(connectors.begin(), connectors.end()),
                                mode != nullptr, mode != nullptr ? *mode : drmModeModeInfo{}});
    plane_fb = fb;
    plane_crtc = fb != 0 ? crtc : 0;
    crtc_active = fb != 0;
    conn_crtc = fb != 0 && !connectors.empty() ? crtc : 0;
    // The legacy call makes a mode blob of the kernel's own (not the
    // caller's: those live until the caller destroys them).
    if (kernel_blobs_.erase(crtc_mode_blob) != 0) blobs_.erase(crtc_mode_blob);
    crtc_mode_blob = 0;
    if (mode != nullptr && fb != 0) kernel_mode_blob(*mode);
    ops.push_back("setcrtc " + std::to_string(fb));
    return 0;
  }
  int page_flip(uint32_t, uint32_t fb, uint32_t flags, uint64_t user_data) override {
    if (fbs.count(fb) == 0) return ENOENT;
    if (ebusy_next > 0) {
      ebusy_next--;
      return EBUSY;
    }
    if (fail_commit_errno != 0) return fail_commit_errno;
    if (in_flight()) {
      overlapping_commits++;
      return EBUSY;
    }
    page_flips.push_back(Flip{fb, flags, user_data});
    plane_fb = fb;
    ops.push_back("pageflip");
    if ((flags & DRM_MODE_PAGE_FLIP_EVENT) != 0) queue_event(user_data);
    return 0;
  }
  int crtc_sequence(uint32_t, uint64_t& seq, uint64_t& ns) override {
    if (!vblank) return EOPNOTSUPP;
    seq = 0;
    ns = 0;
    return 0;
  }
  int handle_events(const std::function<void(const FlipEvent&)>& on_flip) override {
    uint64_t v = 0;
    (void)::read(event_fd_, &v, sizeof v);
    std::deque<FlipEvent> events;
    events.swap(ready_);
    for (const auto& e : events) {
      ops.push_back("event");
      on_flip(e);
    }
    return 0;
  }

  int import_errno = 0;  // PRIME import of client (non-dumb) buffers fails with this
  int addfb_errno = 0;
  int dumbs_created = 0;

 private:
  static constexpr uint32_t kInFormatsBlob = 900;

  void kernel_mode_blob(const drmModeModeInfo& m) {
    create_blob(&m, sizeof m, crtc_mode_blob);
    kernel_blobs_.insert(crtc_mode_blob);
  }

  struct State {
    uint32_t plane_fb, plane_crtc;
    bool active;
    uint32_t mode_blob, conn_crtc;
  };
  // The committed state with the request's properties applied.
  State apply(const Commit& c) const {
    State n{plane_fb, plane_crtc, crtc_active, crtc_mode_blob, conn_crtc};
    for (const auto& p : c.props) {
      const auto v = static_cast<uint32_t>(p.value);
      if (p.object == kPrimary && p.property == kFbId) n.plane_fb = v;
      if (p.object == kPrimary && p.property == kPlaneCrtcId) n.plane_crtc = v;
      if (p.object == kCrtc && p.property == kCrtcActive) n.active = p.value != 0;
      if (p.object == kCrtc && p.property == kCrtcModeId) n.mode_blob = v;
      if (p.object == kConnector && p.property == kConnCrtcId) n.conn_crtc = v;
    }
    return n;
  }
  // The first of the kernel's atomic rules the request breaks, or nullptr.
  const char* check_rules(const Commit& c) const {
    if ((c.flags & DRM_MODE_ATOMIC_TEST_ONLY) != 0 && (c.flags & DRM_MODE_PAGE_FLIP_EVENT) != 0)
      return "TEST_ONLY with PAGE_FLIP_EVENT";
    const State n = apply(c);
    const bool modeset = n.active != crtc_active || n.mode_blob != crtc_mode_blob || n.conn_crtc != conn_crtc;
    if (modeset && (c.flags & DRM_MODE_ATOMIC_ALLOW_MODESET) == 0) return "modeset without ALLOW_MODESET";
    if (n.mode_blob != 0 && blobs_.count(n.mode_blob) == 0) return "MODE_ID is not a blob";
    if (n.active && n.mode_blob == 0) return "active CRTC without a mode";
    if ((n.plane_fb != 0) != (n.plane_crtc != 0)) return "plane with FB_ID but no CRTC_ID, or the reverse";
    if (n.plane_fb != 0 && !n.active) return "plane enabled on an inactive CRTC";
    if ((c.flags & DRM_MODE_PAGE_FLIP_EVENT) != 0 && !n.active) return "page-flip event from an inactive CRTC";
    return nullptr;
  }

  void queue_event(uint64_t user_data) {
    pending_.push_back(FlipEvent{kCrtc, 0, 0, user_data});
    if (!hold_flips) complete_flips();
  }

  int event_fd_;
  uint32_t next_handle_ = 1, next_fb_ = 5, next_blob_ = 200;
  std::map<uint32_t, ino_t> handle_to_object_;
  std::map<ino_t, uint32_t> object_to_handle_;
  std::map<uint32_t, int> dumb_fds_;
  std::set<ino_t> dumb_objects_;
  std::map<uint32_t, std::vector<uint8_t>> blobs_;
  std::set<uint32_t> kernel_blobs_;
  std::deque<FlipEvent> pending_, ready_;
  std::vector<int> out_signals_;  // the fake's end of out-fences not yet signalled
};

}  // namespace zc::test
