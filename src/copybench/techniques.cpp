// The five techniques, one chunk at a time, and what each one copies.
//
// The source is a regular file whose pages are already in the page cache
// (written once before the run), the sink is the sender's end of an AF_UNIX
// stream socketpair. Per chunk:
//
//  read-write  read(file, buf, C)          page cache -> user buffer   CPU copy 1
//              write(sock, buf, C)         user buffer -> socket skb   CPU copy 2
//  mmap-write  write(sock, map + off, C)   mapped page cache -> skb    CPU copy 1
//              (the mmap() itself is done once, outside the transfers: mapping
//              a frame per frame costs page faults, FACTS.md)
//  sendfile    sendfile(sock, file, &off, C)
//              Inside the kernel sendfile is splice: the file's page-cache
//              pages go by reference into an internal pipe, and the socket's
//              splice_write takes them from there. TCP or AF_UNIX, the socket
//              is handed the pages with MSG_SPLICE_PAGES (Linux >= 6.5; before
//              that, ->sendpage, which AF_UNIX has had since 4.2): the skb
//              then points at the page-cache pages instead of holding a copy.
//              The articles' "1 CPU copy into the socket buffer" is the
//              behaviour of an old kernel or of a TCP path to a NIC without
//              scatter-gather, which must be given one linear buffer.
//  splice      splice(file, &off, pipe, C)  page cache pages -> pipe slots (references)
//              splice(pipe, sock, C)        pipe slots -> skb frags        (references)
//  vmsplice    vmsplice(pipe, user buffer, C)  user pages pinned into pipe slots (references)
//              splice(pipe, sock, C)           pipe slots -> skb frags       (references)
//
// Whether a step references or copies is not taken on trust: alias_probe()
// below checks it on the running kernel, and the report prints its verdict.
//
// In every case the RECEIVER's read() then copies the bytes out of the skb
// (or out of the page-cache page the skb points at) into its own memory: on
// AF_UNIX both ends are processes on this CPU, so the last hop is a CPU copy,
// not the NIC's DMA the articles count.
#include "copybench/techniques.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/unique_fd.h"

namespace zc::copybench {
namespace {

// See OwnCalls in techniques.h. Plain thread_local: only the thread that
// sends ever touches it.
thread_local OwnCalls t_own{};

// A loop that writes all of [p, p + n) to fd. A blocking AF_UNIX stream
// write() returns only when everything is queued (it sleeps while the send
// buffer is full), so this is one write() per chunk; a short write (a signal)
// is continued and then shows up as an extra write in the counts.
Result<void> write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("write() to the socket");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

// Moves n bytes that are in the pipe into the socket.
Result<void> drain_pipe_to_socket(const Endpoints& e, size_t n) {
  while (n > 0) {
    const ssize_t s = counted_splice(e.pipe_r, nullptr, e.sock, nullptr, n, SPLICE_F_MOVE);
    if (s < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("splice(pipe -> socket)");
    }
    if (s == 0) return Error{EPIPE, "splice(pipe -> socket) moved nothing"};
    n -= static_cast<size_t>(s);
  }
  return {};
}

Result<void> send_read_write(const Endpoints& e, uint64_t bytes, size_t chunk) {
  uint64_t off = 0;
  // Exactly ceil(bytes / chunk) reads: the loop knows the size and never
  // asks for the 0-byte end-of-file read a "read until EOF" loop would make.
  while (off < bytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - off));
    const ssize_t r = ::read(e.file, e.bounce, want);  // CPU copy: page cache -> buffer
    if (r < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read() from the file");
    }
    if (r == 0) return Error{0, "read() from the file: unexpected end of file"};
    auto w = write_all(e.sock, e.bounce, static_cast<size_t>(r));  // CPU copy: buffer -> skb
    if (!w) return w;
    off += static_cast<uint64_t>(r);
  }
  return {};
}

Result<void> send_mmap_write(const Endpoints& e, uint64_t bytes, size_t chunk) {
  for (uint64_t off = 0; off < bytes;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - off));
    // The one CPU copy: copy_from_user() reads the mapped page-cache page
    // straight into the skb. No user buffer, no read().
    auto w = write_all(e.sock, e.map + off, want);
    if (!w) return w;
    off += want;
  }
  return {};
}

