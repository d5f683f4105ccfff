// What only the forkserver start method does: a server forks the children,
// so a multithreaded parent is safe, errors of the child's preparation come
// back from Start(), exit codes and signals travel through the server, and
// nothing is left behind. (The behaviours every start method shares run
// under forkserver too: start_method_test and the other EveryStartMethod
// tests.)
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

using ::testing::HasSubstr;

int ReturnCode(int code) { return code; }
MP_REGISTER_TARGET(ReturnCode);

// An int argument; the child wants 0..255, as a uint8_t.
int TakesByte(std::uint8_t b) { return b; }
MP_REGISTER_TARGET(TakesByte);

void SleepMs(int ms) { absl::SleepFor(absl::Milliseconds(ms)); }
MP_REGISTER_TARGET(SleepMs);

// Set by the preload function in the server, seen by its children.
int preloaded = 0;
void Preload() { preloaded = 42; }
MP_REGISTER_TARGET(Preload);
int ReturnPreloaded() { return preloaded; }
MP_REGISTER_TARGET(ReturnPreloaded);

Process Forkserved(Process p) {
  EXPECT_TRUE(p.set_start_method(StartMethod::kForkserver).ok());
  return p;
}

int ExitCodeOf(Process p) {
  absl::Status s = p.Start();
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return -1000;
  EXPECT_TRUE(p.Join().ok());
  return p.exitcode().value_or(-1000);
}

TEST(ForkserverTest, WorksInAParentThatRunsThreads) {
  // Threads that hold a lock and allocate all the time: a fork of this
  // process could copy the lock held; the server runs no thread.
  std::mutex mu;
  std::vector<std::string> garbage;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        std::lock_guard<std::mutex> lock(mu);
        garbage.assign(100, std::string(1000, 'x'));
      }
    });
  }
  // Started from this thread and from two others at once: serialised.
  std::vector<std::thread> starters;
  std::atomic<int> right{0};
  for (int t = 0; t < 3; ++t) {
    starters.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (ExitCodeOf(Forkserved(Process(ReturnCode, 10 * t + i))) ==
            10 * t + i) {
          ++right;
        }
      }
    });
  }
  for (std::thread& t : starters) t.join();
  EXPECT_EQ(right, 15);
  stop = true;
  for (std::thread& t : threads) t.join();
}

TEST(ForkserverTest, PreparationErrorsComeBackFromStart) {
  Process unregistered = Forkserved(Process([] { return 0; }));
  absl::Status s = unregistered.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("MP_REGISTER_TARGET"));
  EXPECT_EQ(unregistered.pid(), std::nullopt);

  Process undecodable = Forkserved(Process(TakesByte, 300));
  s = undecodable.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("arguments of target TakesByte"));
  EXPECT_TRUE(ActiveChildren().empty());

  EXPECT_EQ(ExitCodeOf(Forkserved(Process(TakesByte, 200))), 200);
}

TEST(ForkserverTest, ExitCodesAndSignals) {
  EXPECT_EQ(ExitCodeOf(Forkserved(Process(ReturnCode, 0))), 0);
  EXPECT_EQ(ExitCodeOf(Forkserved(Process(ReturnCode, 7))), 7);
  Process killed = Forkserved(Process(SleepMs, 30000));
  ASSERT_TRUE(killed.Start().ok());
  EXPECT_TRUE(killed.IsAlive());
  EXPECT_EQ(killed.exitcode(), std::nullopt);
  ASSERT_TRUE(killed.Kill().ok());
  ASSERT_TRUE(killed.Join(absl::Seconds(20)).ok());
  EXPECT_EQ(killed.exitcode(), -9);
  Process terminated = Forkserved(Process(SleepMs, 30000));
  ASSERT_TRUE(terminated.Start().ok());
  ASSERT_TRUE(terminated.Terminate().ok());
  ASSERT_TRUE(terminated.Join(absl::Seconds(20)).ok());
  EXPECT_EQ(terminated.exitcode(), -15);
  EXPECT_TRUE(test_util::IsGone(*terminated.pid()));
}

TEST(ForkserverTest, AHundredStartsLeakNoHandles) {
  EXPECT_EQ(ExitCodeOf(Forkserved(Process(ReturnCode, 0))), 0);  // the server
  const int before = platform::CountOpenHandles().value();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(ExitCodeOf(Forkserved(Process(ReturnCode, i))), i);
  }
  // Errors leak nothing either.
  EXPECT_FALSE(Forkserved(Process(TakesByte, 300)).Start().ok());
  auto [mine, theirs] = Pipe().value();
  {
    Process with_handle([](Connection&) { return 0; },
                        std::move(theirs));  // unregistered
    EXPECT_FALSE(Forkserved(std::move(with_handle)).Start().ok());
  }
  EXPECT_EQ(platform::CountOpenHandles().value(), before + 1);  // `mine`
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
}

// In a fork child, which starts its own server with the preload set.
int PreloadInANewServer() {
  if (!SetForkserverPreload({"Preload"}).ok()) return 100;
  if (SetForkserverPreload({"NotRegistered"}).code() !=
      absl::StatusCode::kInvalidArgument) {
    return 101;
  }
  Process p = Forkserved(Process(ReturnPreloaded));
  if (!p.Start().ok() || !p.Join().ok()) return 102;
  return p.exitcode().value_or(103);
}

TEST(ForkserverTest, PreloadRunsInTheServerBeforeItForks) {
  Process p(PreloadInANewServer);
  ASSERT_TRUE(p.set_start_method(StartMethod::kFork).ok());
  EXPECT_EQ(ExitCodeOf(std::move(p)), 42);
  EXPECT_EQ(preloaded, 0);  // not here
}

}  // namespace
}  // namespace mp
