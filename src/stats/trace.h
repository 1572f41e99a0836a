// Tracing one frame, for `zcpipe-demo --explain`: every fd syscall the
// interposer sees (which call, which descriptor, how many bytes) and every
// step zcpipe's own code marks with ZC_TRACE (source file, function, what it
// did), in time order, for a single frame window of the ledger.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace zc::stats {

bool tracing();
void trace_start();
// Stops and returns the events, consecutive identical calls on the same fd
// merged: [{"t_ns","kind":"syscall"|"step","call","fd","fd_name","count",
// "bytes","file","function","text"}].
nlohmann::json trace_stop();
void trace_step(const char* file, const char* function, std::string text, uint64_t bytes);

}  // namespace zc::stats

// Marks a step of the frame's journey (only recorded while tracing).
#define ZC_TRACE(text, bytes)                                                   \
  do {                                                                          \
    if (::zc::stats::tracing()) ::zc::stats::trace_step(__FILE__, __func__, (text), (bytes)); \
  } while (0)