Result<void> send_sendfile(const Endpoints& e, uint64_t bytes, size_t chunk) {
  off_t off = 0;  // sendfile advances it; the file's own offset is untouched
  while (static_cast<uint64_t>(off) < bytes) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - static_cast<uint64_t>(off)));
    size_t left = want;
    while (left > 0) {
      const ssize_t s = counted_sendfile(e.sock, e.file, &off, left);
      if (s < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("sendfile(file -> socket)");
      }
      if (s == 0) return Error{0, "sendfile(file -> socket): unexpected end of file"};
      left -= static_cast<size_t>(s);
    }
  }
  return {};
}

Result<void> send_splice(const Endpoints& e, uint64_t bytes, size_t chunk) {
  loff_t off = 0;
  while (static_cast<uint64_t>(off) < bytes) {
    size_t left = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - static_cast<uint64_t>(off)));
    // The pipe holds at least one chunk (see bench.cpp), so each round is one
    // splice in and one splice out. A pipe is a ring of page references
    // (struct pipe_buffer: page, offset, len), which is why splice can move
    // file data without touching it: only the references travel.
    while (left > 0) {
      const ssize_t in = counted_splice(e.file, &off, e.pipe_w, nullptr,
                                        std::min(left, e.pipe_capacity), SPLICE_F_MOVE);
      if (in < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("splice(file -> pipe)");
      }
      if (in == 0) return Error{0, "splice(file -> pipe): unexpected end of file"};
      auto d = drain_pipe_to_socket(e, static_cast<size_t>(in));
      if (!d) return d;
      left -= static_cast<size_t>(in);
    }
  }
  return {};
}

Result<void> send_vmsplice(const Endpoints& e, uint64_t bytes, size_t chunk) {
  for (uint64_t off = 0; off < bytes;) {
    size_t left = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - off));
    while (left > 0) {
      // Without SPLICE_F_GIFT the kernel pins our pages and puts references
      // to them into the pipe: the buffer must not change until the receiver
      // has read the bytes (here it never changes: it is the frame).
      const ssize_t in = counted_vmsplice(e.pipe_w, e.frame + off, std::min(left, e.pipe_capacity), 0);
      if (in < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("vmsplice(buffer -> pipe)");
      }
      auto d = drain_pipe_to_socket(e, static_cast<size_t>(in));
      if (!d) return d;
      off += static_cast<uint64_t>(in);
      left -= static_cast<size_t>(in);
    }
  }
  return {};
}

// --- alias probe -------------------------------------------------------------

constexpr size_t kProbeBytes = 4096;

Result<UniqueFd> scratch_file(const char* dir, uint8_t fill) {
  std::string path = std::string(dir) + "/zcpipe-copybench-probe-XXXXXX";
  UniqueFd fd{::mkostemp(path.data(), O_CLOEXEC)};
  if (!fd) return Error::from_errno("cannot create a probe file in " + std::string(dir));
  ::unlink(path.c_str());
  uint8_t page[kProbeBytes];
  std::memset(page, fill, sizeof page);
  if (::pwrite(fd.get(), page, sizeof page, 0) != static_cast<ssize_t>(sizeof page))
    return Error::from_errno("writing the probe file");
  return fd;
}

}  // namespace

std::string_view technique_name(Technique t) {
  switch (t) {
    case Technique::read_write: return "read-write";
    case Technique::mmap_write: return "mmap-write";
    case Technique::sendfile: return "sendfile";
    case Technique::splice: return "splice";
    case Technique::vmsplice: return "vmsplice";
  }
  return "?";
}

std::optional<Technique> technique_from_name(std::string_view name) {
  for (Technique t : kAllTechniques)
    if (technique_name(t) == name) return t;
  return std::nullopt;
}

std::string_view technique_summary(Technique t) {
  switch (t) {
    case Technique::read_write: return "read() a chunk of the file into a user buffer, write() it to the socket";
    case Technique::mmap_write: return "mmap() the file once, write() chunks straight from the mapping";
    case Technique::sendfile: return "sendfile() file -> socket, one call per chunk";
    case Technique::splice: return "splice() file -> pipe, then splice() pipe -> socket, per chunk";
    case Technique::vmsplice: return "vmsplice() a user buffer (the frame) -> pipe, then splice() pipe -> socket";
  }
  return "?";
}

OwnCalls thread_own_calls() { return t_own; }

