// POSIX named shared memory: CPython's names and mode, no descriptor or
// segment left after 1,000 create/unlink cycles, and the tracker that
// unlinks what a creator left when it ends (killed or not).
#include "multiprocessing/platform/named_shared_memory.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/launch.h"

namespace mp::platform {
namespace {

int CountDevShm() {
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return -1;
  int n = 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

// A name nobody uses.
std::string FreshName(absl::string_view tag) {
  return absl::StrCat("mp_test_", tag, "_", CurrentProcessId(), "_",
                      absl::ToUnixNanos(absl::Now()));
}

bool GoneWithin(const std::string& name, absl::Duration d) {
  const absl::Time deadline = absl::Now() + d;
  while (NamedSharedMemoryExists(name)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(NamedSharedMemoryTest, CreatedWithMode0600AndExclusive) {
  NamedSharedMemory m = NamedSharedMemory::Create("", 100).value();
  struct stat st;
  ASSERT_EQ(::stat(absl::StrCat("/dev/shm/", m.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 100);
  EXPECT_EQ(NamedSharedMemory::Create(m.name(), 100).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(NamedSharedMemory::Create("a/b", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(UnlinkNamedSharedMemory(m.name()).ok());
}

TEST(NamedSharedMemoryTest, ThousandCreateUnlinkCyclesLeaveNothing) {
  // The tracker starts at the first segment: start it before counting.
  NamedSharedMemory first = NamedSharedMemory::Create("", 1).value();
  ASSERT_TRUE(UnlinkNamedSharedMemory(first.name()).ok());
  first.Close();
  const int fds = CountOpenHandles().value();
  const int segments = CountDevShm();
  for (int i = 0; i < 1000; ++i) {
    NamedSharedMemory m = NamedSharedMemory::Create("", 4096).value();
    static_cast<char*>(m.data())[0] = 1;
    NamedSharedMemory other = NamedSharedMemory::Open(m.name()).value();
    ASSERT_EQ(static_cast<char*>(other.data())[0], 1);
    ASSERT_TRUE(UnlinkNamedSharedMemory(m.name()).ok());
  }
  EXPECT_EQ(CountOpenHandles().value(), fds);
  EXPECT_EQ(CountDevShm(), segments);
}

// The creator ends without Unlink: killed, or exiting normally. Its
// tracker unlinks the segment; a segment it did unlink is left alone, and
// an attacher's exit unlinks nothing.
TEST(NamedSharedMemoryTest, TrackerUnlinksWhatAnEndedCreatorLeft) {
  const std::string killed = FreshName("killed");
  const std::string exited = FreshName("exited");
  const std::string untracked = FreshName("untracked");
  for (const std::string* name : {&killed, &exited}) {
    const bool kill_self = name == &killed;
    ChildProcess child =
        ForkAndRun({}, [&] {
          if (!NamedSharedMemory::Create(*name, 10).ok()) return 1;
          if (!NamedSharedMemory::Create(untracked, 10, /*track=*/false).ok()) {
            return 2;
          }
          if (kill_self) ::kill(::getpid(), SIGKILL);
          return 0;
        }).value();
    absl::StatusOr<std::optional<int>> code =
        WaitForExit(child, absl::Seconds(30));
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(**code, kill_self ? -SIGKILL : 0);
    EXPECT_TRUE(GoneWithin(*name, absl::Seconds(10))) << *name;
    // Untracked: left, as asked.
    EXPECT_TRUE(NamedSharedMemoryExists(untracked));
    ASSERT_TRUE(UnlinkNamedSharedMemory(untracked).ok());
  }

  const std::string mine = FreshName("mine");
  NamedSharedMemory m = NamedSharedMemory::Create(mine, 10).value();
  ChildProcess attacher = ForkAndRun({}, [&] {
                            return NamedSharedMemory::Open(mine).ok() ? 0 : 1;
                          }).value();
  EXPECT_EQ(*WaitForExit(attacher, absl::Seconds(30)).value(), 0);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(NamedSharedMemoryExists(mine));
  EXPECT_TRUE(UnlinkNamedSharedMemory(mine).ok());
  EXPECT_EQ(UnlinkNamedSharedMemory(mine).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mp::platform
