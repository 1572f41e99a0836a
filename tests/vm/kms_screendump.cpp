// vm check: the display shows the client's last frame, pixel for pixel.
//
// Starts zcpipe-compositor --output kms, runs a zcpipe client in this
// process for N frames over the chosen transport, and — with the client
// still connected, so its surface is still on screen — asks the host for a
// screendump of the virtio-gpu display. The dump must decode as frame N-1
// and equal render_pattern(N-1) in every pixel. Then the client leaves and
// the compositor is stopped with SIGTERM; it must exit 0.
//
// usage: vm-kms-screendump COMPOSITOR [--transport dmabuf|shm|socket] [--frames N] [ARGS for the compositor...]
// Exit: 0 pass, 1 fail, 77 skip (not in tools/vm-run / no DRM device).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "buffer/pattern.h"
#include "client/client.h"
#include "common/log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "stats/ledger.h"
#include "screendump.h"

namespace {

constexpr int kSkip = 77;

}  // namespace

int main(int argc, char** argv) {
  using namespace zc;
  log::set_prefix("vm-kms-screendump");
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s COMPOSITOR [--transport T] [--frames N] [compositor args...]\n", argv[0]);
    return 2;
  }
  if (std::getenv("ZCPIPE_VM_CTL") == nullptr) {
    std::puts("SKIP: not inside tools/vm-run (no screendump)");
    return kSkip;
  }
  if (::access("/dev/dri/card0", F_OK) != 0) {
    std::puts("SKIP: no /dev/dri/card0");
    return kSkip;
  }
  std::string transport = "dmabuf";
  uint64_t frames = 5;
  std::vector<std::string> extra;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--transport" && i + 1 < argc) transport = argv[++i];
    else if (a == "--frames" && i + 1 < argc) frames = std::strtoull(argv[++i], nullptr, 10);
    else extra.push_back(a);
  }
  const std::string socket = "zcpipe-vm-" + std::to_string(::getpid());
  int ready[2];
  if (::pipe(ready) != 0) return 1;
  const pid_t comp = ::fork();
  if (comp == 0) {
    ::close(ready[0]);
    ::dup2(ready[1], 3);
    std::vector<std::string> args = {argv[1], "--socket", socket, "--output", "kms", "--ready-fd", "3", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> cargs;
    for (auto& s : args) cargs.push_back(s.data());
    cargs.push_back(nullptr);
    ::execv(cargs[0], cargs.data());
    _exit(127);
  }
  ::close(ready[1]);
  char buf[16];
  pollfd p{ready[0], POLLIN, 0};
  if (::poll(&p, 1, 30'000) <= 0 || ::read(ready[0], buf, sizeof buf) <= 0) {
    std::puts("FAIL: the compositor did not start");
    ::kill(comp, SIGKILL);
    return 1;
  }
  int rc = 0;
  {
    client::ClientConfig cfg;
    cfg.socket = socket;
    cfg.frames = frames;
    cfg.warmup = 0;
    cfg.transport = transport == "shm" ? client::Transport::shm
                    : transport == "socket" ? client::Transport::socket
                                            : client::Transport::dmabuf;
    auto c = client::Client::create(cfg, nullptr);
    if (!c) {
      std::printf("FAIL: client: %s\n", c.error().message().c_str());
      rc = 1;
    } else if (auto r = (*c)->run(); !r) {
      std::printf("FAIL: client run: %s\n", r.error().message().c_str());
      rc = 1;
    } else {
      // The client is still connected: its last frame is on screen.
      auto path = zcvm::request_screendump("kms-" + transport + ".ppm");
      auto ppm = path ? zcvm::read_ppm(*path) : Result<zcvm::Ppm>(path.error());
      if (!ppm) {
        std::printf("FAIL: screendump: %s\n", ppm.error().message().c_str());
        rc = 1;
      } else {
        const uint32_t w = ppm->width, h = ppm->height;
        std::vector<uint32_t> shown_px(size_t{w} * h);
        for (size_t i = 0; i < shown_px.size(); ++i) shown_px[i] = ppm->pixel(i);
        const std::vector<uint32_t>* px = &shown_px;
        const buffer::ConstPixelView shown{reinterpret_cast<const uint8_t*>(px->data()), w, h, w * 4,
                                           0x34325258 /* XRGB8888 */};
        const auto n = buffer::decode_pattern(shown);
        std::vector<uint32_t> want(size_t{w} * h);
        buffer::render_pattern({reinterpret_cast<uint8_t*>(want.data()), w, h, w * 4, 0x34325258}, frames - 1);
        size_t diff = 0;
        for (size_t i = 0; i < want.size(); ++i) diff += (want[i] & 0xffffff) != (*px)[i];
        std::printf("screendump %ux%u: shows frame %s (want %llu), %zu of %zu pixels differ from the rendered frame\n",
                    w, h, n ? std::to_string(*n).c_str() : "?", static_cast<unsigned long long>(frames - 1), diff,
                    want.size());
        if (!n || *n != frames - 1 || diff != 0) rc = 1;
      }
    }
  }
  ::kill(comp, SIGTERM);
  int status = 0;
  ::waitpid(comp, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("FAIL: compositor exit status %d\n", status);
    rc = 1;
  }
  std::puts(rc == 0 ? "PASS" : "FAIL");
  return rc;
}
