// The article's claims, copybench's model for an AF_UNIX socket, and where
// they part.
//
// THE ARTICLE'S WORLD: a small file read from DISK and sent over TCP to a
// NETWORK CARD. Its "copies" are of each byte: DMA disk -> page cache, then
// (read+write) CPU page cache -> user buffer, CPU user buffer -> socket
// buffer, DMA socket buffer -> NIC = 4 copies, 2 by the CPU. Its "context
// switches" are user<->kernel MODE switches, two per syscall. sendfile saves
// the user buffer (3 copies, 1 by the CPU); with a NIC that can gather a
// packet from scattered pages (scatter-gather DMA) the socket keeps only
// references to the page-cache pages and the NIC reads them directly (2
// copies, both DMA, 0 by the CPU).
//
// THIS MACHINE'S WORLD: the file is already in the page cache (written just
// before: no disk DMA) and the socket is AF_UNIX: both ends are processes on
// the same CPUs, there is no NIC, no DMA, no checksum. "Sending" appends an
// skb to the PEER's receive queue. Two consequences:
//  1. The last hop is the receiving process's read(), a CPU copy out of the
//     skb into its memory. The article's final DMA becomes CPU work.
//  2. An skb can hold page references (frags) instead of bytes. sendfile and
//     splice give the socket page references (MSG_SPLICE_PAGES since Linux
//     6.5, ->sendpage before; AF_UNIX supports it since 4.2), so on AF_UNIX
//     they already behave like the article's scatter-gather case: 0 CPU
//     copies on the sending side, and the receiver's read() copies straight
//     out of the page-cache page. A TCP socket on a NIC WITHOUT scatter-gather
//     (or an old kernel's AF_UNIX) would have to copy the pages into a linear
//     skb: the article's "1 CPU copy".
// The alias probe (techniques.h) checks point 2 on the running kernel.
//
// /proc/self/io is a third, independent view: rchar/wchar count BYTES handed
// to read/write-family syscalls, not copies. read() and write() add to them;
// sendfile adds its bytes to both rchar and wchar (and one to syscr and
// syscw) although it copies nothing here; splice and vmsplice add nothing at
// all (fs/splice.c does no I/O accounting). They count what the calls claim
// to move, which is why copies must be modelled, not read off a counter.
#include <fmt/core.h>

#include <cctype>
#include <cmath>

#include "copybench/copybench.h"

