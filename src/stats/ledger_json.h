// The ledger as JSON: built once, at exit (zcpipe-client --stats,
// zcpipe-compositor --stats). Kept apart from stats/ledger.h so that the
// translation units on the per-frame path never see nlohmann/json.
// The keys are documented in docs/json.md and docs/zcpipe.schema.json; a unit
// test holds the three together.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "stats/ledger.h"

namespace zc::stats {

// {"total": T, "by_call": {"sendmsg": 2, ...}} (non-zero kinds only)
nlohmann::json to_json(const SyscallCounts& c);
// {"median", "p99", "max", "mean", "min", "n"}
nlohmann::json to_json(const Summary& s);
// One frame record, as the ledger that holds it names reasons and converts
// its timer ticks.
nlohmann::json to_json(const FrameLedger& ledger, const FrameRecord& r);
// {"process", "interposer", "interposer_exported", "unattributed_copies",
//  "unattributed_copy_bytes", "clock", "proc_io_per_frame", "window",
//  "totals", "frames": [records, oldest first]}.
// The open frame, if any, appears with end_ns 0 and zero counters.
nlohmann::json to_json(const FrameLedger& ledger);
// Every key a frame record can carry (the test checks the schema and the
// docs against it).
const std::vector<std::string>& record_keys();
// The traced frame's events (stats/trace.h), merged runs of calls.
nlohmann::json trace_events_json();

}  // namespace zc::stats
