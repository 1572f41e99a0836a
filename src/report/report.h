// The report a person opens in a browser: one self-contained HTML file
// (inline CSS and SVG, no scripts, no network) drawn from a run's JSON.
//
// Every number shown carries its JSON path and raw value as attributes
// (data-json, data-value), so tests can check the picture against the data.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/result.h"

namespace zc::report {

// `doc` is the document zcpipe-demo writes with --json (docs/json.md).
std::string render_html(const nlohmann::json& doc);

// Writes DIR/report.html and DIR/run.json (creating DIR).
Result<std::string> write_report(const std::string& dir, const nlohmann::json& doc);

}  // namespace zc::report
