// Tracing one frame, for `zcpipe-demo --explain`: every fd syscall the
// interposer sees (which call, which descriptor, how many bytes) and every
// step zcpipe's own code marks with ZC_TRACE (source file, function, what it
// did), in time order, for a single frame window of the ledger.
#pragma once

#include <cstdint>
#include <string>

namespace zc::stats {

bool tracing();
void trace_start();
// Stops recording; the events are kept for trace_events_json()
// (stats/ledger_json.h), written once at exit.
void trace_stop();
void trace_step(const char* file, const char* function, std::string text, uint64_t bytes);

}  // namespace zc::stats

// Marks a step of the frame's journey (only recorded while tracing).
#define ZC_TRACE(text, bytes)                                                   \
  do {                                                                          \
    if (::zc::stats::tracing()) ::zc::stats::trace_step(__FILE__, __func__, (text), (bytes)); \
  } while (0)
