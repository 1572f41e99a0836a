// common/unique_fd.h: one owner per descriptor, closed exactly once.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <type_traits>
#include <utility>

#include "common/unique_fd.h"

namespace zc {
namespace {

int new_fd() {
  const int fd = ::memfd_create("unique-fd-test", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

static_assert(!std::is_copy_constructible_v<UniqueFd>);
static_assert(!std::is_copy_assignable_v<UniqueFd>);
static_assert(std::is_nothrow_move_constructible_v<UniqueFd>);
static_assert(std::is_nothrow_move_assignable_v<UniqueFd>);

TEST(UniqueFd, DefaultIsEmpty) {
  UniqueFd fd;
  EXPECT_EQ(fd.get(), -1);
  EXPECT_FALSE(fd);
}

TEST(UniqueFd, DestructorCloses) {
  const int raw = new_fd();
  {
    UniqueFd fd{raw};
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
  }
  EXPECT_FALSE(is_open(raw));
  EXPECT_EQ(errno, EBADF);
}

// The kernel hands out the lowest free number, so a second close of a stale
// number would close somebody else's new descriptor: check it never happens.
TEST(UniqueFd, ClosesExactlyOnceEvenAfterTheNumberIsReused) {
  const int raw = new_fd();
  UniqueFd a{raw};
  {
    UniqueFd b{std::move(a)};
    EXPECT_EQ(b.get(), raw);
  }  // b closes raw
  const int reused = new_fd();
  ASSERT_EQ(reused, raw) << "the kernel reuses the lowest free descriptor";
  a.reset();  // the moved-from owner must not close it again
  UniqueFd c;
  c = std::move(a);  // nor must assigning from it
  c.reset();
  EXPECT_TRUE(is_open(reused));
  ::close(reused);
}

TEST(UniqueFd, MoveConstructionTransfersOwnership) {
  const int raw = new_fd();
  UniqueFd a{raw};
  UniqueFd b{std::move(a)};
  EXPECT_EQ(a.get(), -1);  // NOLINT(bugprone-use-after-move): the documented moved-from state
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, MoveAssignmentClosesTheOldDescriptor) {
  const int first = new_fd();
  const int second = new_fd();
  UniqueFd a{first};
  UniqueFd b{second};
  a = std::move(b);
  EXPECT_FALSE(is_open(first)) << "a's previous descriptor is closed";
  EXPECT_EQ(a.get(), second);
  EXPECT_EQ(b.get(), -1);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(is_open(second));
}

TEST(UniqueFd, SelfMoveAssignmentKeepsTheDescriptor) {
  const int raw = new_fd();
  UniqueFd a{raw};
  UniqueFd& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnershipWithoutClosing) {
  const int raw = new_fd();
  int released;
  {
    UniqueFd fd{raw};
    released = fd.release();
    EXPECT_FALSE(fd);
    EXPECT_EQ(fd.get(), -1);
  }
  EXPECT_EQ(released, raw);
  EXPECT_TRUE(is_open(raw)) << "after release() the caller owns the fd";
  ::close(raw);
}

TEST(UniqueFd, ResetClosesAndAdopts) {
  const int first = new_fd();
  const int second = new_fd();
  UniqueFd fd{first};
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_FALSE(is_open(second));
  EXPECT_FALSE(fd);
}

TEST(UniqueFd, DupCloexecIsANewCloseOnExecDescriptorOfTheSameFile) {
  // Start from a descriptor WITHOUT close-on-exec, so the flag must come from dup_cloexec.
  UniqueFd fd{::memfd_create("unique-fd-dup", 0)};
  ASSERT_TRUE(fd);
  ASSERT_EQ(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  UniqueFd dup = fd.dup_cloexec();
  ASSERT_TRUE(dup);
  EXPECT_NE(dup.get(), fd.get());
  EXPECT_NE(::fcntl(dup.get(), F_GETFD) & FD_CLOEXEC, 0);
  struct stat a{}, b{};
  ASSERT_EQ(::fstat(fd.get(), &a), 0);
  ASSERT_EQ(::fstat(dup.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
  // Independent lifetime: closing the original leaves the duplicate usable.
  fd.reset();
  EXPECT_TRUE(is_open(dup.get()));
  EXPECT_EQ(::ftruncate(dup.get(), 4096), 0);
}

TEST(UniqueFd, DupOfEmptyIsEmpty) {
  UniqueFd fd;
  EXPECT_FALSE(fd.dup_cloexec());
}

TEST(CountOpenFds, ChangesByOneWhenAnFdOpensAndCloses) {
  const int before = count_open_fds();
  ASSERT_GE(before, 3) << "stdin, stdout and stderr at least";
  {
    UniqueFd fd{new_fd()};
    EXPECT_EQ(count_open_fds(), before + 1);
    UniqueFd dup = fd.dup_cloexec();
    EXPECT_EQ(count_open_fds(), before + 2);
  }
  EXPECT_EQ(count_open_fds(), before);
}

}  // namespace
}  // namespace zc
