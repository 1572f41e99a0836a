#include "output/kms/kms_output.h"

#include <drm_fourcc.h>
#include <fmt/core.h>
#include <poll.h>
#include <xf86drm.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "buffer/pattern.h"
#include "common/clock.h"
#include "common/format.h"
#include "common/log.h"
#include "output/kms/atomic.h"
#include "output/kms/dumb.h"
#include "output/kms/framebuffer.h"
#include "output/kms/properties.h"

namespace zc::output {

// --------------------------------------------------------------- modes
namespace kms {

std::optional<ModeRequest> parse_mode_request(const std::string& text) {
  unsigned w = 0, h = 0;
  char x = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%u%c%u%n", &w, &x, &h, &consumed) != 3 || (x != 'x' && x != 'X') || w == 0 ||
      h == 0 || w > 16384 || h > 16384)
    return std::nullopt;
  ModeRequest r{w, h, std::nullopt};
  const std::string rest = text.substr(static_cast<size_t>(consumed));
  if (rest.empty()) return r;
  double hz = 0;
  int n = 0;
  if (rest[0] != '@' || std::sscanf(rest.c_str() + 1, "%lf%n", &hz, &n) != 1 ||
      static_cast<size_t>(n) + 1 != rest.size() || !(hz > 0) || hz > 1000)
    return std::nullopt;
  r.hz = hz;
  return r;
}

uint32_t refresh_mhz(const drmModeModeInfo& m) {
  if (m.htotal == 0 || m.vtotal == 0) return m.vrefresh * 1000;
  // clock is in kHz: pixels per second / pixels per frame = frames per second.
  uint64_t mhz = (uint64_t{m.clock} * 1'000'000ull / m.htotal + m.vtotal / 2) / m.vtotal;
  if ((m.flags & DRM_MODE_FLAG_INTERLACE) != 0) mhz *= 2;
  if ((m.flags & DRM_MODE_FLAG_DBLSCAN) != 0) mhz /= 2;
  if (m.vscan > 1) mhz /= m.vscan;
  return static_cast<uint32_t>(mhz);
}

std::string mode_name(const drmModeModeInfo& m) {
  return fmt::format("{}x{}@{:.2f}", m.hdisplay, m.vdisplay, refresh_mhz(m) / 1000.0);
}

Result<drmModeModeInfo> pick_mode(const std::vector<drmModeModeInfo>& modes, const std::string& request,
                                  const std::string& connector) {
  if (modes.empty()) return Error{0, fmt::format("connector {} offers no modes", connector)};
  auto preferred = [](const drmModeModeInfo& m) { return (m.type & DRM_MODE_TYPE_PREFERRED) != 0; };
  if (request.empty()) {
    for (const auto& m : modes)
      if (preferred(m)) return m;
    return modes.front();  // no preferred mode: the driver lists the best first
  }
  const auto want = parse_mode_request(request);
  if (!want) return Error{0, fmt::format("--mode '{}': expected WIDTHxHEIGHT or WIDTHxHEIGHT@HZ, e.g. 3840x2160@60", request)};
  const drmModeModeInfo* best = nullptr;
  for (const auto& m : modes) {
    if (m.hdisplay != want->width || m.vdisplay != want->height) continue;
    if (want->hz && std::fabs(refresh_mhz(m) / 1000.0 - *want->hz) > 0.5) continue;
    if (best == nullptr || (preferred(m) && !preferred(*best))) best = &m;
  }
  if (best != nullptr) return *best;
  std::string offered;
  std::vector<std::string> seen;
  for (const auto& m : modes) {
    std::string n = mode_name(m);
    if (std::find(seen.begin(), seen.end(), n) != seen.end()) continue;
    seen.push_back(n);
    if (seen.size() > 12) {
      offered += ", …";
      break;
    }
    offered += (offered.empty() ? "" : ", ") + n;
  }
  return Error{0, fmt::format("mode {} is not offered by connector {} (it offers: {})", request, connector, offered)};
}

}  // namespace kms

namespace {
using namespace kms;

std::string connector_name(const ConnectorInfo& c) {
  const char* type = drmModeGetConnectorTypeName(c.type);
  return fmt::format("{}-{}", type != nullptr ? type : "Unknown", c.type_id);
}

// Copies a frame into an XRGB8888 scanout buffer, converting the pixel
// format where needed and reversing the rows of a bottom-up (y_invert)
// source. A smaller source lands in the top-left corner; what earlier copies
// left outside it (their extent: drawn_row_bytes x drawn_rows) is cleared by
// buffer::clear_stale. Returns the bytes written from the source, or nullopt
// if the format cannot be converted.
std::optional<uint64_t> copy_pixels(const buffer::ConstPixelView& src, bool y_invert, const buffer::PixelView& dst,
                                    uint32_t& drawn_row_bytes, uint32_t& drawn_rows, bool& converted) {
  const uint32_t w = std::min(src.width, dst.width), h = std::min(src.height, dst.height);
  const uint32_t out_row = w * 4;
  converted = false;
  for (uint32_t y = 0; y < h; ++y) {
    const uint32_t sy = y_invert ? src.height - 1 - y : y;
    const uint8_t* s = src.data + static_cast<size_t>(sy) * src.stride;
    uint8_t* d = dst.data + static_cast<size_t>(y) * dst.stride;
    switch (src.format) {
      case DRM_FORMAT_XRGB8888:
      case DRM_FORMAT_ARGB8888:  // same bytes; the display ignores alpha on an X plane
        std::memcpy(d, s, out_row);
        break;
      case DRM_FORMAT_XBGR8888:
      case DRM_FORMAT_ABGR8888:
        converted = true;
        for (uint32_t x = 0; x < w; ++x) {
          d[4 * x + 0] = s[4 * x + 2];
          d[4 * x + 1] = s[4 * x + 1];
          d[4 * x + 2] = s[4 * x + 0];
          d[4 * x + 3] = 0xff;
        }
        break;
      case DRM_FORMAT_RGB888:  // little-endian B, G, R bytes -> B, G, R, X
        converted = true;
        for (uint32_t x = 0; x < w; ++x) {
          d[4 * x + 0] = s[3 * x + 0];
          d[4 * x + 1] = s[3 * x + 1];
          d[4 * x + 2] = s[3 * x + 2];
          d[4 * x + 3] = 0xff;
        }
        break;
      default:
        return std::nullopt;
    }
  }
  buffer::clear_stale(dst.data, dst.stride, out_row, h, drawn_row_bytes, drawn_rows);
  return uint64_t{out_row} * h;
}

class KmsOutput final : public Output {
 public:
  KmsOutput(wl_event_loop* loop, std::shared_ptr<Device> device, KmsConfig config)
      : loop_(loop), dev_(std::move(device)), drm_(dev_->drm()), cfg_(std::move(config)) {}
  ~KmsOutput() override;

