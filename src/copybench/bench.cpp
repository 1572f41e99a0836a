// The runner: source file, socket, receiver process, measuring windows.
//
// One transfer, step by step (S = sender, the main thread; R = the receiver
// child process):
//
//   S: prepare (lseek for read-write)             not measured
//   S -> R over the control socket: GO            not measured
//   R: writes READY, samples its counters          R's window opens
//   S: reads READY, samples its counters           S's window opens
//   S: sends the N bytes with the technique        (R reads them meanwhile)
//   S: samples                                     S's window closes
//   R: has read N bytes, samples                   R's window closes
//   R: compares the bytes with the file            not measured
//   R -> S: DONE + R's figures                     not measured
//
// A sample (stats::Sampler) costs no counted syscall (it is ScopedUncounted
// and subtracts its own /proc/self/io read), so a window contains exactly the
// technique's calls. The end-to-end time runs from S's window opening to R's
// closing: CLOCK_MONOTONIC is one clock for every process on the machine.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "common/clock.h"
#include "common/unique_fd.h"
#include "copybench/copybench.h"
#include "stats/ledger.h"

namespace zc::copybench {
using nlohmann::json;
using stats::kSysKinds;
using stats::Sys;

namespace {

constexpr size_t kPage = 4096;

// One window's figures, as plain data so the receiver can send it over a
// socket as bytes.
struct Figures {
  uint64_t sys[kSysKinds];
  uint64_t sendfile, splice, vmsplice;  // copybench's own counters (OwnCalls)
  uint64_t voluntary_cs, involuntary_cs, minor_faults, major_faults;
  uint64_t user_us, system_us;
  uint64_t rchar, wchar, syscr, syscw;
  uint64_t start_ns, end_ns;

