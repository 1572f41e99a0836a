// zcpipe-probe: what a user needs to know about a DRM device before running
// the zero-copy demo on it — and what each answer means for the pipeline.
//
//   zcpipe-probe                  every /dev/dri/card*
//   zcpipe-probe -D PATH          one node (repeatable; also --device)
//   zcpipe-probe --json           the same facts for programs
//
// Exit status: 0 when at least one device was probed, 1 when none could be.
#include <fmt/core.h>

#include <cstdio>
#include <string>
#include <vector>

#include "apps/cli_common.h"
#include "probe/probe.h"
#include "probe/report.h"

namespace {
constexpr const char* kProg = "zcpipe-probe";
}

int main(int argc, char** argv) {
  CLI::App app{"Show what a DRM device offers the zero-copy pipeline: driver, capabilities, connectors, "
               "CRTCs, planes, and whether GBM gives a writable, scanout-able 4K dma-buf."};
  zc::apps::setup(app, kProg);
  std::vector<std::string> devices;
  bool json = false;
  bool no_gbm = false;
  app.add_option("-D,--device", devices, "DRM node to probe (repeatable; default: every /dev/dri/card*)");
  // -d was this program's spelling before every zcpipe program took -D, as
  // kmscube and modetest do; kept (hidden) so old command lines still work.
  app.add_option("-d", devices, "")->group("");
  app.add_flag("--json", json, "Print JSON on stdout instead of text");
  app.add_flag("--no-gbm", no_gbm, "Skip the GBM allocation checks");
  if (int st = zc::apps::parse(app, argc, argv); st >= 0) return st;

  nlohmann::ordered_json out = {{"devices", nlohmann::ordered_json::array()}};
  if (devices.empty()) {
    auto found = zc::probe::find_card_nodes();
    if (!found) {
      const std::string msg = "no DRM device found (" + found.error().message() + ")";
      std::fprintf(stderr, "%s: %s — see docs/vm.md to use a virtual one\n", kProg, msg.c_str());
      if (json) {
        out["error"] = msg;
        std::puts(out.dump(2).c_str());
      }
      return 1;
    }
    devices = std::move(found.value());
  }

  zc::probe::Options options;
  options.gbm = !no_gbm;
  int probed = 0;
  bool first = true;
  for (const std::string& path : devices) {
    auto report = zc::probe::probe_device(path, options);
    if (!report) {
      std::fprintf(stderr, "%s: %s\n", kProg, report.error().message().c_str());
      out["devices"].push_back({{"path", path}, {"error", report.error().message()}});
      continue;
    }
    ++probed;
    if (json) {
      out["devices"].push_back(zc::probe::to_json(*report));
    } else {
      if (!first) std::fputs("\n", stdout);
      std::fputs(zc::probe::to_text(*report).c_str(), stdout);
      first = false;
    }
  }
  if (json) std::puts(out.dump(2).c_str());
  return probed > 0 ? 0 : 1;
}