  Result<void> init();

  std::string name() const override { return "kms"; }
  std::string description() const override { return description_; }
  Mode mode() const override { return Mode{mode_.hdisplay, mode_.vdisplay, refresh_mhz(mode_)}; }
  std::optional<dev_t> device() const override { return dev_->dev(); }
  std::vector<std::pair<uint32_t, uint64_t>> scanout_formats() const override { return formats_; }
  // The plane's formats, and the ones copy_pixels() converts as LINEAR
  // buffers (the CPU can only read a layout it knows). On a device without
  // modifier support (no ADDFB2_MODIFIERS: virtio-gpu, vkms, simple
  // display drivers) the implicit layout is linear too, so INVALID is
  // offered as well: GL clients allocate without modifiers there. A format
  // the plane takes keeps only the plane's modifiers: offering it more
  // could lead a client to pick a layout the plane refuses.
  std::vector<std::pair<uint32_t, uint64_t>> importable_formats() const override {
    auto out = formats_;
    for (uint32_t f : {DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888, DRM_FORMAT_ABGR8888,
                       DRM_FORMAT_RGB888}) {
      if (std::find(plane_formats_.begin(), plane_formats_.end(), f) != plane_formats_.end()) continue;
      out.emplace_back(f, DRM_FORMAT_MOD_LINEAR);
      if (!dev_->caps().addfb2_modifiers) out.emplace_back(f, DRM_FORMAT_MOD_INVALID);
    }
    return out;
  }
  void present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) override;
  void schedule_vblank() override;
  void withdraw(uint64_t tag) override;
  bool scanout_covers_mode() const override { return true; }
  Result<std::unique_ptr<buffer::Allocator>> scanout_allocator() override {
    return create_dumb_allocator(std::weak_ptr<Device>(dev_));
  }
  std::vector<std::pair<std::string, uint64_t>> counters() const override;

 private:
  // What the primary plane shows (or is about to): a framebuffer, and the
  // buffers it must keep alive while the display may read them.
  struct Frame {
    bool valid = false;
    bool has_tag = false;  // false: a blank frame (after a withdraw)
    uint64_t tag = 0;
    std::shared_ptr<buffer::Buffer> buffer;  // what present() received
    std::shared_ptr<buffer::Buffer> shown;   // what the plane reads: `buffer`, or a dumb copy of it
    std::shared_ptr<Framebuffer> fb;
    int dumb = -1;  // index in pool_ when copied
    bool client_owned = false;
    bool direct = false;
    std::string reason;      // why it was copied
    bool withdrawn = false;  // its surface is gone: blank the screen after it
  };
  struct Dumb {
    std::shared_ptr<buffer::Buffer> buffer;
    std::shared_ptr<Framebuffer> fb;
    bool busy = false;
    // Extent of the non-black pixels, from the top-left corner (dumb
    // buffers start zeroed: 0x0).
    uint32_t drawn_row_bytes = 0, drawn_rows = 0;
  };
  struct Cached {
    std::weak_ptr<buffer::Buffer> buffer;  // expired = the wl_buffer is gone
    std::shared_ptr<Framebuffer> fb;
    std::string error;                     // why it could not be imported
  };

  Result<void> choose_pipeline();
  void compute_formats();
  std::string direct_blocker(const buffer::Buffer& b) const;
  Result<std::shared_ptr<Framebuffer>> framebuffer_for(const std::shared_ptr<buffer::Buffer>& b);
  void build_request(AtomicRequest& req, uint32_t fb_id, bool modeset) const;
  Result<void> copy_into_dumb(Frame& f, const std::string& reason);
  Result<int> acquire_dumb();
  void drop(Frame& f);
  void commit_queued();
  int commit(const Frame& f);
  void on_flip(uint64_t time_ns, uint32_t sequence);
  void queue_blank();
  void sweep();
  void read_back(buffer::Buffer& b, Presented& p);
  void arm_retry();
  void pause();
  void resume();
  void restore();
  void wait_for_flip(int timeout_ms);

  static int on_drm_readable(int fd, uint32_t mask, void* data);
  static int on_retry_timer(void* data);
  static int on_vblank_timer(void* data);
  static void on_modeset_done(void* data);

  wl_event_loop* loop_;
  std::shared_ptr<Device> dev_;
  Drm& drm_;
  KmsConfig cfg_;
  bool atomic_ = false;
  bool has_vblank_ = false;