  uint64_t syscalls() const {
    uint64_t t = sendfile + splice + vmsplice;
    for (uint64_t v : sys) t += v;
    return t;
  }
};
static_assert(std::is_trivially_copyable_v<Figures>);

uint64_t sub(uint64_t a, uint64_t b) { return a >= b ? a - b : 0; }

Figures diff(const stats::Sample& a, const OwnCalls& oa, const stats::Sample& b, const OwnCalls& ob) {
  Figures f{};
  for (size_t i = 0; i < kSysKinds; ++i) f.sys[i] = sub(b.sys.n[i], a.sys.n[i]);
  const OwnCalls d = ob - oa;
  f.sendfile = d.sendfile;
  f.splice = d.splice;
  f.vmsplice = d.vmsplice;
  f.voluntary_cs = sub(b.voluntary_cs, a.voluntary_cs);
  f.involuntary_cs = sub(b.involuntary_cs, a.involuntary_cs);
  f.minor_faults = sub(b.minor_faults, a.minor_faults);
  f.major_faults = sub(b.major_faults, a.major_faults);
  f.user_us = sub(b.user_us, a.user_us);
  f.system_us = sub(b.system_us, a.system_us);
  f.rchar = sub(b.rchar, a.rchar);
  f.wchar = sub(b.wchar, a.wchar);
  f.syscr = sub(b.syscr, a.syscr);
  f.syscw = sub(b.syscw, a.syscw);
  f.start_ns = a.mono_ns;
  f.end_ns = b.mono_ns;
  return f;
}

json by_call_json(const Figures& f) {
  json by_call = json::object();
  for (size_t i = 0; i < kSysKinds; ++i)
    if (f.sys[i] != 0) by_call[std::string(stats::sys_name(static_cast<Sys>(i)))] = f.sys[i];
  if (f.sendfile != 0) by_call["sendfile"] = f.sendfile;
  if (f.splice != 0) by_call["splice"] = f.splice;
  if (f.vmsplice != 0) by_call["vmsplice"] = f.vmsplice;
  return by_call;
}

json figures_json(const Figures& f) {
  return {{"syscalls", {{"total", f.syscalls()}, {"by_call", by_call_json(f)}}},
          {"mode_switches", 2 * f.syscalls()},
          {"context_switches", f.voluntary_cs + f.involuntary_cs},
          {"voluntary_cs", f.voluntary_cs},
          {"involuntary_cs", f.involuntary_cs},
          {"minor_faults", f.minor_faults},
          {"major_faults", f.major_faults},
          {"rchar", f.rchar},
          {"wchar", f.wchar},
          {"syscr", f.syscr},
          {"syscw", f.syscw},
          {"time_us", static_cast<double>(f.end_ns - f.start_ns) / 1000.0},
          {"cpu_us", f.user_us + f.system_us}};
}

// The median of every field over the repeats, field by field. For an even
// number of repeats the LOWER middle value is taken, so a median is always a
// value that was observed and counts stay integers.
template <typename Get>
uint64_t median_of(const std::vector<Figures>& runs, Get get) {
  std::vector<uint64_t> v;
  v.reserve(runs.size());
  for (const Figures& f : runs) v.push_back(get(f));
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[(v.size() - 1) / 2];
}

Figures median_figures(const std::vector<Figures>& runs) {
  Figures m{};
#define ZC_MED(field) m.field = median_of(runs, [](const Figures& f) { return f.field; })
  for (size_t i = 0; i < kSysKinds; ++i) m.sys[i] = median_of(runs, [i](const Figures& f) { return f.sys[i]; });
  ZC_MED(sendfile);
  ZC_MED(splice);
  ZC_MED(vmsplice);
  ZC_MED(voluntary_cs);
  ZC_MED(involuntary_cs);
  ZC_MED(minor_faults);
  ZC_MED(major_faults);
  ZC_MED(user_us);
  ZC_MED(system_us);
  ZC_MED(rchar);
  ZC_MED(wchar);
  ZC_MED(syscr);
  ZC_MED(syscw);
#undef ZC_MED
  // Time: median duration, expressed as a window starting at 0.
  m.start_ns = 0;
  m.end_ns = median_of(runs, [](const Figures& f) { return f.end_ns - f.start_ns; });
  return m;
}

// The median figures, except that the total counts are medians of the
// totals (not sums of medians) - identical when every run made the same calls.
json median_json(const std::vector<Figures>& runs) {
  const Figures m = median_figures(runs);
  json j = figures_json(m);
  const uint64_t total = median_of(runs, [](const Figures& f) { return f.syscalls(); });
  j["syscalls"]["total"] = total;
  j["mode_switches"] = 2 * total;
  // A total's parts come from the run whose total is the median, so that
  // voluntary + involuntary adds up to the context switches shown.
  const uint64_t cs = median_of(runs, [](const Figures& f) { return f.voluntary_cs + f.involuntary_cs; });
  for (const Figures& f : runs) {
    if (f.voluntary_cs + f.involuntary_cs == cs) {
      j["voluntary_cs"] = f.voluntary_cs;
      j["involuntary_cs"] = f.involuntary_cs;
      break;
    }
  }
  j["context_switches"] = cs;
  j["cpu_us"] = median_of(runs, [](const Figures& f) { return f.user_us + f.system_us; });
  return j;
}

// --- control channel ---------------------------------------------------------

struct Go {
  uint64_t bytes;
  uint64_t chunk;
  uint32_t verify;
  uint32_t quit;
};
struct Done {
  Figures fig;
  uint64_t received;
  uint32_t verified;  // 1 = compared and equal, 0 = not compared
  uint32_t mismatch;  // 1 = compared and different
  int32_t err;        // errno of a failed read, else 0
};

template <typename T>
bool send_msg(int fd, const T& m) {
  return ::write(fd, &m, sizeof m) == static_cast<ssize_t>(sizeof m);
}
template <typename T>
bool recv_msg(int fd, T& m) {
  for (;;) {
    const ssize_t r = ::read(fd, &m, sizeof m);
    if (r == static_cast<ssize_t>(sizeof m)) return true;
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

// The receiver process. Reads every transfer into one frame-sized buffer (as
// a compositor assembling a frame would), with read() calls of at most one
// chunk: each read() copies bytes out of the socket queue into that buffer,
// the one CPU copy the receiving side makes whatever the sender did.
[[noreturn]] void receiver_main(int data, int ctrl, int file, uint64_t bytes) {
  auto sampler = stats::Sampler::create();  // after fork: /proc/self/io is now ours
  void* buf = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* expect = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, file, 0);
  if (!sampler || buf == MAP_FAILED || expect == MAP_FAILED) ::_exit(3);
  auto* dst = static_cast<uint8_t*>(buf);
  for (;;) {
    Go go{};
    if (!recv_msg(ctrl, go) || go.quit) ::_exit(0);
    const uint8_t ready = 1;
    if (::write(ctrl, &ready, 1) != 1) ::_exit(4);
    const stats::Sample a = sampler->sample();
    const OwnCalls oa = thread_own_calls();
    Done done{};
    while (done.received < go.bytes) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(go.chunk, go.bytes - done.received));
      const ssize_t r = ::read(data, dst + done.received, want);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        done.err = r < 0 ? errno : EPIPE;
        break;
      }
      done.received += static_cast<uint64_t>(r);
    }
    const stats::Sample b = sampler->sample();
    done.fig = diff(a, oa, b, thread_own_calls());
    if (go.verify && done.err == 0) {
      done.verified = 1;
      done.mismatch = std::memcmp(dst, expect, go.bytes) != 0 ? 1 : 0;
    }
    if (!send_msg(ctrl, done)) ::_exit(5);
    if (done.err != 0) ::_exit(6);
  }
}

