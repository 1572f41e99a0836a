// Display modes: what a connector offers, and which one zcpipe drives.
//
// A mode (drmModeModeInfo, the kernel's struct used as is) is the timing of
// a display: visible size, blanking, pixel clock. The refresh rate is not
// stored, it follows from them: pixel clock / (htotal x vtotal).
#pragma once

#include <xf86drmMode.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace zc::output::kms {

struct ModeRequest {
  uint32_t width = 0, height = 0;
  std::optional<double> hz;
};
// "3840x2160" or "3840x2160@60" (or @59.94); nullopt if malformed.
std::optional<ModeRequest> parse_mode_request(const std::string& text);
// Refresh rate in mHz, from the pixel clock and the total (blanking
// included) size: 3840x2160@60 = 60000.
uint32_t refresh_mhz(const drmModeModeInfo& m);
std::string mode_name(const drmModeModeInfo& m);  // "3840x2160@60.00"
// The connector's preferred mode when `request` is empty, else the mode of
// that size (and refresh within 0.5 Hz), preferred first. Error text lists
// what the connector offers.
Result<drmModeModeInfo> pick_mode(const std::vector<drmModeModeInfo>& modes, const std::string& request,
                                  const std::string& connector_name);

}  // namespace zc::output::kms
