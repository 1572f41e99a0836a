// zcpipe-copybench as a section of zcpipe-demo's report: the classic
// file -> socket techniques (read+write, mmap+write, sendfile, splice,
// vmsplice) measured on this machine, next to the frame's journey.
#pragma once

#include <signal.h>

#include <nlohmann/json.hpp>

#include <string>

#include "common/result.h"

namespace zc::demo {

// Runs zcpipe-copybench (found next to zcpipe-demo, or in the build tree's
// src/copybench/) with --repeats `repeats` and returns its --json document.
Result<nlohmann::json> run_copybench(const std::string& bin_dir, unsigned repeats, int timeout_s,
                                     const volatile sig_atomic_t* interrupt);

}  // namespace zc::demo