// --- the source --------------------------------------------------------------

// A pattern in which every 8-byte word differs (its index, scrambled), so a
// lost, repeated or reordered piece is caught by the receiver's comparison.
Result<UniqueFd> make_source(const std::string& dir, uint64_t bytes) {
  std::string path = dir + "/zcpipe-copybench-XXXXXX";
  UniqueFd fd{::mkostemp(path.data(), O_CLOEXEC)};
  if (!fd) return Error::from_errno("cannot create the source file in " + dir + " (--dir)");
  ::unlink(path.c_str());  // no name to clean up; the open descriptor keeps it alive
  std::vector<uint64_t> block(1 << 17);  // 1 MiB
  uint64_t word = 0;
  for (uint64_t off = 0; off < bytes;) {
    for (auto& w : block) w = (word++) * 0x9E3779B97F4A7C15ull;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes - off, block.size() * 8));
    const ssize_t w = ::pwrite(fd.get(), block.data(), n, static_cast<off_t>(off));
    if (w != static_cast<ssize_t>(n)) return Error::from_errno("writing the source file in " + dir);
    off += n;
  }
  // Write the dirty pages back now, so writeback does not run during the
  // measurements. The pages stay in the page cache: every technique reads a
  // warm file, and no disk DMA happens in any transfer.
  if (::fdatasync(fd.get()) != 0) return Error::from_errno("fdatasync(source file)");
  return fd;
}

struct Mapping {
  void* p = MAP_FAILED;
  size_t n = 0;
  Mapping() = default;
  Mapping(void* p_, size_t n_) : p(p_), n(n_) {}
  Mapping(Mapping&& o) noexcept : p(std::exchange(o.p, MAP_FAILED)), n(o.n) {}
  Mapping& operator=(Mapping&&) = delete;
  ~Mapping() {
    if (p != MAP_FAILED) ::munmap(p, n);
  }
  uint8_t* bytes() const { return static_cast<uint8_t*>(p); }
};

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

int sock_opt(int fd, int opt) {
  int v = 0;
  socklen_t len = sizeof v;
  ::getsockopt(fd, SOL_SOCKET, opt, &v, &len);
  return v;
}

