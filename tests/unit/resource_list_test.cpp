// ResourceList (src/server/resource_list.h): the intrusive lists that carry
// frame callbacks and presentation feedbacks from wl_surface.commit to the
// frame in flight. Real wl_resources of a real client (over a socketpair),
// and a count of every operator new in this program to show that moving
// them per commit allocates nothing.
#include "server/resource_list.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wayland-server-protocol.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

namespace {
std::atomic<long> g_news{0};
}  // namespace

// The replacements below pair malloc with free, which is correct; GCC 12
// sees the library's inlined new/delete and warns that they mismatch.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Every allocation of this test program goes through here.
void* operator new(std::size_t n) {
  g_news++;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace zc::test {
namespace {

using server::ResourceList;

struct Client {
  Client() {
    display = wl_display_create();
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer = fds[1];
    client = wl_client_create(display, fds[0]);
  }
  ~Client() {
    wl_client_destroy(client);
    wl_display_destroy(display);
    ::close(peer);
  }
  // A wl_callback as wl_surface.frame makes it: it leaves its list when destroyed.
  wl_resource* callback() {
    wl_resource* r = wl_resource_create(client, &wl_callback_interface, 1, 0);
    wl_resource_set_implementation(r, nullptr, nullptr, &ResourceList::unlink_on_destroy);
    return r;
  }
  wl_display* display = nullptr;
  wl_client* client = nullptr;
  int peer = -1;
};

std::vector<wl_resource*> entries(ResourceList& l) {
  // Drained entries are unlinked (self-contained): they may go into a list again.
  std::vector<wl_resource*> out;
  ResourceList back;
  l.drain([&](wl_resource* r) {
    out.push_back(r);
    back.push_back(r);
  });
  l.take_all(back);
  return out;
}

TEST(ResourceList, KeepsOrderAndMovesWholeListsInOrder) {
  Client c;
  ResourceList pending, committed;
  wl_resource* a = c.callback();
  wl_resource* b = c.callback();
  wl_resource* d = c.callback();
  pending.push_back(a);
  pending.push_back(b);
  committed.push_back(d);
  committed.take_all(pending);
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(entries(committed), (std::vector<wl_resource*>{d, a, b}));
  EXPECT_EQ(committed.size(), 3);
}

TEST(ResourceList, ADestroyedResourceLeavesItsList) {
  Client c;
  ResourceList l;
  wl_resource* a = c.callback();
  wl_resource* b = c.callback();
  l.push_back(a);
  l.push_back(b);
  wl_resource_destroy(a);  // the client destroyed it, or disconnected
  EXPECT_EQ(entries(l), (std::vector<wl_resource*>{b}));
  // Draining may destroy each (send done, destroy), as on_vblank does.
  int sent = 0;
  l.drain([&](wl_resource* r) {
    wl_callback_send_done(r, 0);
    wl_resource_destroy(r);
    sent++;
  });
  EXPECT_EQ(sent, 1);
  EXPECT_TRUE(l.empty());
}

TEST(ResourceList, AListThatGoesFirstLeavesItsResourcesSafeToDestroy) {
  Client c;
  wl_resource* a = c.callback();
  {
    ResourceList l;  // a surface destroyed with callbacks still pending
    l.push_back(a);
  }
  wl_resource_destroy(a);  // would write into the dead head if still linked
  SUCCEED();
}

// What a commit does with its callbacks and feedbacks, many times over:
// not one allocation.
TEST(ResourceList, CommittingAllocatesNothing) {
  Client c;
  ResourceList pending_frames, pending_feedbacks, frames, in_flight;
  std::vector<wl_resource*> pool;
  for (int i = 0; i < 8; ++i) pool.push_back(c.callback());
  const long before = g_news.load();
  for (int frame = 0; frame < 1000; ++frame) {
    // Each resource goes into one list at a time (cleared lists leave their
    // links self-contained again), as a fresh callback would.
    pending_frames.push_back(pool[static_cast<size_t>(frame) % 4]);
    pending_feedbacks.push_back(pool[4 + static_cast<size_t>(frame) % 4]);
    ResourceList f, fb;  // commit(): two heads on the stack
    f.take_all(pending_frames);
    fb.take_all(pending_feedbacks);
    frames.take_all(f);       // apply_commit
    in_flight.take_all(fb);   // InFlight
    frames.clear();           // vblank: done sent
    in_flight.clear();        // presented sent
  }
  EXPECT_EQ(g_news.load() - before, 0) << "heap allocations while moving callbacks through 1000 commits";
  // The counter does count: what the server did before (a vector per commit).
  std::vector<wl_resource*> moved;
  moved.push_back(pool[0]);
  EXPECT_GT(g_news.load() - before, 0);
}

}  // namespace
}  // namespace zc::test
