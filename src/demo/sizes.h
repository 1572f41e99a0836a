// Cost against frame size (zcpipe-demo --sizes): the point of the whole
// project in one picture. Each transport is run at each size, and what a
// frame costs is recorded per size: a buffer passed by handle costs the same
// at 720p as at 8K, a copy costs in proportion to the bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "demo/pipeline.h"

namespace zc::demo {

// "1280x720,1920x1080" -> {{1280,720},{1920,1080}}; an error names the bad item.
Result<std::vector<std::pair<uint32_t, uint32_t>>> parse_sizes(const std::string& list);

// Runs dmabuf, shm and socket at every size, with `base`'s allocator, chunk,
// format, bin_dir and interrupt, but headless, unpaced, without drawing and
// without --verify (see sizes.cpp for why), a few frames each. Returns
// doc["sizes"] (docs/json.md, SIZES).
Result<nlohmann::json> run_sizes(const RunOptions& base, const std::vector<std::pair<uint32_t, uint32_t>>& sizes);

// The same as a table for the terminal.
std::string format_sizes(const nlohmann::json& sizes);

}  // namespace zc::demo