ssize_t counted_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  ++t_own.sendfile;
  return ::sendfile(out_fd, in_fd, offset, count);
}

ssize_t counted_splice(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                       unsigned flags) {
  ++t_own.splice;
  return ::splice(fd_in, off_in, fd_out, off_out, len, flags);
}

ssize_t counted_vmsplice(int fd, const void* base, size_t len, unsigned flags) {
  ++t_own.vmsplice;
  iovec iov{const_cast<void*>(base), len};
  return ::vmsplice(fd, &iov, 1, flags);
}

Result<void> prepare(Technique t, const Endpoints& e) {
  if (t == Technique::read_write && ::lseek(e.file, 0, SEEK_SET) != 0)
    return Error::from_errno("lseek(file, 0)");
  return {};
}

Result<void> transfer(Technique t, const Endpoints& e, uint64_t bytes, size_t chunk) {
  switch (t) {
    case Technique::read_write: return send_read_write(e, bytes, chunk);
    case Technique::mmap_write: return send_mmap_write(e, bytes, chunk);
    case Technique::sendfile: return send_sendfile(e, bytes, chunk);
    case Technique::splice: return send_splice(e, bytes, chunk);
    case Technique::vmsplice: return send_vmsplice(e, bytes, chunk);
  }
  return Error{EINVAL, "unknown technique"};
}

Result<ProbeResult> alias_probe(Technique t, const char* dir) {
  constexpr uint8_t kA = 'A', kB = 'B';
  auto file = scratch_file(dir, kA);
  if (!file) return file.error();
  const int f = file->get();

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return Error::from_errno("probe socketpair");
  UniqueFd tx{sv[0]}, rx{sv[1]};
  int pv[2];
  if (::pipe2(pv, O_CLOEXEC) != 0) return Error::from_errno("probe pipe2");
  UniqueFd pr{pv[0]}, pw{pv[1]};

  // Page-aligned buffers: the bounce buffer for read-write and the user
  // buffer vmsplice pins.
  void* mem = ::mmap(nullptr, 2 * kProbeBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return Error::from_errno("probe buffer mmap");
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } unmap_mem{mem, 2 * kProbeBytes};
  auto* user = static_cast<uint8_t*>(mem);
  std::memset(user, kA, kProbeBytes);
  void* fmap = ::mmap(nullptr, kProbeBytes, PROT_READ, MAP_SHARED, f, 0);
  if (fmap == MAP_FAILED) return Error::from_errno("probe file mmap");
  Unmap unmap_file{fmap, kProbeBytes};

  Endpoints e;
  e.file = f;
  e.map = static_cast<const uint8_t*>(fmap);
  e.frame = user;
  e.bounce = user + kProbeBytes;
  e.pipe_r = pr.get();
  e.pipe_w = pw.get();
  e.pipe_capacity = 65536;  // the default pipe: 16 slots, plenty for one page
  e.sock = tx.get();
  if (auto p = prepare(t, e); !p) return p.error();
  if (auto s = transfer(t, e, kProbeBytes, kProbeBytes); !s) return s.error();

  // The bytes are now queued in rx's receive queue. Change the source.
  uint8_t page[kProbeBytes];
  std::memset(page, kB, sizeof page);
  if (t == Technique::vmsplice) {
    std::memcpy(user, page, kProbeBytes);  // the pinned user page
  } else if (::pwrite(f, page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {
    return Error::from_errno("probe pwrite");  // the page-cache page, in place
  }

  uint8_t got[kProbeBytes];
  size_t have = 0;
  while (have < kProbeBytes) {
    const ssize_t r = ::recv(rx.get(), got + have, kProbeBytes - have, MSG_DONTWAIT);
    if (r <= 0) return Error::from_errno("probe recv");
    have += static_cast<size_t>(r);
  }
  const bool all_b = std::all_of(got, got + kProbeBytes, [](uint8_t c) { return c == kB; });
  const bool all_a = std::all_of(got, got + kProbeBytes, [](uint8_t c) { return c == kA; });
  if (!all_a && !all_b) return Error{0, "probe: the receiver got a mix of old and new bytes"};
  ProbeResult r;
  r.shared = all_b;
  r.verdict = all_b ? "shared pages (0 CPU copies into the socket)" : "copied at send time";
  return r;
}

}  // namespace zc::copybench
