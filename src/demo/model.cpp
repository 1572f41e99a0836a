// The theory next to the measurement.
//
// The classic zero-copy articles (cited in docs/articles.md) count, for a
// frame pushed through a UNIX socket in transfers of at most C bytes:
// ceil(B / C) transfers, each a write() on one side and a read() on the
// other. Their graphics example is a 4K frame at 24 bits per pixel:
// 3840 x 2160 x 3 = 24883200 B, ceil(B / 65536) = 380 transfers, and "at least
// 1140 context switches" (3 per transfer). zcpipe's default frame is XRGB8888,
// 32 bits per pixel: 33177600 B, 507 transfers; `--format RGB888` makes the
// frame the articles' one. zcpipe prints that model beside what its ledger
// measured in the same run, and says where and why they differ.
#include <fmt/core.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "demo/pipeline.h"
#include "stats/format.h"
#include "transport/socket_frame.h"

namespace zc::demo {
using nlohmann::json;
using stats::format_count;
using stats::format_ratio;

namespace {
double median(const json& run, const char* key) {
  const json& pf = run["per_frame"];
  return pf.contains(key) ? pf[key]["median"].get<double>() : 0.0;
}
}  // namespace

json model_vs_measured(const json& run) {
  const uint64_t bytes = run.value("frame_bytes", uint64_t{0});
  const uint64_t chunk = run.value("chunk", uint64_t{65536});
  const uint64_t chunks = transport::chunks_for(bytes, chunk);
  const double writes = median(run, "client_write_calls");
  const double reads = median(run, "compositor_read_calls");
  const double epolls = median(run, "compositor_epoll_wait_calls");
  const double switches = median(run, "total_mode_switches");
  const double sched = median(run, "total_context_switches");
  const double copies = median(run, "cpu_copies");
  // The articles' own example, computed from the numbers they state, so the
  // report can say why this run's frame needs a different count.
  constexpr uint64_t kArticleW = 3840, kArticleH = 2160, kArticleBpp = 3;
  const uint64_t article_bytes = kArticleW * kArticleH * kArticleBpp;
  const uint64_t article_transfers = transport::chunks_for(article_bytes, chunk);
  const uint64_t pixels = run.value("width", uint64_t{0}) * run.value("height", uint64_t{0});
  const json articles = {{"width", kArticleW},
                         {"height", kArticleH},
                         {"bytes_per_pixel", kArticleBpp},
                         {"frame_bytes", article_bytes},
                         {"transfers", article_transfers},
                         {"context_switches", 3 * article_transfers},
                         {"mode_switches", 4 * article_transfers}};
  json rows = json::array();
  auto row = [&](std::string quantity, double model, double measured, std::string why) {
    rows.push_back({{"quantity", std::move(quantity)}, {"model", model}, {"measured", measured}, {"why", std::move(why)}});
  };
  row(fmt::format("transfers per frame: ceil({} B / {} B)", format_count(static_cast<double>(bytes)), format_count(static_cast<double>(chunk))), static_cast<double>(chunks), writes - 1,
      "Equal by construction: the client writes exactly chunk-sized pieces (the header is one extra write, not counted here).");
  row("write() calls by the client", static_cast<double>(chunks), writes,
      "One more than the model: the 40-byte frame header travels in its own write().");
  row("read() calls by the compositor", static_cast<double>(chunks), reads,
      reads > static_cast<double>(chunks) + 1
          ? "More than the model: a non-blocking reader also gets partial chunks and EAGAIN when the socket runs dry, plus one read for the header."
          : "About the model: the reader found a full chunk waiting almost every time (plus one read for the header).");
  row("user<->kernel mode switches (2 per syscall, both processes)", 2.0 * 2.0 * static_cast<double>(chunks), switches,
      fmt::format("Above the model: besides write() and read() the processes also wait in epoll_wait/poll ({:.0f} per frame here) and speak Wayland (sendmsg/recvmsg).", epolls));
  row("mode switches of write() + read() alone (4 per transfer)", 4.0 * static_cast<double>(chunks), 2.0 * (writes + reads),
      "The articles say 3: zcpipe counts each syscall's way in and out, write() 2 and read() 2; their 3 reads as one "
      "hand-off (sender in, kernel to receiver, receiver out) without the sender's return. Measured adds the extra read()s above.");
  row("context switches (articles: 3 per transfer, 1140 for 380 transfers)", 3.0 * static_cast<double>(chunks), sched,
      "Far below: the articles count mode switches as context switches; the scheduler switches only when a writer "
      "finds the socket buffer full or a reader finds it empty (the buffer holds ~200 KB, several chunks).");
  row("CPU copies of the frame", 3.0, copies,
      "Equal: write() copies into the socket buffer, read() copies out of it, and the compositor copies the staging buffer into the one the display scans out.");
  return json{{"transport", "socket"},
              {"frame_bytes", bytes},
              {"bytes_per_pixel", pixels > 0 ? static_cast<double>(bytes) / static_cast<double>(pixels) : 0.0},
              {"chunk", chunk},
              {"chunks_per_frame", chunks},
              {"articles", articles},
              {"rows", rows}};
}

void label_runs(json& runs) {
  bool renderers_differ = false;
  std::set<std::string> transports;
  for (const auto& r : runs) {
    transports.insert(r["transport"].get<std::string>());
    renderers_differ = renderers_differ || r.value("renderer", "") != runs[0].value("renderer", "");
  }
  renderers_differ = renderers_differ || transports.size() < runs.size();
  // Unique even where two requests ran the same renderer (cpu,auto on a
  // host where auto is cpu): the second "dmabuf cpu" is "dmabuf cpu 2".
  std::map<std::string, int> seen;
  for (auto& r : runs) {
    const std::string t = r["transport"].get<std::string>();
    const std::string label = renderers_differ ? t + " " + r.value("renderer", "?") : t;
    const int n = ++seen[label];
    r["label"] = n == 1 ? label : fmt::format("{} {}", label, n);
  }
}

std::string format_comparison(const json& runs, const json& model) {
  std::string out;
  // The first dmabuf run is the baseline; columns carry the runs' labels
  // (label_runs: "dmabuf cpu" and "dmabuf gl" for --renderer cpu,gl).
  const json* base = nullptr;
  for (const auto& r : runs)
    if (base == nullptr && r["transport"] == "dmabuf") base = &r;
  auto title = [](const json& r) { return r.value("label", r["transport"].get<std::string>()); };
  struct Row {
    const char* label;
    const char* key;   // a per_frame figure, or "fps"
    const char* stat;  // which statistic of it
  };
  // CPU time is heavy-tailed: its mean (total / frames) and p99 stand beside
  // the median; the ledger's own cost has rows of its own.
  const Row rows[] = {{"CPU copies / frame", "cpu_copies", "median"},
                      {"bytes copied by the CPU / frame", "cpu_copy_bytes", "median"},
                      {"syscalls / frame", "total_syscalls", "median"},
                      {"user<->kernel mode switches / frame", "total_mode_switches", "median"},
                      {"scheduler context switches / frame", "total_context_switches", "median"},
                      {"minor page faults / frame", "total_minor_faults", "median"},
                      {"CPU time / frame (us), mean", "total_cpu_us", "mean"},
                      {"CPU time / frame (us), median", "total_cpu_us", "median"},
                      {"CPU time / frame (us), p99", "total_cpu_us", "p99"},
                      // The renderer's share: the client's pacing thread (what
                      // the ledger charges a frame), the client's whole process
                      // (a GL driver works in threads of its own), and the
                      // pixel bytes its CPU touched (0 when the GPU drew).
                      {"client CPU / frame (us), main thread", "client_cpu_us", "median"},
                      {"client CPU / frame (us), all threads", "client_process_cpu_us", "median"},
                      {"client CPU bytes touched / frame", "client_cpu_touched_bytes", "median"},
                      {"ledger's own syscalls / frame", "total_measure_syscalls", "median"},
                      {"ledger's own CPU / frame (us), mean", "total_measure_us", "mean"},
                      {"latency commit -> screen (us)", "latency_us", "median"},
                      {"latency rendered -> screen (us)", "ready_latency_us", "median"},
                      {"frames per second", "fps", ""}};
  auto value = [](const json& r, const Row& row) {
    const std::string key = row.key;
    if (key == "fps") return r.value("fps", 0.0);
    return r["per_frame"].contains(key) ? r["per_frame"][key][row.stat].get<double>() : 0.0;
  };
  constexpr int kLabel = 38, kCell = 30;
  const std::string base_title = base != nullptr ? title(*base) : "dmabuf";
  out += fmt::format("\nside by side (per frame, client + compositor unless marked, medians unless marked; x = ratio to {})\n",
                     base_title);
  out += fmt::format("  {:<{}}", "", kLabel);
  for (const auto& r : runs) out += fmt::format(" {:>{}}", title(r), kCell);
  out += "\n";
  for (const Row& row : rows) {
    out += fmt::format("  {:<{}}", row.label, kLabel);
    for (const auto& r : runs) {
      const double v = value(r, row);
      std::string cell = format_count(v);
      if (base != nullptr && &r != base) cell += " " + format_ratio(v, value(*base, row), base_title);
      out += fmt::format(" {:>{}}", cell, kCell);
    }
    out += "\n";
  }
  bool proof = false;
  for (const auto& r : runs) proof = proof || r.contains("overwrite_proof");
  if (proof) {
    out += fmt::format("  {:<{}}", "overwrite proof: marker on screen", kLabel);
    for (const auto& r : runs)
      out += fmt::format(" {:>{}}", r.contains("overwrite_proof") ? format_overwrite_cell(r["overwrite_proof"]) : "-", kCell);
    out += "\n";
  }
  if (!model.is_null() && model.contains("rows")) {
    out += fmt::format("\nthe articles' model vs this run (socket, {} B frame, {} B chunks = {} transfers)\n",
                       format_count(model["frame_bytes"].get<double>()), format_count(model["chunk"].get<double>()),
                       format_count(model["chunks_per_frame"].get<double>()));
    out += fmt::format("  {:<66} {:>9} {:>9}\n", "", "model", "measured");
    for (const auto& r : model["rows"]) {
      out += fmt::format("  {:<66} {:>9} {:>9}\n", r["quantity"].get<std::string>(), format_count(r["model"].get<double>()),
                         format_count(r["measured"].get<double>()));
      out += fmt::format("      {}\n", r["why"].get<std::string>());
    }
  }
  return out;
}

}  // namespace zc::demo
