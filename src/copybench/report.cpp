// The table (terminal) and the Markdown report (--report).
#include <fmt/core.h>

#include <cmath>
#include <string>

#include "copybench/copybench.h"

namespace zc::copybench {
using nlohmann::json;

namespace {

uint64_t u(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<uint64_t>() : 0; }
double d(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0; }

std::string mib(uint64_t bytes) {
  if (bytes == 0) return "0";
  return fmt::format("{:.1f}Mi", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string ms(double us) { return fmt::format("{:.2f}", us / 1000.0); }

// "CPU/all" copies per byte as the article counts them (all = CPU + DMA).
std::string article_copies(const json& a) {
  const json& pc = a["per_call"];
  const std::string cpu = pc["cpu_copies"].is_null() ? "?" : std::to_string(pc["cpu_copies"].get<int>());
  const std::string all = pc["copies"].is_null() ? "?" : std::to_string(pc["copies"].get<int>());
  std::string s = cpu + "/" + all;
  if (a.contains("with_sg_dma")) s += " SG 0/2";
  return s;
}

// The model's "sender + receiver" CPU copies per byte (no DMA on AF_UNIX).
std::string model_copies(const json& m) {
  return fmt::format("{}+{}", m["sender_cpu_copies"].get<int>(), m["receiver_cpu_copies"].get<int>());
}

// The article's mode switches per call, and times the number of chunks.
std::string article_switches(const json& a, bool with_call = true) {
  const json& per = a["per_call"]["mode_switches"];
  const json& v = a["scaled"]["mode_switches"];
  if (v.is_null()) return "-";
  if (!with_call) return std::to_string(v.get<uint64_t>());
  return fmt::format("{}x{}={}", per.get<uint64_t>(), a["scaled"]["calls"].get<uint64_t>(), v.get<uint64_t>());
}

std::string probe_word(const json& t) {
  const json& p = t["probe"];
  if (p.is_null()) return "-";
  return p["shared"].get<bool>() ? "shared" : "copied";
}

std::string by_call(const json& syscalls) {
  std::string s;
  for (const auto& [name, n] : syscalls["by_call"].items()) {
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", name, n.get<uint64_t>());
  }
  return s.empty() ? "none" : s;
}

std::string headline(const json& doc) {
  const uint64_t bytes = u(doc, "bytes");
  const std::string what = bytes == 3840ull * 2160 * 4 ? " (one 3840x2160 XRGB8888 frame)" : "";
  return fmt::format(
      "{} bytes{} from a page-cache-warm file into an AF_UNIX stream socket, {}-byte chunks = {} per transfer; "
      "medians of {} transfers.\nSender = the benchmark's sending thread (its process runs nothing else); receiver = a "
      "child process read()ing into a frame-sized buffer. Kernel {}, {} CPUs; SO_SNDBUF {}.",
      bytes, what, u(doc, "chunk"), u(doc, "chunks"), u(doc, "repeats"), doc["host"].value("kernel", "?"),
      doc["host"].value("cpus", 0), doc["socket"].value("sndbuf", 0));
}

constexpr const char* kLegend =
    "mode switches = entering + leaving the kernel, 2 per syscall: what the articles call \"context switches\" (article:\n"
    "  per call x chunks). sched cs = the scheduler giving the CPU to another thread (getrusage RUSAGE_THREAD of the sending\n"
    "  thread: voluntary = it blocked on a full socket buffer, involuntary = preempted); not one per call.\n"
    "CPU copies per byte: article = CPU/all copies in its disk + TCP + NIC world (SG = with scatter-gather DMA); model =\n"
    "  sender + receiver CPU copies on AF_UNIX (no disk DMA: the file is cached; no NIC: the receiver's read() copies).\n"
    "  probe = a page changed after sending reached the receiver (\"shared\": the socket held the source's page, 0 copies\n"
    "  into the socket) or not (\"copied\").\n"
    "/proc/self/io counts BYTES handed to read/write-family calls, not copies: sendfile counts as both, splice as neither.\n"
    "Time: e2e = until the receiver has the last byte and the sender is back; cpu = user+system CPU of that side. Zero-copy\n"
    "  sending saves the sender's CPU, but the wall time is paced by the receiver's copy and the socket buffer's\n"
    "  sleep/wake cycles, and on a shared machine it is noisy: compare the counts, read the times as indications.\n";

}  // namespace

std::string format_table(const json& doc) {
  std::string out = "zcpipe-copybench: " + headline(doc) + "\n\n";
  constexpr auto kRow =
      "{:<10} {:>6} {:>6}  {:>14} {:>6} {:>6}  {:>8}  {:>10} {:>7} {:>6}  {:>7} {:>7} {:>9}  {:>6} {:>6} {:>6}  {:>5} {:>4} {:>6}\n";
  out += fmt::format("{:<10} {:^13}  {:^28}  {:>8}  {:^25}  {:^25}  {:^20}  {:^17}\n", "", "syscalls", "mode switches",
                     "sched cs", "CPU copies per byte", "sender /proc/self/io", "ms per transfer", "receiver");
  out += fmt::format(kRow, "technique", "model", "meas.", "article/call*k", "model", "meas.", "vol+inv", "article",
                     "model", "probe", "rchar", "wchar", "syscr/w", "sender", "e2e", "cpu", "reads", "cs", "cpu");
  const size_t width = fmt::formatted_size(kRow, "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "") - 1;
  out += std::string(width, '-') + "\n";
  for (const json& t : doc["techniques"]) {
    const json& m = t["model"];
    const json& s = t["measured"]["sender"];
    const json& r = t["measured"]["receiver"];
    out += fmt::format(kRow, t["name"].get<std::string>(), m["syscalls"]["total"].get<uint64_t>(),
                       s["syscalls"]["total"].get<uint64_t>(), article_switches(t["article"]), u(m, "mode_switches"),
                       u(s, "mode_switches"), fmt::format("{}+{}", u(s, "voluntary_cs"), u(s, "involuntary_cs")),
                       article_copies(t["article"]), model_copies(m), probe_word(t), mib(u(s, "rchar")),
                       mib(u(s, "wchar")), fmt::format("{}/{}", u(s, "syscr"), u(s, "syscw")), ms(d(s, "time_us")),
                       ms(d(t["measured"], "end_to_end_us")), ms(static_cast<double>(u(s, "cpu_us"))),
                       r["syscalls"]["by_call"].value("read", uint64_t{0}), u(r, "context_switches"),
                       ms(static_cast<double>(u(r, "cpu_us"))));
    out += "  -> " + t["notes"].get<std::string>() + "\n";
  }
  out += "\n";
  out += kLegend;
  bool all_ok = true;
  for (const json& t : doc["techniques"])
    for (const auto& [name, v] : t["checks"].items())
      if (v.is_boolean() && !v.get<bool>()) all_ok = false;
  out += all_ok ? "Checks: every count agrees with the model.\n"
                : "Checks: some counts differ from the model (see the notes above and \"checks\" in --json).\n";
  if (!doc["interposer"].value("linked", false))
    out += "WARNING: built without the syscall interposer: read/write counts are zero.\n";
  return out;
}

std::string format_report(const json& doc) {
  std::string out = "# zcpipe-copybench: moving a frame's bytes from a file into a socket\n\n";
  out += headline(doc) + "\n\n";
  out += fmt::format("CPU: {}. Pipe capacity for splice/vmsplice: {} bytes. Syscalls counted by the interposer "
                     "(linked: {}, exported: {}) plus copybench's own counters for sendfile/splice/vmsplice.\n\n",
                     doc["host"].value("cpu", "?"), u(doc, "pipe_capacity"), doc["interposer"].value("linked", false),
                     doc["interposer"].value("exported", false));
  const std::string k = std::to_string(u(doc, "chunks"));
  out += "| technique | syscalls model | syscalls measured | mode switches: article per call x " + k +
         " | model | measured | sched cs (vol+inv) | CPU copies per byte: article (CPU/all) | model (sender+receiver) | probe | rchar | wchar | syscr/syscw | sender ms | end-to-end ms | sender CPU ms | receiver reads | receiver cs | receiver CPU ms |\n";
  out += "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const json& t : doc["techniques"]) {
    const json& m = t["model"];
    const json& s = t["measured"]["sender"];
    const json& r = t["measured"]["receiver"];
    out += fmt::format("| {} | {} | {} ({}) | {} | {} | {} | {}+{} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |\n",
                       t["name"].get<std::string>(), m["syscalls"]["total"].get<uint64_t>(),
                       s["syscalls"]["total"].get<uint64_t>(), by_call(s["syscalls"]), article_switches(t["article"]),
                       u(m, "mode_switches"), u(s, "mode_switches"), u(s, "voluntary_cs"), u(s, "involuntary_cs"),
                       article_copies(t["article"]), model_copies(m), probe_word(t), u(s, "rchar"),
                       u(s, "wchar"), u(s, "syscr"), u(s, "syscw"), ms(d(s, "time_us")),
                       ms(d(t["measured"], "end_to_end_us")), ms(static_cast<double>(u(s, "cpu_us"))),
                       r["syscalls"]["by_call"].value("read", uint64_t{0}), u(r, "context_switches"),
                       ms(static_cast<double>(u(r, "cpu_us"))));
  }
  out += "\n";
  for (const json& t : doc["techniques"]) {
    const json& a = t["article"];
    const json& m = t["model"];
    const json& s = t["measured"]["sender"];
    const json& r = t["measured"]["receiver"];
    out += fmt::format("## {}\n\n{}.\n\n", t["name"].get<std::string>(), t["summary"].get<std::string>());
    const json& pc = a["per_call"];
    auto opt = [](const json& v) { return v.is_null() ? std::string("not stated") : v.dump(); };
    out += fmt::format("- **Article** (one call on a small file, disk + TCP + NIC): {}: {} mode switches, {} copies "
                       "({} DMA, {} CPU){}. Scaled to {} chunks: {} mode switches, {} CPU copy operations.\n",
                       pc["calls"].get<std::string>(), opt(pc["mode_switches"]), opt(pc["copies"]), opt(pc["dma_copies"]),
                       opt(pc["cpu_copies"]),
                       a.contains("with_sg_dma") ? "; with scatter-gather DMA 2 switches, 2 copies (0 CPU)"
                                                 : (a.contains("claim") ? "; " + a["claim"].get<std::string>() : ""),
                       k, article_switches(a, false), a["scaled"]["cpu_copy_calls"].get<uint64_t>());
    const int sc = m["sender_cpu_copies"].get<int>();
    out += fmt::format("- **Model** (AF_UNIX, this kernel): {} = {} syscalls, {} mode switches; the sender's CPU copies "
                       "each byte {} time{} ({}), the receiver's read() once; /proc/self/io rchar {} wchar {} syscr {} "
                       "syscw {}.\n",
                       by_call(m["syscalls"]), m["syscalls"]["total"].get<uint64_t>(), u(m, "mode_switches"),
                       sc, sc == 1 ? "" : "s", m["copies_why"].get<std::string>(), u(m["io"], "rchar"),
                       u(m["io"], "wchar"), u(m["io"], "syscr"), u(m["io"], "syscw"));
    out += fmt::format("- **Measured, sender** (median per transfer): {} = {} syscalls, {} mode switches, {} scheduler "
                       "context switches ({} voluntary, {} involuntary), {} minor faults, rchar {} wchar {} syscr {} "
                       "syscw {}, {} ms wall, {} ms CPU.\n",
                       by_call(s["syscalls"]), s["syscalls"]["total"].get<uint64_t>(), u(s, "mode_switches"),
                       u(s, "context_switches"), u(s, "voluntary_cs"), u(s, "involuntary_cs"), u(s, "minor_faults"),
                       u(s, "rchar"), u(s, "wchar"), u(s, "syscr"), u(s, "syscw"), ms(d(s, "time_us")),
                       ms(static_cast<double>(u(s, "cpu_us"))));
    out += fmt::format("- **Measured, receiver** (child process): {} = {} syscalls, {} scheduler context switches, rchar {}, "
                       "{} ms CPU; end to end {} ms.\n",
                       by_call(r["syscalls"]), r["syscalls"]["total"].get<uint64_t>(), u(r, "context_switches"),
                       u(r, "rchar"), ms(static_cast<double>(u(r, "cpu_us"))), ms(d(t["measured"], "end_to_end_us")));
    if (!t["probe"].is_null())
      out += fmt::format("- **Probe**: {}.\n", t["probe"]["verdict"].get<std::string>());
    out += fmt::format("- **Where they differ**: {}\n\n", t["notes"].get<std::string>());
  }
  out += R"md(## Reading these numbers

**Mode switch vs context switch.** A syscall enters the kernel and returns: two user<->kernel mode switches,
same thread, no scheduling. A scheduler context switch gives the CPU to another thread; a sender does it only
when the socket's send buffer is full (voluntary) or when it is preempted (involuntary). The articles' "4 context
switches per read()+write()" are mode switches; per 4K frame in 64 KiB chunks they multiply by the number of
chunks, while scheduler switches follow the socket buffer (how often it fills up), not the number of calls.

**Why AF_UNIX is not the article's TCP + NIC.** The articles' copies are DMA disk -> page cache, CPU page cache ->
user buffer, CPU user buffer -> socket buffer, DMA socket buffer -> NIC. Here the file is already in the page
cache (no disk DMA) and an AF_UNIX socket has no NIC: sending appends an skb to the peer's receive queue, and the
peer's read() copies out of it with the CPU. So every technique ends with one CPU copy on the receiving side, and
the article's best case (sendfile with scatter-gather DMA: 0 CPU copies) becomes "0 CPU copies on the sending
side, 1 on the receiving side". An skb can hold references to pages instead of bytes, and the kernel gives
sendfile's and splice's pages to the socket that way (MSG_SPLICE_PAGES), which the probe checks: a page changed
after sending reaches the receiver. A TCP socket on a NIC without scatter-gather would have to copy them into a
linear buffer (the article's 1 CPU copy); with scatter-gather the NIC's DMA reads the page-cache pages directly.

**What the counters count.** Syscalls: the interposer (read, write, lseek, mmap, ...) plus copybench's own
counters around its sendfile/splice/vmsplice calls, per thread; `strace -f -c` is the independent cross-check.
/proc/self/io: bytes handed to read/write-family calls (sendfile counts as both read and written, splice as
neither), per process, not copies. Copies: modelled, and checked by the probe.
)md";
  return out;
}

}  // namespace zc::copybench