  uint32_t connector_id_ = 0, crtc_id_ = 0, crtc_index_ = 0, plane_id_ = 0;
  std::string connector_name_;
  std::string description_ = "kms";
  drmModeModeInfo mode_{};
  uint32_t mode_blob_ = 0;
  PropertyTable<ConnectorProp> conn_props_;
  PropertyTable<CrtcProp> crtc_props_;
  PropertyTable<PlaneProp> plane_props_;
  std::vector<uint32_t> plane_formats_;
  bool plane_has_in_formats_ = false;
  std::vector<std::pair<uint32_t, uint64_t>> formats_;
  CrtcInfo saved_crtc_;

  bool needs_modeset_ = true;  // first commit, and after the seat comes back
  bool paused_ = false;
  bool touched_ = false;       // we committed something: restore at exit
  uint64_t serial_ = 0;         // user_data of the commit in flight
  Frame queued_, inflight_, current_;
  std::vector<Dumb> pool_;
  std::unordered_map<const buffer::Buffer*, Cached> cache_;

  wl_event_source* drm_source_ = nullptr;
  wl_event_source* retry_timer_ = nullptr;
  wl_event_source* vblank_timer_ = nullptr;
  wl_event_source* modeset_idle_ = nullptr;
  uint32_t ebusy_in_a_row_ = 0;

  FramebufferCounters fb_counters_;
  struct {
    uint64_t commits = 0, flips = 0, test_only = 0, test_only_rejected = 0, ebusy = 0, commit_failures = 0;
    uint64_t direct = 0, copied = 0, discarded = 0, blanked = 0;
  } n_;
};

// ------------------------------------------------------------ set-up
Result<void> KmsOutput::init() {
  const Caps& caps = dev_->caps();
  atomic_ = caps.atomic;
  if (cfg_.atomic && !atomic_)
    log::info("kms: {} has no atomic modesetting: using legacy drmModeSetCrtc/drmModePageFlip", dev_->path());
  if (auto r = choose_pipeline(); !r) return r;

  if (atomic_) {
    auto cp = resolve_connector(drm_, connector_id_);
    auto kp = resolve_crtc(drm_, crtc_id_);
    auto pp = resolve_plane(drm_, plane_id_);
    if (!cp) return cp.error();
    if (!kp) return kp.error();
    if (!pp) return pp.error();
    conn_props_ = *cp;
    crtc_props_ = *kp;
    plane_props_ = *pp;
    if (std::string missing = missing_for_atomic(conn_props_, crtc_props_, plane_props_); !missing.empty()) {
      log::info("kms: {}: using legacy modesetting", missing);
      atomic_ = false;
    }
  }
  compute_formats();
  if (atomic_) {
    // The mode travels to the kernel as a blob property: created once.
    if (const int err = drm_.create_blob(&mode_, sizeof mode_, mode_blob_); err != 0)
      return Error{err, "cannot create the mode blob (drmModeCreatePropertyBlob)"};
  }
  // What to put back at exit.
  if (const int err = drm_.crtc(crtc_id_, saved_crtc_); err != 0) saved_crtc_ = CrtcInfo{};
  // Does this CRTC have a vblank counter? virtio-gpu has none: its flip
  // events come when the host has taken the frame, with sequence 0.
  uint64_t seq = 0, ns = 0;
  has_vblank_ = drm_.crtc_sequence(crtc_id_, seq, ns) != EOPNOTSUPP;

  drm_source_ = wl_event_loop_add_fd(loop_, drm_.fd(), WL_EVENT_READABLE, &on_drm_readable, this);
  retry_timer_ = wl_event_loop_add_timer(loop_, &on_retry_timer, this);
  vblank_timer_ = wl_event_loop_add_timer(loop_, &on_vblank_timer, this);
  if (drm_source_ == nullptr || retry_timer_ == nullptr || vblank_timer_ == nullptr)
    return Error::from_errno("wl_event_loop_add_fd/timer");
  dev_->set_session_handlers([this] { pause(); }, [this] { resume(); });

  std::string fmts;
  for (uint32_t f : plane_formats_) fmts += (fmts.empty() ? "" : " ") + format_name(f);
  description_ = fmt::format("kms: {} (driver {}), connector {}, mode {}, {}", dev_->path(), drm_.driver_name(),
                             connector_name_, mode_name(mode_), atomic_ ? "atomic" : "legacy");
  log::info("kms: {} ({}, {}): {} {}, CRTC {}, primary plane {} [{}], {}{}{}", dev_->path(), drm_.driver_name(),
            dev_->access(), connector_name_, mode_name(mode_), crtc_id_, plane_id_, fmts,
            atomic_ ? "atomic" : "legacy", dev_->caps().addfb2_modifiers ? "" : ", no ADDFB2 modifiers",
            has_vblank_ ? "" : ", no vblank (flip events only)");
  return {};
}

