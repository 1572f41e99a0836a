// The hop experiment (zcpipe-demo --hops N, docs/hops.md): N compositors
// chained by nested outputs, the client on the last one, the display behind
// the first. What each hop costs, beside the articles' model of four hops.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/result.h"
#include "demo/pipeline.h"

namespace zc::demo {

constexpr uint32_t kMaxHops = 4;

// Runs one transport through options.hops compositors: hop 1 is the one the
// client talks to (run_pipeline's), hop N shows the frame (--output). The
// run record gains "hops", "per_hop" (client first, then hop 1..N) and the
// checks of every hop.
Result<nlohmann::json> run_hops(const RunOptions& options);

// What each hop cost (a table), for one run record of run_hops.
std::string format_hops(const nlohmann::json& run);

// Per transport: the articles' four-hop figures (1140 switches per hop at 24
// bits) beside this run's, one sentence per row where they differ.
nlohmann::json hops_model_vs_measured(const nlohmann::json& runs);
std::string format_hops_model(const nlohmann::json& model);

}  // namespace zc::demo
