// The five classic ways to move a file's bytes into a socket, as the
// zero-copy articles teach them, and the counters copybench keeps for the
// calls the syscall interposer does not see.
//
// Two words used everywhere in copybench, because the articles mix them up:
//
//  - A MODE SWITCH is the CPU entering the kernel and leaving it again for one
//    syscall: same thread, same address space, a few hundred cycles (more
//    with speculative-execution mitigations). Every syscall is two of them:
//    user -> kernel on entry, kernel -> user on return. That is what the
//    articles call "context switches" when they write "read()+write() = 4".
//  - A (SCHEDULER) CONTEXT SWITCH is the kernel taking the CPU away from one
//    thread and giving it to another: the thread blocked (voluntary: a full
//    socket buffer, an empty pipe) or its time slice ran out (involuntary).
//    It saves registers, may switch page tables, and cools the caches. It is
//    counted by getrusage(RUSAGE_THREAD) as ru_nvcsw + ru_nivcsw, and it does
//    NOT happen once per syscall: a writer sleeps only when the socket's send
//    buffer is full.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace zc::copybench {

enum class Technique : uint8_t { read_write, mmap_write, sendfile, splice, vmsplice };
constexpr std::array<Technique, 5> kAllTechniques = {Technique::read_write, Technique::mmap_write,
                                                     Technique::sendfile, Technique::splice,
                                                     Technique::vmsplice};

std::string_view technique_name(Technique t);  // "read-write", "mmap-write", ...
std::optional<Technique> technique_from_name(std::string_view name);
// One line: what the technique does with each chunk.
std::string_view technique_summary(Technique t);

// sendfile(), splice() and vmsplice() are not in the interposer's list
// (stats/sys.h), and copybench may not extend it. So copybench counts its own
// calls of those three: every call goes through counted_sendfile() /
// counted_splice() / counted_vmsplice() below, which add one to this thread's
// counter and then make the call. Together with the interposer's per-thread
// counts (read, write, lseek, mmap, ...) they give every syscall a transfer
// makes. Per thread, like the interposer's counters, so a measuring window of
// the sending thread sees only its own calls.
struct OwnCalls {
  uint64_t sendfile = 0, splice = 0, vmsplice = 0;
  uint64_t total() const { return sendfile + splice + vmsplice; }
  OwnCalls operator-(const OwnCalls& o) const {
    return {sendfile - o.sendfile, splice - o.splice, vmsplice - o.vmsplice};
  }
};
OwnCalls thread_own_calls();

ssize_t counted_sendfile(int out_fd, int in_fd, off_t* offset, size_t count);
ssize_t counted_splice(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                       unsigned flags);
ssize_t counted_vmsplice(int fd, const void* base, size_t len, unsigned flags);

// Everything a sender needs, set up once before any measured transfer (so the
// set-up syscalls - open, mmap, pipe2, fcntl - are never billed to a transfer).
struct Endpoints {
  int file = -1;                    // the source file (page-cache warm)
  const uint8_t* map = nullptr;     // the whole file, mmap'ed once (mmap-write)
  const uint8_t* frame = nullptr;   // a page-aligned private copy (vmsplice's user buffer)
  uint8_t* bounce = nullptr;        // chunk-sized user buffer (read-write)
  int pipe_r = -1, pipe_w = -1;     // splice and vmsplice go through this pipe
  size_t pipe_capacity = 0;         // F_GETPIPE_SZ: at least one chunk plus one page
  int sock = -1;                    // the sender's end of the AF_UNIX stream socket
};

// Called before the measuring window opens: puts the file offset back to 0
// for read-write (an lseek that must not be billed to the transfer).
Result<void> prepare(Technique t, const Endpoints& e);

// Sends bytes [0, bytes) of the source in chunks of `chunk` bytes, one
// technique-specific round per chunk. Short transfers are continued (and
// then show up as extra calls in the counts: the loop never hides them).
Result<void> transfer(Technique t, const Endpoints& e, uint64_t bytes, size_t chunk);

// The aliasing probe: an experiment that tells whether a technique COPIES the
// bytes on the way into the socket or only passes REFERENCES to the source's
// pages. One page of the source (a scratch file, or a private user buffer for
// vmsplice) holding pattern A is sent with the technique into a fresh
// socketpair; nobody reads yet. Then the source page is overwritten with
// pattern B, and only then is the socket read. If the receiver gets A, the
// kernel copied the bytes when they were sent (at least one CPU copy on the
// sender's path). If it gets B, the socket queue held the very page the
// source owns - zero CPU copies between source and socket - and the data
// changed under the sender's feet, the well-known hazard of sendfile/splice
// (never modify a page until the peer has consumed it).
struct ProbeResult {
  bool shared = false;   // receiver saw B
  std::string_view verdict;  // "shared pages (0 CPU copies into the socket)" or "copied at send time"
};
Result<ProbeResult> alias_probe(Technique t, const char* dir);

}  // namespace zc::copybench