Result<void> KmsOutput::choose_pipeline() {
  Resources res;
  if (const int err = drm_.resources(res); err != 0)
    return Error{0, fmt::format("{}: not a display device: drmModeGetResources: {}", dev_->path(), std::strerror(err))};

  // Connector: the first connected one (a display is plugged in).
  ConnectorInfo conn;
  for (uint32_t id : res.connectors) {
    ConnectorInfo c;
    if (drm_.connector(id, c) == 0 && c.connected && !c.modes.empty()) {
      conn = c;
      break;
    }
  }
  if (conn.id == 0)
    return Error{0, fmt::format("{}: no connected connector (is a display plugged in?) — use --output headless",
                                dev_->path())};
  connector_id_ = conn.id;
  connector_name_ = connector_name(conn);
  auto m = pick_mode(conn.modes, cfg_.mode, connector_name_);
  if (!m) return m.error();
  mode_ = *m;

  // CRTC: the one already driving this connector, else the first one an
  // encoder of the connector can be fed by (possible_crtcs is a bit mask
  // over the resources' CRTC list).
  auto index_of = [&res](uint32_t crtc) -> int {
    for (size_t i = 0; i < res.crtcs.size(); ++i)
      if (res.crtcs[i] == crtc) return static_cast<int>(i);
    return -1;
  };
  if (conn.encoder_id != 0) {
    EncoderInfo e;
    if (drm_.encoder(conn.encoder_id, e) == 0 && e.crtc_id != 0 && index_of(e.crtc_id) >= 0) crtc_id_ = e.crtc_id;
  }
  for (size_t k = 0; crtc_id_ == 0 && k < conn.encoders.size(); ++k) {
    EncoderInfo e;
    if (drm_.encoder(conn.encoders[k], e) != 0) continue;
    for (size_t i = 0; i < res.crtcs.size() && i < 32; ++i)
      if ((e.possible_crtcs & (1u << i)) != 0) {
        crtc_id_ = res.crtcs[i];
        break;
      }
  }
  if (crtc_id_ == 0) return Error{0, fmt::format("{}: no CRTC can drive connector {}", dev_->path(), connector_name_)};
  crtc_index_ = static_cast<uint32_t>(index_of(crtc_id_));

  // Primary plane of that CRTC: the layer that covers the whole screen.
  std::vector<uint32_t> planes;
  if (dev_->caps().universal_planes && drm_.plane_ids(planes) == 0) {
    for (uint32_t id : planes) {
      PlaneInfo p;
      if (drm_.plane(id, p) != 0 || (p.possible_crtcs & (1u << crtc_index_)) == 0) continue;
      auto props = resolve_plane(drm_, id);
      if (!props || props->value(PlaneProp::type) != DRM_PLANE_TYPE_PRIMARY) continue;
      if (plane_id_ == 0 || p.crtc_id == crtc_id_) {
        plane_id_ = id;
        plane_formats_ = p.formats;
        plane_has_in_formats_ = props->has(PlaneProp::in_formats) && props->value(PlaneProp::in_formats) != 0;
      }
    }
  }
  if (plane_id_ == 0) {
    if (atomic_) return Error{0, fmt::format("{}: CRTC {} has no primary plane", dev_->path(), crtc_id_)};
    // Legacy without universal planes: the primary plane is implicit and
    // XRGB8888 is the one format every KMS driver scans out.
    plane_formats_ = {DRM_FORMAT_XRGB8888};
  }
  return {};
}

// The (format, modifier) pairs clients should allocate so the primary plane
// can show their buffers directly; the server sends them as the SCANOUT
// tranche of linux-dmabuf feedback.
void KmsOutput::compute_formats() {
  formats_.clear();
  if (plane_has_in_formats_) {
    std::vector<uint8_t> blob;
    auto props = resolve_plane(drm_, plane_id_);
    if (props && drm_.get_blob(static_cast<uint32_t>(props->value(PlaneProp::in_formats)), blob) == 0)
      formats_ = parse_in_formats(blob);
  }
  if (formats_.empty()) {
    // No IN_FORMATS: the plane takes linear or implicit-layout buffers only.
    for (uint32_t f : plane_formats_) {
      formats_.emplace_back(f, DRM_FORMAT_MOD_LINEAR);
      formats_.emplace_back(f, DRM_FORMAT_MOD_INVALID);
    }
  } else {
    // An implicit-layout buffer (INVALID) still goes through plain AddFB2.
    for (uint32_t f : plane_formats_)
      if (std::find(formats_.begin(), formats_.end(), std::pair<uint32_t, uint64_t>(f, DRM_FORMAT_MOD_INVALID)) == formats_.end())
        formats_.emplace_back(f, DRM_FORMAT_MOD_INVALID);
  }
}

// ------------------------------------------------------------ tear-down
KmsOutput::~KmsOutput() {
  cb_ = {};  // the server is going away: no more callbacks
  if (retry_timer_ != nullptr) wl_event_source_remove(retry_timer_);
  if (vblank_timer_ != nullptr) wl_event_source_remove(vblank_timer_);
  if (modeset_idle_ != nullptr) {
    // A legacy modeset is synchronous: that frame is on screen already.
    wl_event_source_remove(modeset_idle_);
    drop(current_);
    current_ = std::move(inflight_);
    inflight_ = {};
  }
  if (drm_source_ != nullptr) wl_event_source_remove(drm_source_);
  // A framebuffer must outlive the commit that shows it: let the flip in
  // flight land before anything is removed.
  if (inflight_.valid && !paused_) wait_for_flip(1000);
  if (!paused_ && touched_) restore();
  queued_ = {};
  inflight_ = {};
  current_ = {};
  cache_.clear();
  pool_.clear();  // RmFB of each, then their dma-bufs close
  if (mode_blob_ != 0) drm_.destroy_blob(mode_blob_);
  dev_->set_session_handlers(nullptr, nullptr);
  log::info("kms: {} commits ({} TEST_ONLY rejected, {} EBUSY), {} page flips; frames {} direct, {} copied, {} "
            "discarded; framebuffers {} created, {} removed; GEM handles {} opened, {} closed",
            n_.commits, n_.test_only_rejected, n_.ebusy, n_.flips, n_.direct, n_.copied, n_.discarded,
            fb_counters_.created, fb_counters_.removed, fb_counters_.gem_handles_opened,
            fb_counters_.gem_handles_closed);
}

void KmsOutput::wait_for_flip(int timeout_ms) {
  const uint64_t deadline = monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
  while (inflight_.valid) {
    const uint64_t now = monotonic_ns();
    if (now >= deadline) {
      log::warn("kms: no page-flip event within {} ms at exit", timeout_ms);
      return;
    }
    pollfd p{drm_.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000ull) + 1) <= 0) continue;
    drm_.handle_events([this](const FlipEvent& e) {
      if (inflight_.valid && e.user_data == serial_) {
        n_.flips++;
        drop(current_);
        current_ = std::move(inflight_);
        inflight_ = {};
      }
    });
  }
}

