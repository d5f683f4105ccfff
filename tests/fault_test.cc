// Fault injection, under both start methods: a sender killed in the middle
// of a 64 MiB message, signal storms (SIGCHLD and an unrelated signal)
// during every kind of blocking call, running out of descriptors, and a
// spawn whose exec fails. Queue faults (killed consumers, a process killed
// holding the queue's lock, producers killed mid-put) are in queue_test.cc.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/queue.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

int SendHuge(Connection& conn) {
  return conn.SendBytes(std::string(64 << 20, 'h')).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SendHuge);

// A SimpleQueue: a forked child that starts a thread (a Queue's feeder)
// while the parent runs one (the storm's) is more than ThreadSanitizer
// supports.
int SleepThenSend(Connection& conn, SimpleQueue<int>& q, int64_t ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return conn.Send(std::string("late")).ok() && q.Put(7).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SleepThenSend);

int SleepMs(int64_t ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return 5;
}
MP_REGISTER_TARGET(SleepMs);

using FaultTest = ::mp::test_util::EveryStartMethod;

TEST_P(FaultTest, ASenderKilledMidMessageIsDataLossNeverAHang) {
  for (int round = 0; round < 3; ++round) {
    auto [ours, theirs] = Pipe().value();
    Process sender = Make(SendHuge, std::move(theirs));
    ASSERT_TRUE(sender.Start().ok());
    // It has started writing once something is readable; the socket buffer
    // holds a small part of 64 MiB, so it is blocked mid-message.
    ASSERT_TRUE(ours.Poll(absl::Seconds(30)).value());
    absl::SleepFor(absl::Milliseconds(20 * round));
    ASSERT_TRUE(sender.Kill().ok());
    ASSERT_TRUE(sender.Join().ok());
    EXPECT_EQ(sender.exitcode(), -SIGKILL);
    absl::StatusOr<std::string> got = ours.RecvBytes();
    ASSERT_FALSE(got.ok()) << "a whole message from a killed sender";
    EXPECT_TRUE(got.status().code() == absl::StatusCode::kDataLoss ||
                IsEof(got.status()))
        << got.status();
    // Whatever followed the torn message is end of stream.
    EXPECT_TRUE(IsEof(ours.RecvBytes().status()));
  }
}

TEST_P(FaultTest, BlockingCallsSurviveSignalStorms) {
  for (const int signal_number : {SIGCHLD, SIGUSR1}) {
    SCOPED_TRACE(signal_number == SIGCHLD ? "SIGCHLD storm" : "SIGUSR1 storm");
    test_util::SignalStorm storm(/*period_us=*/200, signal_number);
    auto [ours, theirs] = Pipe().value();
    SimpleQueue<int> q = SimpleQueue<int>::Create().value();
    Process late = Make(SleepThenSend, std::move(theirs), q, int64_t{300});
    ASSERT_TRUE(late.Start().ok());
    // Blocking receive from a pipe and a queue.
    EXPECT_EQ(ours.Recv<std::string>().value_or("?"), "late");
    EXPECT_EQ(q.Get().value_or(-1), 7);
    // Timeouts still hold: neither cut short nor stretched by the storm.
    Queue<int> empty = Queue<int>::Create().value();
    absl::Time start = absl::Now();
    EXPECT_TRUE(IsEmpty(empty.Get(true, absl::Milliseconds(200)).status()));
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    auto [idle, idle_peer] = Pipe().value();
    start = absl::Now();
    EXPECT_FALSE(idle.Poll(absl::Milliseconds(200)).value());
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
    ASSERT_TRUE(late.Join().ok());
    EXPECT_EQ(late.exitcode(), 0);
    // Join with and without a timeout.
    // Long enough that a Join(100 ms) stretched to the child's exit shows,
    // with room for a loaded machine (sanitizers, parallel tests).
    Process sleeper = Make(SleepMs, int64_t{2000});
    ASSERT_TRUE(sleeper.Start().ok());
    start = absl::Now();
    EXPECT_TRUE(IsTimeout(sleeper.Join(absl::Milliseconds(100))));
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
    EXPECT_TRUE(sleeper.IsAlive());
    ASSERT_TRUE(sleeper.Join().ok());
    EXPECT_EQ(sleeper.exitcode(), 5);
    EXPECT_GT(storm.delivered(), 100);
  }
}

TEST_P(FaultTest, RunningOutOfDescriptorsIsAClearErrorAndRecovers) {
  const int before = platform::CountOpenHandles().value();
  rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = before + 16;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<std::pair<Connection, Connection>> pipes;
  absl::Status exhausted;
  for (int i = 0; i < 100 && exhausted.ok(); ++i) {
    absl::StatusOr<std::pair<Connection, Connection>> p = Pipe();
    if (p.ok()) {
      pipes.push_back(std::move(*p));
    } else {
      exhausted = p.status();
    }
  }
  EXPECT_EQ(exhausted.code(), absl::StatusCode::kResourceExhausted)
      << exhausted;
  // Everything that needs a descriptor fails the same clear way, and
  // leaves nothing behind.
  Process p = Make(SleepMs, int64_t{0});
  const absl::Status start = p.Start();
  EXPECT_EQ(start.code(), absl::StatusCode::kResourceExhausted) << start;
  EXPECT_EQ(Queue<int>::Create().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
  pipes.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(platform::CountOpenHandles().value(), before);
  // Recovered: the same work now succeeds.
  Process again = Make(SleepMs, int64_t{0});
  ASSERT_TRUE(again.Start().ok());
  ASSERT_TRUE(again.Join().ok());
  EXPECT_EQ(again.exitcode(), 5);
  EXPECT_TRUE(Queue<int>::Create().ok());
}

TEST(SpawnFaultTest, AnExecThatFailsIsAClearErrorAndLeavesNothing) {
  const int before = platform::CountOpenHandles().value();
  Context spawn = GetContext(StartMethod::kSpawn).value();
  // A file that is not executable, and one that is but is no program.
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string plain = dir + "/plain", garbage = dir + "/garbage";
  std::ofstream(plain) << "not a program\n";
  std::ofstream(garbage) << "\x7f"
                            "ELF garbage\n";
  ASSERT_EQ(::chmod(plain.c_str(), 0644), 0);
  ASSERT_EQ(::chmod(garbage.c_str(), 0755), 0);
  struct Case {
    std::string executable;
    std::string error;
  };
  for (const Case& c :
       {Case{"/nonexistent/mp-worker", "No such file"},
        Case{plain, "Permission denied"}, Case{garbage, "Exec format error"}}) {
    SetExecutable(c.executable);
    EXPECT_EQ(GetExecutable().value_or(""), c.executable);
    Process p = spawn.Process(SleepMs, int64_t{0});
    const absl::Status s = p.Start();
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(c.error));
    EXPECT_FALSE(p.IsAlive());
  }
  // A program that runs but is not one of ours: it exits without answering.
  SetExecutable("/bin/true");
  Process p = spawn.Process(SleepMs, int64_t{0});
  EXPECT_FALSE(p.Start().ok());
  SetExecutable("");
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
  EXPECT_EQ(platform::CountOpenHandles().value(), before);
  Process good = spawn.Process(SleepMs, int64_t{0});
  ASSERT_TRUE(good.Start().ok());
  ASSERT_TRUE(good.Join().ok());
  EXPECT_EQ(good.exitcode(), 5);
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(FaultTest);

}  // namespace
}  // namespace mp
