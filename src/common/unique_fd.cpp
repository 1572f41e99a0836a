#include "common/unique_fd.h"

#include <dirent.h>
#include <fcntl.h>

namespace zc {

UniqueFd UniqueFd::dup_cloexec() const noexcept {
  if (fd_ < 0) return UniqueFd{};
  return UniqueFd{::fcntl(fd_, F_DUPFD_CLOEXEC, 0)};
}

int count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the DIR's own descriptor
}

}  // namespace zc
