// Turning a DeviceReport into words (for people) or JSON (for programs).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "probe/probe.h"

namespace zc::probe {

// The report as a teaching text: every answer with what it means for the
// zero-copy pipeline.
std::string to_text(const DeviceReport& report);

// Stable field names for scripts and tests (tests/vm/check_probe_caps.py).
nlohmann::ordered_json to_json(const DeviceReport& report);

}  // namespace zc::probe