// Kills and reaps the receiver if the run ends early.
struct Child {
  pid_t pid = -1;
  int ctrl = -1;
  ~Child() {
    if (pid <= 0) return;
    const Go quit{0, 0, 0, 1};
    if (ctrl < 0 || !send_msg(ctrl, quit)) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  void kill_now() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

}  // namespace

Result<json> run(const Options& o) {
  if (o.bytes == 0 || o.chunk == 0 || o.repeats == 0) return Error{EINVAL, "bytes, chunk and repeats must be > 0"};
  std::string dir = o.dir;
  if (dir.empty()) {
    const char* t = std::getenv("TMPDIR");
    dir = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  // A receiver that died must show up as an error, not kill us with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);

  auto src = make_source(dir, o.bytes);
  if (!src) return src.error();
  const int file = src->get();

  int dv[2], cv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dv) != 0) return Error::from_errno("socketpair(data)");
  UniqueFd data_tx{dv[0]}, data_rx{dv[1]};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) != 0) return Error::from_errno("socketpair(control)");
  UniqueFd ctrl{cv[0]}, ctrl_child{cv[1]};

  // Fork BEFORE this process creates any stats::Sampler: a Sampler remembers
  // (process-wide) how much of /proc/self/io its own reads account for, and a
  // child inheriting that memory would subtract the parent's reads from its
  // own fresh counters.
  std::fflush(nullptr);
  Child child;
  child.pid = ::fork();
  if (child.pid < 0) return Error::from_errno("fork(receiver)");
  if (child.pid == 0) {
    data_tx.reset();
    ctrl.reset();
    receiver_main(data_rx.get(), ctrl_child.get(), file, o.bytes);
  }
  child.ctrl = ctrl.get();
  data_rx.reset();
  ctrl_child.reset();

  auto sampler = stats::Sampler::create();
  if (!sampler) return sampler.error();

  // --- everything a sender needs, set up once (outside all windows) ---
  Mapping map{::mmap(nullptr, o.bytes, PROT_READ, MAP_SHARED, file, 0), o.bytes};
  if (map.p == MAP_FAILED) return Error::from_errno("mmap(source file)");
  Mapping frame{::mmap(nullptr, o.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), o.bytes};
  if (frame.p == MAP_FAILED) return Error::from_errno("mmap(frame buffer)");
  std::memcpy(frame.p, map.p, o.bytes);  // vmsplice's source: the frame in our memory
  Mapping bounce{::mmap(nullptr, o.chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), o.chunk};
  if (bounce.p == MAP_FAILED) return Error::from_errno("mmap(chunk buffer)");

  int pv[2];
  if (::pipe2(pv, O_CLOEXEC) != 0) return Error::from_errno("pipe2");
  UniqueFd pipe_r{pv[0]}, pipe_w{pv[1]};
  // A pipe is a ring of slots, each holding (a reference to) at most one
  // page. One chunk must fit: chunk/4096 slots when the chunk is a whole
  // number of pages (then every chunk starts on a page boundary), one more
  // when chunks straddle pages. The kernel rounds up to a power of two pages.
  const bool uses_pipe = std::any_of(o.techniques.begin(), o.techniques.end(), [](Technique t) {
    return t == Technique::splice || t == Technique::vmsplice;
  });
  const size_t per_call = static_cast<size_t>(std::min<uint64_t>(o.chunk, o.bytes));  // the largest call
  const size_t pages = (per_call + kPage - 1) / kPage + (o.chunk % kPage != 0 ? 1 : 0);
  const size_t want_pipe = std::max<size_t>(65536, pages * kPage);
  const int got_pipe = ::fcntl(pipe_w.get(), F_SETPIPE_SZ, static_cast<int>(std::min<size_t>(want_pipe, 1u << 30)));
  if (got_pipe < 0 && uses_pipe)
    return Error::from_errno("--chunk " + std::to_string(o.chunk) + " needs a pipe of " + std::to_string(want_pipe) +
                             " bytes for splice/vmsplice, which F_SETPIPE_SZ refused (limit: /proc/sys/fs/pipe-max-size); "
                             "use a smaller --chunk or leave out splice and vmsplice");
  const size_t pipe_capacity = got_pipe > 0 ? static_cast<size_t>(got_pipe) : 65536;

  Endpoints e;
  e.file = file;
  e.map = map.bytes();
  e.frame = frame.bytes();
  e.bounce = bounce.bytes();
  e.pipe_r = pipe_r.get();
  e.pipe_w = pipe_w.get();
  e.pipe_capacity = pipe_capacity;
  e.sock = data_tx.get();

  struct Transfer {
    Figures sender, receiver;
  };
  auto one = [&](Technique t, bool verify) -> Result<Transfer> {
    if (auto p = prepare(t, e); !p) return p.error();
    const Go go{o.bytes, o.chunk, verify ? 1u : 0u, 0u};
    uint8_t ready = 0;
    if (!send_msg(ctrl.get(), go) || ::read(ctrl.get(), &ready, 1) != 1)
      return Error::from_errno("the receiver process is gone");
    const stats::Sample a = sampler->sample();
    const OwnCalls oa = thread_own_calls();
    auto sent = transfer(t, e, o.bytes, o.chunk);
    const stats::Sample b = sampler->sample();
    const OwnCalls ob = thread_own_calls();
    if (!sent) {
      child.kill_now();  // it would wait forever for the missing bytes
      return Error{sent.error().code, std::string(technique_name(t)) + ": " + sent.error().what};
    }
    Done done{};
    if (!recv_msg(ctrl.get(), done)) return Error::from_errno("no report from the receiver process");
    if (done.err != 0) return Error{done.err, std::string(technique_name(t)) + ": the receiver's read() failed"};
    if (done.mismatch)
      return Error{0, std::string(technique_name(t)) + ": the receiver got different bytes than the file holds"};
    return Transfer{diff(a, oa, b, ob), done.fig};
  };

  json doc;
  doc["tool"] = "zcpipe-copybench";
  doc["bytes"] = o.bytes;
  doc["chunk"] = o.chunk;
  doc["chunks"] = chunks_for(o.bytes, o.chunk);
  doc["repeats"] = o.repeats;
  utsname u{};
  ::uname(&u);
  doc["host"] = {{"kernel", std::string(u.sysname) + " " + u.release},
                 {"cpu", cpu_model()},
                 {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)}};
  doc["interposer"] = {{"linked", stats::interposer_linked()}, {"exported", stats::interposer_exported()}};
  doc["proc_self_io"] = sampler->has_io();
  doc["socket"] = {{"family", "AF_UNIX"},
                   {"type", "SOCK_STREAM"},
                   {"sndbuf", sock_opt(data_tx.get(), SO_SNDBUF)},
                   {"rcvbuf", sock_opt(data_tx.get(), SO_RCVBUF)}};
  doc["pipe_capacity"] = pipe_capacity;
  doc["source"] = {{"dir", dir}, {"page_cache", "warm (written and fdatasync'ed before the run)"}};
  doc["who"] = {{"sender", "the main thread of the benchmark process (RUSAGE_THREAD; /proc/self/io of its process, in which nothing else runs)"},
                {"receiver", "a child process reading into a frame-sized buffer, measured in its own process"}};
  doc["verify"] = o.verify;
  doc["techniques"] = json::array();

  for (Technique t : o.techniques) {
    // Warm-up: faults the mappings and buffers in, fills the socket's and
    // pipe's slab caches. Always verified; not in the figures.
    auto warm = one(t, true);
    if (!warm) return warm.error();
    std::vector<Figures> snd, rcv;
    std::vector<double> e2e;
    json runs = json::array();
    for (unsigned r = 0; r < o.repeats; ++r) {
      auto x = one(t, o.verify);
      if (!x) return x.error();
      // Until the transfer is complete on both sides: the receiver has the
      // last byte AND the sender is back from its last call (a sender
      // preempted just after its last write() can finish after the receiver).
      const double end_to_end =
          static_cast<double>(sub(std::max(x->receiver.end_ns, x->sender.end_ns), x->sender.start_ns)) / 1000.0;
      runs.push_back({{"sender", figures_json(x->sender)},
                      {"receiver", figures_json(x->receiver)},
                      {"end_to_end_us", end_to_end}});
      snd.push_back(x->sender);
      rcv.push_back(x->receiver);
      e2e.push_back(end_to_end);
    }
    json tj;
    tj["name"] = technique_name(t);
    tj["summary"] = technique_summary(t);
    tj["model"] = model_for(t, o.bytes, o.chunk);
    tj["article"] = article_for(t, chunks_for(o.bytes, o.chunk));
    tj["measured"] = {{"sender", median_json(snd)},
                      {"receiver", median_json(rcv)},
                      {"end_to_end_us", stats::summarize(e2e).median},
                      {"runs", std::move(runs)}};
    if (o.probe) {
      auto p = alias_probe(t, dir.c_str());
      if (!p) return Error{p.error().code, std::string(technique_name(t)) + " probe: " + p.error().what};
      tj["probe"] = {{"shared", p->shared},
                     {"verdict", p->verdict},
                     {"sender_cpu_copies", p->shared ? "0" : ">=1"}};
    } else {
      tj["probe"] = nullptr;
    }
    check_and_explain(tj);
    doc["techniques"].push_back(std::move(tj));
  }
  return doc;
}

}  // namespace zc::copybench