// Puts the CRTC back the way we found it: the previous framebuffer and mode
// (a console, another compositor's last frame), or off if it was off.
void KmsOutput::restore() {
  if (saved_crtc_.mode_valid && saved_crtc_.fb_id != 0) {
    const uint32_t conn = connector_id_;
    const int err = drm_.set_crtc(crtc_id_, saved_crtc_.fb_id, saved_crtc_.x, saved_crtc_.y, {&conn, 1},
                                  &saved_crtc_.mode);
    if (err == 0) return;
    log::debug("kms: restoring framebuffer {} failed ({}); turning the CRTC off", saved_crtc_.fb_id, std::strerror(err));
  }
  int err = 0;
  if (atomic_) {
    AtomicRequest req(drm_);
    req.add(plane_props_, PlaneProp::fb_id, 0)
        .add(plane_props_, PlaneProp::crtc_id, 0)
        .add(conn_props_, ConnectorProp::crtc_id, 0)
        .add(crtc_props_, CrtcProp::mode_id, 0)
        .add(crtc_props_, CrtcProp::active, 0);
    if (auto r = req.commit(DRM_MODE_ATOMIC_ALLOW_MODESET, 0); !r) err = r.error().code;
  } else {
    err = drm_.set_crtc(crtc_id_, 0, 0, 0, {}, nullptr);
  }
  if (err != 0) log::warn("kms: cannot turn CRTC {} off at exit: {}", crtc_id_, std::strerror(err));
}

// ------------------------------------------------------------ present
void KmsOutput::present(std::shared_ptr<buffer::Buffer> buffer, uint64_t tag, bool client_owned) {
  sweep();
  if (queued_.valid) {
    // Replaced before it was committed: the display never read it.
    Frame old = std::move(queued_);
    queued_ = {};
    const bool tagged = old.has_tag;
    const uint64_t old_tag = old.tag;
    drop(old);
    n_.discarded++;
    if (tagged && cb_.discarded) cb_.discarded(old_tag);
  }
  Frame f;
  f.valid = true;
  f.has_tag = true;
  f.tag = tag;
  f.buffer = buffer;
  f.client_owned = client_owned;

  std::string why = direct_blocker(*buffer);
  if (why.empty()) {
    auto fb = framebuffer_for(buffer);
    if (!fb) {
      why = "import failed: " + fb.error().message();
    } else if (atomic_ && !paused_) {
      // TEST_ONLY: ask the driver whether the plane can scan this very
      // buffer out (stride, alignment, placement in memory, bandwidth...
      // constraints no API lists), before committing to it.
      AtomicRequest req(drm_);
      build_request(req, (*fb)->id(), needs_modeset_);
      n_.test_only++;
      if (auto t = req.test(needs_modeset_ ? DRM_MODE_ATOMIC_ALLOW_MODESET : 0); !t) {
        n_.test_only_rejected++;
        why = "TEST_ONLY rejected: " + t.error().message();
      }
    }
    if (why.empty()) {
      f.fb = std::move(fb.value());
      f.shown = buffer;
      f.direct = true;
      n_.direct++;
    }
  }
  if (!f.direct) {
    if (auto r = copy_into_dumb(f, why); !r) {
      log::warn("kms: frame (tag {}) cannot be shown: {} and {}", tag, why, r.error().message());
      n_.discarded++;
      if (cb_.discarded) cb_.discarded(tag);
      return;
    }
  }
  queued_ = std::move(f);
  commit_queued();
}

// Static reasons a buffer cannot go on the primary plane as it is, or "".
std::string KmsOutput::direct_blocker(const buffer::Buffer& b) const {
  if (std::find(plane_formats_.begin(), plane_formats_.end(), b.format()) == plane_formats_.end()) {
    std::string fmts;
    for (uint32_t f : plane_formats_) fmts += (fmts.empty() ? "" : ", ") + format_name(f);
    return fmt::format("format {} is not on the primary plane (it takes {})", format_name(b.format()), fmts);
  }
  // A memfd sent as a "dma-buf" (linux-dmabuf takes any fd) cannot be
  // imported: the display engine can only read memory a driver exported.
  if (b.kind() != buffer::Kind::dmabuf) return "import failed: not a dma-buf (shared memory)";
  const uint64_t mod = b.desc().modifier;
  if (mod != DRM_FORMAT_MOD_INVALID &&
      std::find(formats_.begin(), formats_.end(), std::pair<uint32_t, uint64_t>(b.format(), mod)) == formats_.end())
    return fmt::format("modifier {} is not on the primary plane for {}", modifier_name(mod), format_name(b.format()));
  // A bottom-up buffer (OpenGL's row order) would be shown upside down: the
  // plane reads rows top to bottom. (Some planes could mirror it with the
  // "rotation" property's reflect-y; Weston and zcpipe copy instead.)
  if (b.desc().y_invert) return "y_invert: rows are stored bottom-up and the plane reads them top-down";
  // Many primary planes (virtio-gpu's among them) must cover the whole CRTC
  // and cannot scale: the buffer must have the mode's size.
  if (b.width() != mode_.hdisplay || b.height() != mode_.vdisplay)
    return fmt::format("size {}x{} is not the mode's {}x{}", b.width(), b.height(), mode_.hdisplay, mode_.vdisplay);
  return {};
}

