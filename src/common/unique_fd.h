// UniqueFd: the one owner of a file descriptor.
//
// Every fd that zcpipe receives or creates (DRM nodes, dma-bufs, memfds,
// sockets, timerfds) lives in a UniqueFd from the first statement that sees
// it, so every early return and error path closes it exactly once.
#pragma once

#include <unistd.h>

#include <utility>

namespace zc {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up ownership (for APIs that take the fd, e.g. wl_client_create).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // A second, independent descriptor for the same open file (F_DUPFD_CLOEXEC).
  // Returns an empty UniqueFd and leaves errno set on failure.
  UniqueFd dup_cloexec() const noexcept;

 private:
  int fd_ = -1;
};

// Number of open descriptors of this process (entries in /proc/self/fd),
// used by tests and the compositor's leak check.
int count_open_fds();

}  // namespace zc
