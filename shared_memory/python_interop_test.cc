// CPython's multiprocessing.shared_memory and mp::SharedMemory attach to
// each other's segments by name, both ways.
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/shared_memory/shared_memory.h"

namespace mp {
namespace {

constexpr char kPeer[] = "shared_memory/testdata/shm_peer.py";

TEST(SharedMemoryPythonTest, PythonAttachesToASegmentCppCreated) {
  SharedMemory shm = SharedMemory::Create(4096).value();
  std::memcpy(shm.buf().data(), "from c++", 8);
  platform::ChildProcess python =
      platform::LaunchProgram({"python3", kPeer, "attach", shm.name()}, {})
          .value();
  EXPECT_EQ(platform::WaitForExit(python, absl::Seconds(60)).value(), 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.buf().data()) + 100, 11),
            "from python");
  // Python's exit did not unlink it.
  EXPECT_TRUE(SharedMemory::Attach(shm.name()).ok());
  EXPECT_TRUE(shm.Unlink().ok());
}

TEST(SharedMemoryPythonTest, CppAttachesToASegmentPythonCreated) {
  SharedMemory probe = SharedMemory::Create(1).value();  // a free name
  const std::string name = absl::StrCat(probe.name(), "_py");
  ASSERT_TRUE(probe.Unlink().ok());
  platform::ChildProcess python =
      platform::LaunchProgram({"python3", kPeer, "create", name}, {}).value();
  absl::StatusOr<SharedMemory> shm;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    absl::SleepFor(absl::Milliseconds(10));
    shm = SharedMemory::Attach(name);
    // Created but not yet filled: look again.
    if (shm.ok() && (shm->size() < 100 || shm->buf()[0] != 'f')) {
      shm = absl::NotFoundError("not yet");
    }
  } while (!shm.ok() && absl::Now() < deadline);
  ASSERT_TRUE(shm.ok()) << shm.status();
  EXPECT_EQ(shm->name(), name);
  EXPECT_EQ(shm->size(), 100u);  // POSIX: exactly what Python asked
  EXPECT_EQ(std::string(reinterpret_cast<char*>(shm->buf().data()), 11),
            "from python");
  shm->buf()[50] = 1;
  EXPECT_EQ(platform::WaitForExit(python, absl::Seconds(60)).value(), 0);
  // Python unlinked it; our mapping still works.
  EXPECT_EQ(SharedMemory::Attach(name).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(shm->buf()[0], 'f');
}

}  // namespace
}  // namespace mp