namespace zc::copybench {
using nlohmann::json;

namespace {

struct ModelCounts {
  json by_call;
  uint64_t total;
  int sender_cpu_copies;  // times each byte is copied by the sender's CPU
  uint64_t rchar, wchar, syscr, syscw;
  const char* copies_why;
};

ModelCounts counts(Technique t, uint64_t n, uint64_t k) {
  switch (t) {
    case Technique::read_write:
      return {{{"read", k}, {"write", k}}, 2 * k, 2, n, n, k, k,
              "read() copies page cache -> user buffer, write() copies user buffer -> socket skb"};
    case Technique::mmap_write:
      return {{{"write", k}}, k, 1, 0, n, 0, k,
              "write() copies the mapped page-cache pages -> socket skb (the mmap is made once, before the transfers)"};
    case Technique::sendfile:
      return {{{"sendfile", k}}, k, 0, n, n, k, k,
              "the page-cache pages go into the skb by reference (MSG_SPLICE_PAGES); nothing is copied until the receiver reads"};
    case Technique::splice:
      return {{{"splice", 2 * k}}, 2 * k, 0, 0, 0, 0, 0,
              "file -> pipe and pipe -> socket move page references, never bytes"};
    case Technique::vmsplice:
      return {{{"vmsplice", k}, {"splice", k}}, 2 * k, 0, 0, 0, 0, 0,
              "vmsplice pins the user buffer's pages into the pipe, splice hands the references to the socket"};
  }
  return {json::object(), 0, 0, 0, 0, 0, 0, ""};
}

std::string num(double v) {
  if (v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:.1f}", v);
}

}  // namespace

json model_for(Technique t, uint64_t bytes, uint64_t chunk) {
  const uint64_t k = chunks_for(bytes, chunk);
  const ModelCounts c = counts(t, bytes, k);
  return {
      {"assumes", "AF_UNIX stream socket, Linux >= 6.5 (MSG_SPLICE_PAGES), source file in the page cache, a pipe that holds one chunk"},
      {"chunks", k},
      {"syscalls", {{"total", c.total}, {"by_call", c.by_call}}},
      {"mode_switches", 2 * c.total},
      {"sender_cpu_copies", c.sender_cpu_copies},
      {"sender_cpu_copy_bytes", static_cast<uint64_t>(c.sender_cpu_copies) * bytes},
      {"sender_cpu_copy_calls", static_cast<uint64_t>(c.sender_cpu_copies) * k},
      {"receiver_cpu_copies", 1},
      {"total_cpu_copies", c.sender_cpu_copies + 1},
      {"dma_copies", 0},
      {"copies_why", c.copies_why},
      {"io", {{"rchar", c.rchar}, {"wchar", c.wchar}, {"syscr", c.syscr}, {"syscw", c.syscw}}},
      {"receiver", {{"read_calls_at_least", k}, {"rchar", bytes}, {"cpu_copies", 1}}},
      {"context_switches",
       "not one per call: the sender sleeps only when about SO_SNDBUF bytes are queued and unread, the receiver only "
       "when the queue is empty; expect on the order of bytes / SO_SNDBUF, and fewer with zero-copy techniques "
       "whose skbs account less memory"},
  };
}

json article_for(Technique t, uint64_t k) {
  json per_call;
  json extra = json::object();
  switch (t) {
    case Technique::read_write:
      per_call = {{"calls", "read + write"}, {"syscalls", 2}, {"mode_switches", 4}, {"copies", 4},
                  {"dma_copies", 2}, {"cpu_copies", 2}};
      break;
    case Technique::mmap_write:
      per_call = {{"calls", "mmap + write"}, {"syscalls", 2}, {"mode_switches", 4}, {"copies", 3},
                  {"dma_copies", 2}, {"cpu_copies", 1}};
      break;
    case Technique::sendfile:
      per_call = {{"calls", "sendfile"}, {"syscalls", 1}, {"mode_switches", 2}, {"copies", 3},
                  {"dma_copies", 2}, {"cpu_copies", 1}};
      extra = {{"with_sg_dma", {{"mode_switches", 2}, {"copies", 2}, {"dma_copies", 2}, {"cpu_copies", 0}}}};
      break;
    case Technique::splice:
      per_call = {{"calls", "splice file -> pipe + splice pipe -> socket"}, {"syscalls", nullptr},
                  {"mode_switches", nullptr}, {"copies", nullptr}, {"dma_copies", nullptr}, {"cpu_copies", 0}};
      extra = {{"claim", "pipe-based, 0 CPU copies (no switch count given)"}};
      break;
    case Technique::vmsplice:
      per_call = {{"calls", "vmsplice buffer -> pipe + splice pipe -> socket"}, {"syscalls", nullptr},
                  {"mode_switches", nullptr}, {"copies", nullptr}, {"dma_copies", nullptr}, {"cpu_copies", 0}};
      extra = {{"claim", "splice's counterpart for user memory; no counts given"}};
      break;
  }
  json scaled = {{"calls", k}};
  if (per_call["mode_switches"].is_number())
    scaled["mode_switches"] = per_call["mode_switches"].get<uint64_t>() * k;
  else
    scaled["mode_switches"] = nullptr;
  scaled["cpu_copy_calls"] = per_call["cpu_copies"].get<uint64_t>() * k;
  scaled["copies_per_byte"] = per_call["copies"];
  json a = {{"per_call", per_call}, {"scaled", scaled},
            {"world", "file on disk, TCP socket, NIC with DMA; one call moves the whole (small) file"}};
  a.update(extra);
  return a;
}

void check_and_explain(json& tj) {
  const Technique t = *technique_from_name(tj["name"].get<std::string>());
  const json& m = tj["model"];
  const json& s = tj["measured"]["sender"];
  const json& r = tj["measured"]["receiver"];
  const uint64_t k = m["chunks"].get<uint64_t>();

  // Syscalls: the sender's counts per call must be exactly the model's.
  const bool sys_ok = s["syscalls"]["by_call"] == m["syscalls"]["by_call"];
  const bool mode_ok = s["mode_switches"] == 2 * s["syscalls"]["total"].get<uint64_t>();
  bool io_ok = true;
  for (const char* key : {"rchar", "wchar", "syscr", "syscw"})
    io_ok = io_ok && s[key] == m["io"][key];
  bool copies_ok = true;
  const json& probe = tj["probe"];
  if (!probe.is_null()) copies_ok = probe["shared"].get<bool>() == (m["sender_cpu_copies"].get<int>() == 0);
  const bool recv_ok = r["syscalls"]["by_call"].value("read", uint64_t{0}) >= k;
  tj["checks"] = {{"syscalls_match_model", sys_ok},
                  {"mode_switches_twice_syscalls", mode_ok},
                  {"io_matches_model", io_ok},
                  {"probe_matches_model_copies", probe.is_null() ? json(nullptr) : json(copies_ok)},
                  {"receiver_reads_at_least_chunks", recv_ok}};

  std::string lead;
  if (!sys_ok)
    lead += fmt::format("Differs from the model: syscalls {} measured vs {} modelled (a short transfer or an unexpected call); ",
                        s["syscalls"]["by_call"].dump(), m["syscalls"]["by_call"].dump());
  if (!io_ok)
    lead += fmt::format("/proc/self/io differs from the model (rchar {} wchar {} syscr {} syscw {}); ",
                        s["rchar"].get<uint64_t>(), s["wchar"].get<uint64_t>(), s["syscr"].get<uint64_t>(),
                        s["syscw"].get<uint64_t>());
  if (!copies_ok)
    lead += fmt::format("the probe found the send path {} although the model expects {} sender CPU copies (an older kernel, or a file system that replaces pages on write); ",
                        probe["verdict"].get<std::string>(), m["sender_cpu_copies"].get<int>());

  const std::string art_ms = tj["article"]["scaled"]["mode_switches"].is_null()
                                 ? std::string("-")
                                 : num(tj["article"]["scaled"]["mode_switches"].get<double>());
  const uint64_t ms = m["mode_switches"].get<uint64_t>();
  const uint64_t cs = s["context_switches"].get<uint64_t>();
  // What the probe adds to a sentence: its evidence, or why there is none.
  auto evidence = [&](const char* seen) -> std::string {
    if (probe.is_null()) return "by the model; the probe was not run (--no-probe)";
    if (probe["shared"].get<bool>() != (m["sender_cpu_copies"].get<int>() == 0)) return "the probe disagrees, see above";
    return seen;
  };
  std::string why;
  switch (t) {
    case Technique::read_write:
      why = fmt::format(
          "2 CPU copies per byte as the article says, but its 2 DMA copies do not happen here (the file is in the page cache and "
          "AF_UNIX has no NIC, so the receiver's read() is a 3rd CPU copy instead), and its 4 mode switches are per read+write "
          "pair: {} for {} chunks, against only {} scheduler context switches.",
          ms, k, cs);
      break;
    case Technique::mmap_write:
      why = fmt::format(
          "1 CPU copy as the article says (write() copies the mapped page-cache pages into the socket), but the mmap is made once, "
          "not per call, so {} mode switches instead of the article's 4 per call x {} = {}, and the receiver's read() is a 2nd CPU "
          "copy where the article has NIC DMA.",
          ms, k, art_ms);
      break;
    case Technique::sendfile:
      why = fmt::format(
          "The article's 1 CPU copy into the socket buffer is gone: sendfile hands the page-cache pages to the AF_UNIX socket by "
          "reference ({}), the article's scatter-gather case without "
          "a NIC, so the only CPU copy is the receiver's read(); {} mode switches as claimed (2 per call), and /proc/self/io "
          "counts the bytes as both read and written (rchar = wchar = {}) although none was copied.",
          evidence("the probe saw the receiver read a page changed after it was sent"), ms, s["wchar"].get<uint64_t>());
      break;
    case Technique::splice:
      why = fmt::format(
          "0 CPU copies on the sending side as the article says (page references travel file -> pipe -> socket; {}), "
          "but at 2 calls per chunk = {} mode switches, twice sendfile's, and /proc/self/io does not count splice at "
          "all (rchar = wchar = 0); the receiver's read() is still one CPU copy.",
          evidence("the probe confirms it"), ms);
      break;
    case Technique::vmsplice:
      why = fmt::format(
          "The sender copies nothing (vmsplice pins the frame's pages into the pipe, splice passes the references on; {}), "
          "at {} mode switches for vmsplice + splice per chunk, but the buffer must stay "
          "untouched until the receiver has read it, and the receiver's read() still copies once: zero-copy on the sending side "
          "of a UNIX socket is not zero-copy end to end.",
          evidence("the probe saw a later change to the buffer arrive"), ms);
      break;
  }
  if (!lead.empty()) {
    lead[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(lead[0])));
    why = lead + "otherwise: " + why;
  }
  tj["notes"] = why;
}

}  // namespace zc::copybench