// One framebuffer per client buffer, made on first use and kept while the
// buffer lives: importing costs ioctls, and the FB ID is what a commit takes.
Result<std::shared_ptr<Framebuffer>> KmsOutput::framebuffer_for(const std::shared_ptr<buffer::Buffer>& b) {
  auto it = cache_.find(b.get());
  // The key is an address: a new buffer may reuse a dead one's. The weak
  // pointer tells them apart.
  if (it != cache_.end() && it->second.buffer.lock() != b) {
    cache_.erase(it);
    it = cache_.end();
  }
  if (it == cache_.end()) {
    Cached c;
    c.buffer = b;
    auto fb = Framebuffer::import(drm_, b->desc(), dev_->caps().addfb2_modifiers, &fb_counters_);
    if (fb) c.fb = std::move(fb.value());
    else c.error = fb.error().message();
    it = cache_.emplace(b.get(), std::move(c)).first;
  }
  if (!it->second.fb) return Error{0, it->second.error};
  return it->second.fb;
}

// Drops the framebuffers of buffers that are gone (the client destroyed the
// wl_buffer). A frame still on screen or in flight holds its own reference,
// so its framebuffer is removed only once the flip replacing it completed.
void KmsOutput::sweep() {
  std::erase_if(cache_, [](const auto& kv) { return kv.second.buffer.expired(); });
}

void KmsOutput::build_request(AtomicRequest& req, uint32_t fb_id, bool modeset) const {
  if (modeset) {
    req.add(conn_props_, ConnectorProp::crtc_id, crtc_id_)
        .add(crtc_props_, CrtcProp::mode_id, mode_blob_)
        .add(crtc_props_, CrtcProp::active, 1);
  }
  // Source rectangle in 16.16 fixed point (planes may crop and scale);
  // destination in whole pixels: the full buffer over the full screen.
  req.add(plane_props_, PlaneProp::fb_id, fb_id)
      .add(plane_props_, PlaneProp::crtc_id, crtc_id_)
      .add(plane_props_, PlaneProp::src_x, 0)
      .add(plane_props_, PlaneProp::src_y, 0)
      .add(plane_props_, PlaneProp::src_w, uint64_t{mode_.hdisplay} << 16)
      .add(plane_props_, PlaneProp::src_h, uint64_t{mode_.vdisplay} << 16)
      .add(plane_props_, PlaneProp::crtc_x, 0)
      .add(plane_props_, PlaneProp::crtc_y, 0)
      .add(plane_props_, PlaneProp::crtc_w, mode_.hdisplay)
      .add(plane_props_, PlaneProp::crtc_h, mode_.vdisplay);
}

// ------------------------------------------------------------ the copy fallback
Result<int> KmsOutput::acquire_dumb() {
  for (size_t i = 0; i < pool_.size(); ++i)
    if (!pool_[i].busy) return static_cast<int>(i);
  // Allocated on first need and kept: one on screen, one in flight, one
  // queued is the most the pipeline holds.
  if (pool_.size() >= 3) return Error{EBUSY, "all dumb buffers are in use"};
  auto alloc = create_dumb_allocator(std::weak_ptr<Device>(dev_));
  auto b = alloc->allocate(mode_.hdisplay, mode_.vdisplay, DRM_FORMAT_XRGB8888, {});
  if (!b) return b.error();
  Dumb d;
  d.buffer = std::shared_ptr<buffer::Buffer>(std::move(b.value()));
  auto fb = Framebuffer::import(drm_, d.buffer->desc(), dev_->caps().addfb2_modifiers, &fb_counters_);
  if (!fb) return fb.error();
  d.fb = std::move(fb.value());
  pool_.push_back(std::move(d));
  return static_cast<int>(pool_.size() - 1);
}

Result<void> KmsOutput::copy_into_dumb(Frame& f, const std::string& reason) {
  auto slot = acquire_dumb();
  if (!slot) return Error{slot.error().code, "no dumb buffer for the copy: " + slot.error().message()};
  Dumb& d = pool_[static_cast<size_t>(*slot)];
  buffer::Buffer& src = *f.buffer;
  auto in = src.map(false);
  if (!in) return Error{in.error().code, "cannot map the buffer to copy it: " + in.error().message()};
  auto out = d.buffer->map(true);
  if (!out) return out.error();
  src.begin_cpu_access(false);
  d.buffer->begin_cpu_access(true);
  bool converted = false;
  const auto bytes = copy_pixels({in->data(), src.width(), src.height(), src.stride(), src.format()},
                                 src.desc().y_invert,
                                 {out->data(), d.buffer->width(), d.buffer->height(), d.buffer->stride(),
                                  d.buffer->format()},
                                 d.drawn_row_bytes, d.drawn_rows, converted);
  d.buffer->end_cpu_access(true);
  src.end_cpu_access(false);
  if (!bytes) return Error{EINVAL, fmt::format("no conversion from {}", format_name(src.format()))};
  d.busy = true;
  f.dumb = *slot;
  f.fb = d.fb;
  f.shown = d.buffer;
  f.direct = false;
  f.reason = reason;
  n_.copied++;
  // The CPU copy goes to the ledger of the frame being committed now.
  const std::string where = fmt::format("{}: {} -> dumb buffer (scanout fallback: {})",
                                        converted ? "convert" : "memcpy",
                                        f.client_owned ? "client buffer" : "scanout buffer", reason);
  log::debug("kms: tag {}: {}", f.tag, where);
  if (cb_.copied) cb_.copied(f.tag, *bytes, where.c_str());
  return {};
}

void KmsOutput::drop(Frame& f) {
  if (f.dumb >= 0 && static_cast<size_t>(f.dumb) < pool_.size()) pool_[static_cast<size_t>(f.dumb)].busy = false;
  f = Frame{};
}

