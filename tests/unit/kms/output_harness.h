// The KMS output on the fake device, with a real wl_event_loop delivering
// its page-flip events (and its fence watches): what the output tests share.
#pragma once

#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <wayland-server-core.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fake_drm.h"
#include "output/kms/device.h"
#include "output/kms/kms_output.h"
#include "output/output.h"

namespace zc::test {

struct Harness {
  // `config`: changes to the output's configuration (e.g. the fence exporter).
  explicit Harness(bool atomic = true, bool verify = false, std::function<void(FakeDrm&)> setup = {},
                   std::function<void(output::KmsConfig&)> config = {}) {
    loop = wl_event_loop_create();
    auto f = std::make_unique<FakeDrm>();
    fake = f.get();
    if (setup) setup(*fake);
    device = std::shared_ptr<output::kms::Device>(
        output::kms::Device::adopt(std::move(f), "/dev/dri/fake0", makedev(226, 0), atomic));
    output::KmsConfig cfg;
    cfg.atomic = atomic;
    cfg.verify = verify;
    if (config) config(cfg);
    auto o = output::create_kms(loop, device, cfg);
    if (!o) {
      error = o.error().message();
      return;
    }
    out = std::move(o.value());
    out->set_callbacks(output::Callbacks{
        [this](uint64_t tag, const output::Presented& p) {
          events.push_back("presented " + std::to_string(tag));
          presented[tag] = p;
        },
        [this](uint64_t tag) { events.push_back("discarded " + std::to_string(tag)); },
        [this](uint64_t tag) { events.push_back("released " + std::to_string(tag)); },
        [this](uint64_t) { vblanks++; },
        [this](uint64_t tag, uint64_t bytes, const char* where) {
          events.push_back("copied " + std::to_string(tag));
          copies.push_back({tag, bytes, where});
        },
    });
  }
  ~Harness() {
    if (out && fake != nullptr) fake->complete_flips();  // let the last flip land
    out.reset();
    // Whatever the test did, the output never sent the kernel a request its
    // atomic rules refuse (the fake checks them: fake_drm.h).
    if (fake != nullptr) {
      EXPECT_EQ(fake->rule_violations, 0);
      for (const auto& v : fake->violated) ADD_FAILURE() << "atomic rule broken: " << v;
    }
    device.reset();
    wl_event_loop_destroy(loop);
  }
  // Runs whatever the event loop has ready (flip events, idle callbacks).
  void dispatch(int timeout_ms = 0) {
    wl_event_loop_dispatch(loop, timeout_ms);
    wl_event_loop_dispatch_idle(loop);
  }
  // The display takes the frame in flight; the output hears of it.
  void flip(uint32_t seq = 0, uint64_t t = 1'000'000'000ull) {
    fake->complete_flips(seq, t);
    dispatch();
  }
  uint64_t counter(const std::string& name) const {
    for (const auto& [k, v] : out->counters())
      if (k == name) return v;
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  struct Copy {
    uint64_t tag, bytes;
    std::string where;
  };
  wl_event_loop* loop = nullptr;
  FakeDrm* fake = nullptr;
  std::shared_ptr<output::kms::Device> device;
  std::unique_ptr<output::Output> out;
  std::string error;
  std::vector<std::string> events;
  std::map<uint64_t, output::Presented> presented;
  std::vector<Copy> copies;
  int vblanks = 0;
};

}  // namespace zc::test
