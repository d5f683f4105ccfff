// SharedMemory, Value, Array, RawValue and RawArray between processes,
// under every start method.
#include "multiprocessing/shared_memory/shared_memory.h"

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"
#include "multiprocessing/shared_memory/sharedctypes.h"

namespace mp {
namespace {

// Writes "child" at the start of the segment and checks its name and size.
int WriteChild(SharedMemory& shm, std::string& name, int64_t size) {
  if (shm.closed() || shm.name() != name ||
      shm.size() != static_cast<std::size_t>(size)) {
    return 1;
  }
  std::memcpy(shm.buf().data(), "child", 5);
  return 0;
}
MP_REGISTER_TARGET(WriteChild);

// Attaches by name (not by the handle passed) and writes "named".
int AttachAndWrite(std::string& name) {
  absl::StatusOr<SharedMemory> shm = SharedMemory::Attach(name);
  if (!shm.ok()) return 1;
  std::memcpy(shm->buf().data() + 10, "named", 5);
  return 0;
}
MP_REGISTER_TARGET(AttachAndWrite);

constexpr int kIncrements = 100000;

// value += 1 under get_lock(), kIncrements times.
int IncrementValue(Value<int64_t>& v) {
  for (int i = 0; i < kIncrements; ++i) {
    std::lock_guard<RLock> guard(*v.get_lock());
    *v.get_obj() += 1;
  }
  return 0;
}
MP_REGISTER_TARGET(IncrementValue);

// Checks what the parent put, then writes its own.
int CheckAndFill(Value<double>& d, Array<int32_t>& a, RawValue<int16_t>& rv,
                 RawArray<char>& ra, Value<int64_t>& unlocked) {
  if (d.value() != 2.5 || a.size() != 5 || a.Get(4).value() != 4 ||
      rv.value() != -7 || ra.size() != 3 || ra[0] != 'a' ||
      unlocked.get_lock() != nullptr || unlocked.value() != 9) {
    return 1;
  }
  d.set_value(-1.25);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a.Set(i, static_cast<int32_t>(10 * i)).ok()) return 2;
  }
  rv.set_value(123);
  ra[2] = 'z';
  unlocked.set_value(10);
  return 0;
}
MP_REGISTER_TARGET(CheckAndFill);

using SharedMemoryTest = ::mp::test_util::EveryStartMethod;

TEST_P(SharedMemoryTest, ChildSeesTheSegmentPassedAndByName) {
  SharedMemory shm = SharedMemory::Create(64).value();
  Process p = Make(WriteChild, shm, shm.name(), int64_t{64});
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.buf().data()), 5), "child");
  Process q = Make(AttachAndWrite, shm.name());
  ASSERT_TRUE(q.Start().ok());
  ASSERT_TRUE(q.Join().ok());
  EXPECT_EQ(q.exitcode(), 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.buf().data()) + 10, 5),
            "named");
  EXPECT_TRUE(shm.Unlink().ok());
}

TEST_P(SharedMemoryTest, AnUnlinkedSegmentStillReachesAChildByHandle) {
  SharedMemory shm = SharedMemory::Create(64).value();
  ASSERT_TRUE(shm.Unlink().ok());
  Process p = Make(WriteChild, shm, shm.name(), int64_t{64});
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(shm.buf().data()), 5), "child");
}

TEST_P(SharedMemoryTest, ValueIncrementedByFourProcessesUnderItsLockIsExact) {
  Value<int64_t> v = Value<int64_t>::Create(0).value();
  std::vector<Process> processes;
  for (int i = 0; i < 4; ++i) processes.push_back(Make(IncrementValue, v));
  for (Process& p : processes) ASSERT_TRUE(p.Start().ok());
  for (Process& p : processes) {
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
  EXPECT_EQ(v.value(), 4 * kIncrements);
}

TEST_P(SharedMemoryTest, ValuesAndArraysCrossToChildren) {
  Value<double> d = Value<double>::Create(2.5).value();
  const int32_t init[] = {0, 1, 2, 3, 4};
  Array<int32_t> a = Array<int32_t>::Create(absl::MakeConstSpan(init)).value();
  RawValue<int16_t> rv = RawValue<int16_t>::Create(-7).value();
  RawArray<char> ra =
      RawArray<char>::Create(absl::MakeConstSpan("abc", 3)).value();
  Value<int64_t> unlocked = Value<int64_t>::Create(9, /*lock=*/false).value();
  EXPECT_EQ(unlocked.get_lock(), nullptr);
  EXPECT_NE(d.get_lock(), nullptr);
  EXPECT_EQ(a.Get(5).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(a.Set(5, 1).code(), absl::StatusCode::kOutOfRange);
  Process p = Make(CheckAndFill, d, a, rv, ra, unlocked);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(d.value(), -1.25);
  EXPECT_EQ(a.Get(3).value(), 30);
  EXPECT_EQ(rv.value(), 123);
  EXPECT_EQ(ra[2], 'z');
  EXPECT_EQ(unlocked.value(), 10);
  // A value shares a given lock.
  RLock lock = RLock::Create().value();
  Value<int32_t> shared = Value<int32_t>::Create(1, lock).value();
  ASSERT_TRUE(lock.Acquire().value());
  EXPECT_TRUE(shared.get_lock()->IsMine());
  ASSERT_TRUE(lock.Release().ok());
}

TEST(SharedMemoryErrorsTest, PythonsErrors) {
  EXPECT_EQ(SharedMemory::Create(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  SharedMemory shm = SharedMemory::Create(10).value();
  EXPECT_EQ(shm.size(), 10u);
  EXPECT_EQ(shm.name().rfind(
#ifdef _WIN32
                "wnsm_",
#else
                "psm_",
#endif
                0),
            0u);
  // CPython's: a prefix and 8 hex digits, 14 characters at most with the
  // POSIX slash.
  EXPECT_LE(shm.name().size(), 13u);
  EXPECT_EQ(
      shm.name().find_first_not_of("0123456789abcdef", shm.name().size() - 8),
      std::string::npos);
  EXPECT_EQ(SharedMemory::Create(10, shm.name()).status().code(),
            absl::StatusCode::kAlreadyExists);
  SharedMemory same = SharedMemory::Attach(shm.name()).value();
  same.buf()[3] = 42;
  EXPECT_EQ(shm.buf()[3], 42);
  same.Close();
  EXPECT_TRUE(same.closed());
  EXPECT_FALSE(shm.closed());
  ASSERT_TRUE(shm.Unlink().ok());
  shm.Close();
#ifndef _WIN32
  EXPECT_EQ(shm.Unlink().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SharedMemory::Attach(shm.name()).status().code(),
            absl::StatusCode::kNotFound);
#endif
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(SharedMemoryTest);

}  // namespace
}  // namespace mp