// ------------------------------------------------------------ commit and flip
// At most one commit in flight per CRTC: a NONBLOCK commit while another is
// pending fails with EBUSY (the kernel queues nothing), and page-flip events
// could not be matched to frames. So a frame that arrives meanwhile waits in
// queued_, replaced by any newer one, and is committed from the flip handler.
void KmsOutput::commit_queued() {
  if (!queued_.valid || inflight_.valid || paused_ || modeset_idle_ != nullptr) return;
  int err = commit(queued_);
  if (err != 0 && err != EBUSY && queued_.direct && queued_.has_tag) {
    // The kernel refused at commit time what looked fine (legacy has no
    // TEST_ONLY): show a copy instead.
    n_.commit_failures++;
    const std::string reason = fmt::format("commit failed: {}", std::strerror(err));
    queued_.fb.reset();
    queued_.shown.reset();
    if (copy_into_dumb(queued_, reason)) err = commit(queued_);
  }
  if (err == EBUSY) {
    // The previous commit is still being processed (ours just completed, or
    // someone else's): try again shortly.
    n_.ebusy++;
    if (++ebusy_in_a_row_ == 50) log::warn("kms: CRTC {} stays busy (EBUSY on 50 commits in a row)", crtc_id_);
    arm_retry();
    return;
  }
  ebusy_in_a_row_ = 0;
  if (err != 0) {
    n_.commit_failures++;
    log::warn("kms: commit of frame (tag {}) failed: {}", queued_.tag, std::strerror(err));
    Frame f = std::move(queued_);
    queued_ = {};
    const bool tagged = f.has_tag;
    const uint64_t tag = f.tag;
    drop(f);
    n_.discarded++;
    if (tagged && cb_.discarded) cb_.discarded(tag);
    return;
  }
  n_.commits++;
  touched_ = true;
  inflight_ = std::move(queued_);
  queued_ = {};
}

// Returns 0 or an errno value.
int KmsOutput::commit(const Frame& f) {
  const uint64_t serial = serial_ + 1;
  if (atomic_) {
    AtomicRequest req(drm_);
    build_request(req, f.fb->id(), needs_modeset_);
    uint32_t flags = DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT;
    if (needs_modeset_) flags |= DRM_MODE_ATOMIC_ALLOW_MODESET;
    if (auto r = req.commit(flags, serial); !r) return r.error().code != 0 ? r.error().code : EINVAL;
  } else if (needs_modeset_) {
    // Legacy modeset: blocking, and no event. The frame is on screen when
    // the call returns; the completion is reported from an idle callback
    // so that present() never calls back into the server re-entrantly.
    const uint32_t conn = connector_id_;
    if (const int err = drm_.set_crtc(crtc_id_, f.fb->id(), 0, 0, {&conn, 1}, &mode_); err != 0) return err;
    modeset_idle_ = wl_event_loop_add_idle(loop_, &on_modeset_done, this);
  } else {
    if (const int err = drm_.page_flip(crtc_id_, f.fb->id(), DRM_MODE_PAGE_FLIP_EVENT, serial); err != 0) return err;
  }
  serial_ = serial;
  needs_modeset_ = false;
  return 0;
}

int KmsOutput::on_drm_readable(int, uint32_t, void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  const int err = self->drm_.handle_events([self](const FlipEvent& e) {
    if (!self->inflight_.valid || e.user_data != self->serial_) {
      log::debug("kms: page-flip event for commit {} ignored (none of ours in flight)", e.user_data);
      return;
    }
    const uint64_t t = self->dev_->caps().monotonic_timestamps ? e.time_ns : monotonic_ns();
    self->on_flip(t, e.sequence);
  });
  if (err != 0) log::warn("kms: drmHandleEvent: {}", std::strerror(err));
  return 0;
}

void KmsOutput::on_modeset_done(void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  self->modeset_idle_ = nullptr;
  if (self->inflight_.valid) self->on_flip(monotonic_ns(), 0);
  else self->commit_queued();
}

// The commit in flight is on screen.
void KmsOutput::on_flip(uint64_t time_ns, uint32_t sequence) {
  n_.flips++;
  Frame old = std::move(current_);
  current_ = std::move(inflight_);
  inflight_ = {};

  Presented p;
  p.time_ns = time_ns;
  p.hw_completion = true;  // the kernel's event: the display took the frame
  if (has_vblank_) {
    p.seq = sequence;
    p.refresh_ns = static_cast<uint32_t>(1'000'000'000'000ull / std::max<uint32_t>(1, refresh_mhz(mode_)));
    p.vsync = true;
    p.hw_clock = true;
  }
  // Without vblank (virtio-gpu) the event's sequence is always 0 and there
  // is no fixed refresh: wp_presentation asks for seq 0 and refresh 0 then,
  // and the timestamp is when the host took the frame, not a scan-out time.
  p.zero_copy = current_.client_owned && current_.direct;
  p.scanout = current_.direct ? "direct" : "copy";
  p.reason = current_.reason;
  // Keep the display busy: commit the next frame before calling anyone.
  if (current_.withdrawn && !queued_.valid) queue_blank();
  commit_queued();
  if (cfg_.verify && current_.has_tag && current_.shown) read_back(*current_.shown, p);

  // The previous frame's buffers are free now: the flip that replaced it
  // completed, so the display no longer reads them.
  const bool old_tagged = old.valid && old.has_tag;
  const uint64_t old_tag = old.tag;
  drop(old);  // its framebuffer goes if the buffer is gone too (after sweep)
  sweep();
  if (old_tagged && cb_.released) cb_.released(old_tag);
  if (current_.has_tag && cb_.presented) cb_.presented(current_.tag, p);
  if (cb_.vblank) cb_.vblank(time_ns);
}

