// zcpipe-copybench: the classic file-to-socket techniques of the zero-copy
// articles (read+write, mmap+write, sendfile, splice, vmsplice), each moving
// one 4K frame's worth of bytes into an AF_UNIX stream socket on this
// machine, counted and timed, next to the article's claims and to a model of
// what the running kernel does for an AF_UNIX socket.
//
// Who is measured:
//  - THE SENDER is the benchmark's main thread, in the main process. Its
//    syscalls (interposer + copybench's own sendfile/splice/vmsplice
//    counters), scheduler context switches (getrusage(RUSAGE_THREAD)) and
//    /proc/self/io deltas describe exactly the sending of one transfer:
//    nothing else runs in that process while it sends.
//  - THE RECEIVER is a child process (forked before any measurement) that
//    read()s each transfer into a frame-sized buffer. Its figures are
//    measured the same way, in its own process, and reported separately. A
//    process rather than a thread keeps the sender's /proc/self/io clean:
//    those counters are per process, and a receiving thread's read() calls
//    would be mixed into the sender's rchar/syscr.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "copybench/techniques.h"

namespace zc::copybench {

struct Options {
  uint64_t bytes = 3840ull * 2160ull * 4ull;  // one 4K XRGB8888 frame: 33,177,600 bytes
  size_t chunk = 65536;                       // bytes per call, as in the articles' 64 KB
  unsigned repeats = 5;                       // measured transfers per technique (+1 warm-up)
  std::vector<Technique> techniques{kAllTechniques.begin(), kAllTechniques.end()};
  std::string dir;     // where the source file is created (unlinked at once); "" = $TMPDIR or /tmp
  bool verify = true;  // the receiver compares every transfer with the file (outside the windows)
  bool probe = true;   // run the aliasing probe (alias_probe in techniques.h)
};

// ceil(bytes / chunk)
constexpr uint64_t chunks_for(uint64_t bytes, uint64_t chunk) { return (bytes + chunk - 1) / chunk; }

// The whole run as one JSON document:
// {"tool","bytes","chunk","chunks","repeats","host":{...},"interposer":{...},
//  "socket":{"sndbuf","rcvbuf"},"pipe_capacity","source":{...},
//  "techniques":[{"name","summary","model":{...},"article":{...},
//                 "measured":{"sender":{...},"receiver":{...},"end_to_end_us","runs":[...]},
//                 "probe":{...},"checks":{...},"notes"}]}
// Field by field: see model.cpp (model, article) and bench.cpp (measured).
Result<nlohmann::json> run(const Options& o);

// The model of one transfer of `bytes` in `chunk`-byte calls, for an AF_UNIX
// stream socket on this kernel (splice/vmsplice: through a pipe that holds a
// whole chunk, which run() arranges with F_SETPIPE_SZ).
nlohmann::json model_for(Technique t, uint64_t bytes, uint64_t chunk);
// The article's claim per call, and scaled to ceil(bytes / chunk) calls.
nlohmann::json article_for(Technique t, uint64_t chunks);
// Compares model and measurement: {"syscalls": bool, "io": bool, "copies": bool, ...}
// and the one-sentence note of where they differ and why.
void check_and_explain(nlohmann::json& technique);

// The table for a terminal (one row per technique, one sentence under each).
std::string format_table(const nlohmann::json& doc);
// The same as a Markdown report with the explanations spelled out.
std::string format_report(const nlohmann::json& doc);

}  // namespace zc::copybench
