// The guest side of tools/vm-run's screendump channel, shared by the vm
// checks that compare the display with what was rendered.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace zcvm {

// Asks tools/vm-run for a screendump over the zcpipe.ctl virtio-serial port
// (one line out, one line back) and returns the guest path of the PPM.
inline zc::Result<std::string> request_screendump(const std::string& name) {
  const char* port = std::getenv("ZCPIPE_VM_CTL");
  if (port == nullptr) return zc::Error{0, "ZCPIPE_VM_CTL is not set (not inside tools/vm-run)"};
  // A virtio port has one opener at a time: wait while another check uses it.
  zc::UniqueFd fd;
  for (int tries = 0; tries < 100; ++tries) {
    fd = zc::UniqueFd{::open(port, O_RDWR | O_CLOEXEC | O_NOCTTY)};
    if (fd || errno != EBUSY) break;
    ::usleep(100'000);
  }
  if (!fd) return zc::Error::from_errno(std::string("cannot open ") + port);
  const std::string request = "screendump " + name + "\n";
  if (::write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size()))
    return zc::Error::from_errno("writing the screendump request");
  std::string reply;
  char c = 0;
  while (reply.size() < 4096) {
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 60'000) <= 0) return zc::Error{ETIMEDOUT, "no reply from the host"};
    if (::read(fd.get(), &c, 1) != 1) return zc::Error::from_errno("reading the reply");
    if (c == '\n') break;
    reply += c;
  }
  if (reply.rfind("ok ", 0) != 0) return zc::Error{0, "host: " + reply};
  return reply.substr(3);
}

struct Ppm {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // R, G, B bytes, top row first
  uint32_t pixel(size_t i) const { return uint32_t{rgb[3 * i]} << 16 | uint32_t{rgb[3 * i + 1]} << 8 | rgb[3 * i + 2]; }
};

// QEMU writes "P6\n<width> <height>\n255\n" and then R, G, B bytes. The file
// is 25 MB; it is read in large blocks (a byte-wise stream iterator costs
// seconds under TCG).
inline zc::Result<Ppm> read_ppm(const std::string& path) {
  zc::UniqueFd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!fd) return zc::Error::from_errno("cannot open " + path);
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || ::lseek(fd.get(), 0, SEEK_SET) != 0) return zc::Error::from_errno("cannot size " + path);
  std::vector<uint8_t> data(static_cast<size_t>(size));
  for (size_t got = 0; got < data.size();) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n <= 0) return zc::Error::from_errno("reading " + path);
    got += static_cast<size_t>(n);
  }
  Ppm p;
  unsigned maxval = 0;
  int header = 0;
  const std::string head(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(data.size(), 64)));
  if (std::sscanf(head.c_str(), "P6 %u %u %u%n", &p.width, &p.height, &maxval, &header) != 3 || maxval != 255)
    return zc::Error{0, path + ": not an 8-bit binary PPM (P6)"};
  ++header;  // the single whitespace byte before the pixels
  if (data.size() - static_cast<size_t>(header) != size_t{p.width} * p.height * 3)
    return zc::Error{0, fmt::format("{}: {} bytes of pixels for {}x{}", path, data.size() - static_cast<size_t>(header),
                                    p.width, p.height)};
  data.erase(data.begin(), data.begin() + header);
  p.rgb = std::move(data);
  return p;
}

}  // namespace zcvm