// After a withdraw: a black frame (a dumb buffer, zeroed once) replaces the
// gone surface's buffer, so that buffer can be released.
void KmsOutput::queue_blank() {
  auto slot = acquire_dumb();
  if (!slot) {
    log::warn("kms: cannot blank the screen: {}", slot.error().message());
    return;
  }
  Dumb& d = pool_[static_cast<size_t>(*slot)];
  if (d.drawn_row_bytes != 0 && d.drawn_rows != 0) {
    auto px = d.buffer->map(true);
    if (!px) return;
    d.buffer->begin_cpu_access(true);
    buffer::clear_stale(px->data(), d.buffer->stride(), 0, 0, d.drawn_row_bytes, d.drawn_rows);
    d.buffer->end_cpu_access(true);
  }
  d.busy = true;
  Frame b;
  b.valid = true;
  b.fb = d.fb;
  b.shown = d.buffer;
  b.dumb = *slot;
  queued_ = std::move(b);
  n_.blanked++;
}

void KmsOutput::withdraw(uint64_t tag) {
  if (queued_.valid && queued_.has_tag && queued_.tag == tag) {
    drop(queued_);
    n_.discarded++;
    if (cb_.discarded) cb_.discarded(tag);
  }
  // In flight: it will reach the screen; blank after it.
  if (inflight_.valid && inflight_.has_tag && inflight_.tag == tag) inflight_.withdrawn = true;
  if (current_.valid && current_.has_tag && current_.tag == tag) {
    current_.withdrawn = true;
    if (!queued_.valid && !inflight_.valid) {
      queue_blank();
      if (!queued_.valid) {  // could not blank: let go anyway (the FB keeps the memory alive)
        const Frame gone = std::move(current_);
        current_ = {};
        if (cb_.released) cb_.released(gone.tag);
        return;
      }
    }
    commit_queued();
  }
}

void KmsOutput::schedule_vblank() {
  // A flip on its way brings the vblank with it.
  if (inflight_.valid || queued_.valid) return;
  // Nothing to flip: fake one refresh later (frame callbacks wait on it).
  const uint32_t mhz = std::max<uint32_t>(1000, refresh_mhz(mode_));
  wl_event_source_timer_update(vblank_timer_, static_cast<int>(std::max<uint32_t>(1, 1'000'000 / mhz)));
}

int KmsOutput::on_vblank_timer(void* data) {
  auto* self = static_cast<KmsOutput*>(data);
  if (self->cb_.vblank) self->cb_.vblank(monotonic_ns());
  return 0;
}

void KmsOutput::arm_retry() { wl_event_source_timer_update(retry_timer_, 1); }

int KmsOutput::on_retry_timer(void* data) {
  static_cast<KmsOutput*>(data)->commit_queued();
  return 0;
}

// The display-CRC stand-in: read (never copy) what is on screen.
void KmsOutput::read_back(buffer::Buffer& b, Presented& p) {
  auto px = b.map(false);
  if (!px) {
    log::warn("verify: cannot map the shown buffer: {}", px.error().message());
    return;
  }
  b.begin_cpu_access(false);
  const buffer::ConstPixelView v{px->data(), b.width(), b.height(), b.stride(), b.format()};
  p.checksum = buffer::checksum(v);
  p.decoded_frame = buffer::decode_pattern(v);
  b.end_cpu_access(false);
}

// ------------------------------------------------------------ VT switches
void KmsOutput::pause() {
  log::info("kms: the seat is gone (VT switch): not touching the display until it comes back");
  paused_ = true;
}

void KmsOutput::resume() {
  log::info("kms: the seat is back: restoring the display");
  paused_ = false;
  needs_modeset_ = true;
  // Whatever another session did to the display, put our current frame
  // back with a full (blocking) modeset before going on.
  if (current_.valid && current_.fb) {
    int err = 0;
    if (atomic_) {
      AtomicRequest req(drm_);
      build_request(req, current_.fb->id(), true);
      if (auto r = req.commit(DRM_MODE_ATOMIC_ALLOW_MODESET, 0); !r) err = r.error().code;
    } else {
      const uint32_t conn = connector_id_;
      err = drm_.set_crtc(crtc_id_, current_.fb->id(), 0, 0, {&conn, 1}, &mode_);
    }
    if (err == 0) needs_modeset_ = false;
    else log::warn("kms: cannot restore the display: {}", std::strerror(err));
  }
  commit_queued();
}

std::vector<std::pair<std::string, uint64_t>> KmsOutput::counters() const {
  return {
      {"kms_commits", n_.commits},
      {"kms_page_flips", n_.flips},
      {"kms_test_only", n_.test_only},
      {"kms_test_only_rejected", n_.test_only_rejected},
      {"kms_ebusy", n_.ebusy},
      {"kms_commit_failures", n_.commit_failures},
      {"kms_frames_direct", n_.direct},
      {"kms_frames_copied", n_.copied},
      {"kms_frames_discarded", n_.discarded},
      {"kms_blanked", n_.blanked},
      {"kms_fbs_created", fb_counters_.created},
      {"kms_fbs_removed", fb_counters_.removed},
      {"kms_fbs_live", fb_counters_.created - fb_counters_.removed},
      {"kms_gem_handles_opened", fb_counters_.gem_handles_opened},
      {"kms_gem_handles_closed", fb_counters_.gem_handles_closed},
      {"kms_dumb_buffers", pool_.size()},
  };
}

}  // namespace

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, std::shared_ptr<kms::Device> device,
                                           const KmsConfig& config) {
  auto out = std::make_unique<KmsOutput>(loop, std::move(device), config);
  if (auto r = out->init(); !r) return r.error();
  return std::unique_ptr<Output>(std::move(out));
}

Result<std::unique_ptr<Output>> create_kms(wl_event_loop* loop, const KmsConfig& config) {
  auto dev = kms::Device::open(config.device, loop, config.atomic);
  if (!dev) return dev.error();
  return create_kms(loop, std::shared_ptr<kms::Device>(std::move(dev.value())), config);
}

}  // namespace zc::output
