// The behaviours of mp::Process that do not depend on how the child is made,
// run once with the fork start method and once with spawn. Targets are
// registered functions, so both methods can run them.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/exit_status.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

using ::testing::HasSubstr;

int ReturnCode(int code) { return code; }
MP_REGISTER_TARGET(ReturnCode);

void ReturnNothing() {}
MP_REGISTER_TARGET(ReturnNothing);

absl::Status FailWith(std::string message) {
  return absl::InternalError(message);
}
MP_REGISTER_TARGET(FailWith);

int Throw(std::string message) { throw std::runtime_error(message); }
MP_REGISTER_TARGET(Throw);

int CallExit(int code) { Exit(code); }
MP_REGISTER_TARGET(CallExit);

int CallAbort() { std::abort(); }
MP_REGISTER_TARGET(CallAbort);

void SleepMs(int ms) { absl::SleepFor(absl::Milliseconds(ms)); }
MP_REGISTER_TARGET(SleepMs);

// Sends back each int it receives, plus one, until end of stream.
int AddOne(Connection& conn) {
  for (;;) {
    absl::StatusOr<int> n = conn.Recv<int>();
    if (IsEof(n.status())) return 0;
    if (!n.ok() || !conn.Send(*n + 1).ok()) return 1;
  }
}
MP_REGISTER_TARGET(AddOne);

// Reports who the child thinks it is.
int Identify(Connection& out) {
  std::optional<ParentProcessInfo> parent = ParentProcess();
  absl::Status s = out.Send(std::make_tuple(
      CurrentProcess().name(), CurrentProcess().daemon(),
      CurrentProcess().authkey(), CurrentProcess().pid(),
      parent ? parent->name : std::string("none"),
      parent ? parent->pid : int64_t{-1}, parent && parent->IsAlive()));
  return s.ok() ? 0 : 1;
}
MP_REGISTER_TARGET(Identify);

int SayJoinedAfter300Ms(Connection& out) {
  absl::SleepFor(absl::Milliseconds(300));
  return out.Send(std::string("joined")).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SayJoinedAfter300Ms);

// Starts a daemonic child that would sleep for 30 s and a non-daemonic one
// that says "joined" after 300 ms, reports their pids, and returns: the exit
// function must terminate the first and wait for the second.
int ParentOfTwo(Connection& out) {
  Process daemon(SleepMs, 30000);
  if (!daemon.set_daemon(true).ok() || !daemon.Start().ok()) return 1;
  Process worker(SayJoinedAfter300Ms, std::ref(out));
  if (!worker.Start().ok()) return 2;
  if (!out.Send(std::make_pair(*daemon.pid(), *worker.pid())).ok()) return 3;
  return 0;
}
MP_REGISTER_TARGET(ParentOfTwo);

// Starts a child that sleeps, reports its pid, then sleeps itself.
int ParentOfSleeper(Connection& out) {
  Process sleeper(SleepMs, 60000);
  if (!sleeper.Start().ok()) return 1;
  if (!out.Send(*sleeper.pid()).ok()) return 2;
  absl::SleepFor(absl::Seconds(60));
  return 0;
}
MP_REGISTER_TARGET(ParentOfSleeper);

// Starts a child that outlives it (set_dies_with_parent(false)) and sleeps
// for 3 s, reports its pid, and sleeps.
int ParentOfOrphan(Connection& out) {
  Process orphan(SleepMs, 3000);
  if (!orphan.set_dies_with_parent(false).ok() || !orphan.Start().ok()) {
    return 1;
  }
  if (!out.Send(*orphan.pid()).ok()) return 2;
  absl::SleepFor(absl::Seconds(60));
  return 0;
}
MP_REGISTER_TARGET(ParentOfOrphan);

class StartMethodTest : public ::mp::test_util::EveryStartMethod {
 protected:
  // Starts `p`, waits for it and returns its exit code.
  int ExitCodeOf(Process p) {
    absl::Status s = p.Start();
    EXPECT_TRUE(s.ok()) << s;
    s = p.Join();
    EXPECT_TRUE(s.ok()) << s;
    return p.exitcode().value_or(-1000);
  }
};

bool IsReadable(platform::NativeHandle h, absl::Duration timeout) {
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable({&h, 1}, timeout);
  return ready.ok() && !ready->empty();
}

TEST_P(StartMethodTest, TheMethodIsTheOneAskedFor) {
  EXPECT_EQ(Make(ReturnNothing).start_method(), GetParam());
}

TEST_P(StartMethodTest, ExitCodes) {
  EXPECT_EQ(ExitCodeOf(Make(ReturnCode, 0)), 0);
  EXPECT_EQ(ExitCodeOf(Make(ReturnCode, 7)), 7);
  EXPECT_EQ(ExitCodeOf(Make(ReturnNothing)), 0);
  EXPECT_EQ(ExitCodeOf(Make(CallExit, 3)), 3);
  EXPECT_EQ(ExitCodeOf(Make(CallAbort)), test_util::kAbortExitCode);
}

TEST_P(StartMethodTest, FailureIsExitCodeOneAndPrinted) {
  ::testing::internal::CaptureStderr();
  Process failing = Make(FailWith, std::string("bad thing"));
  ASSERT_TRUE(failing.set_name("failing").ok());
  Process throwing = Make(Throw, std::string("boom"));
  ASSERT_TRUE(throwing.set_name("throwing").ok());
  const int failed = ExitCodeOf(std::move(failing));
  const int threw = ExitCodeOf(std::move(throwing));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(threw, 1);
  EXPECT_THAT(err, HasSubstr("Process failing: INTERNAL: bad thing"));
  EXPECT_THAT(err, HasSubstr("Process throwing: boom"));
}

TEST_P(StartMethodTest, TerminateAndKill) {
  Process a = Make(SleepMs, 30000);
  Process b = Make(SleepMs, 30000);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_TRUE(a.IsAlive());
  EXPECT_EQ(a.exitcode(), std::nullopt);
  ASSERT_TRUE(a.Terminate().ok());
  ASSERT_TRUE(b.Kill().ok());
  ASSERT_TRUE(a.Join().ok());
  ASSERT_TRUE(b.Join().ok());
  EXPECT_EQ(a.exitcode(), -platform::kSigTerm);
  EXPECT_EQ(b.exitcode(), -platform::kSigKill);
  EXPECT_FALSE(a.IsAlive());
  // After the exit: nothing to do, and the exit code stays.
  EXPECT_TRUE(a.Terminate().ok());
  EXPECT_TRUE(a.Kill().ok());
  EXPECT_EQ(a.exitcode(), -platform::kSigTerm);
}

TEST_P(StartMethodTest, JoinTimeoutAndSentinel) {
  Process p = Make(SleepMs, 1000);
  ASSERT_TRUE(p.Start().ok());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(IsTimeout(p.Join(absl::Milliseconds(50))));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_TRUE(IsTimeout(p.Join(absl::ZeroDuration())));
  EXPECT_TRUE(IsTimeout(p.Join(absl::Seconds(-1))));
  EXPECT_TRUE(p.IsAlive());
  const platform::NativeHandle sentinel = p.sentinel().value();
  EXPECT_FALSE(IsReadable(sentinel, absl::ZeroDuration()));
  EXPECT_TRUE(IsReadable(sentinel, absl::Seconds(10)));
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(StartMethodTest, AConnectionArgumentWorksInTheChild) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(AddOne, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(mine.Send(i).ok());
    EXPECT_EQ(mine.Recv<int>().value(), i + 1);
  }
  ASSERT_TRUE(mine.Close().ok());  // the only writer left: the child sees EOF
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(StartMethodTest, TheChildKnowsItsNameDaemonFlagAuthkeyAndParent) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(Identify, std::move(theirs));
  ASSERT_TRUE(p.set_name("identified").ok());
  ASSERT_TRUE(p.set_daemon(true).ok());
  EXPECT_EQ(p.authkey(), CurrentProcess().authkey());  // inherited by default
  EXPECT_EQ(p.authkey().size(), 32u);
  ASSERT_TRUE(p.set_authkey("child key").ok());
  ASSERT_TRUE(p.Start().ok());
  auto got = mine.Recv<std::tuple<std::string, bool, std::string, int64_t,
                                  std::string, int64_t, bool>>();
  ASSERT_TRUE(got.ok()) << got.status();
  auto [name, daemon, authkey, pid, parent_name, parent_pid, parent_alive] =
      *got;
  EXPECT_EQ(name, "identified");
  EXPECT_TRUE(daemon);
  EXPECT_EQ(authkey, "child key");
  EXPECT_EQ(pid, *p.pid());
  EXPECT_EQ(parent_name, CurrentProcess().name());
  EXPECT_EQ(parent_pid, CurrentProcess().pid());
  EXPECT_TRUE(parent_alive);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(StartMethodTest, AHundredConcurrentChildrenLeaveNothingBehind) {
  EXPECT_EQ(ExitCodeOf(Make(ReturnCode, 0)), 0);  // warm up lazy state
  const int before = platform::CountOpenHandles().value();
  std::vector<Process> children;
  for (int i = 0; i < 100; ++i) {
    children.push_back(Make(ReturnCode, i));
    absl::Status s = children.back().Start();
    ASSERT_TRUE(s.ok()) << "child " << i << ": " << s;
  }
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(children[i].Join().ok());
    EXPECT_EQ(children[i].exitcode(), i);
  }
  EXPECT_TRUE(ActiveChildren().empty());
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
  children.clear();
  EXPECT_EQ(platform::CountOpenHandles().value(), before);
}

TEST_P(StartMethodTest, ActiveChildrenReapsAndListsTheRunningOnes) {
  Process quick = Make(ReturnCode, 5);
  Process slow = Make(SleepMs, 30000);
  ASSERT_TRUE(slow.set_name("slow").ok());
  ASSERT_TRUE(quick.Start().ok());
  ASSERT_TRUE(slow.Start().ok());
  ASSERT_TRUE(IsReadable(quick.sentinel().value(), absl::Seconds(10)));
  std::vector<ChildInfo> active = ActiveChildren();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].pid, *slow.pid());
  EXPECT_EQ(active[0].name, "slow");
  EXPECT_TRUE(test_util::IsGone(*quick.pid()));  // reaped by ActiveChildren
  EXPECT_EQ(quick.exitcode(), 5);                // and its code kept
  ASSERT_TRUE(slow.Kill().ok());
  ASSERT_TRUE(slow.Join().ok());
  EXPECT_TRUE(ActiveChildren().empty());
}

TEST_P(StartMethodTest, ExitTerminatesDaemonsAndJoinsTheOthers) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(ParentOfTwo, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  auto pids = mine.Recv<std::pair<int64_t, int64_t>>();
  ASSERT_TRUE(pids.ok()) << pids.status();
  // The non-daemonic grandchild speaks before its parent ends: joined.
  EXPECT_EQ(mine.Recv<std::string>().value_or("?"), "joined");
  // The daemonic one sleeps 30 s unless terminated; its parent waits for it.
  absl::Status joined = p.Join(absl::Seconds(20));
  ASSERT_TRUE(joined.ok()) << joined;
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_TRUE(test_util::WaitUntilGone(pids->first, absl::Seconds(10)));
  EXPECT_TRUE(test_util::WaitUntilGone(pids->second, absl::Seconds(10)));
}

TEST_P(StartMethodTest, ChildrenDieWithTheirParent) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(ParentOfSleeper, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<int64_t> grandchild = mine.Recv<int64_t>();
  ASSERT_TRUE(grandchild.ok()) << grandchild.status();
  ASSERT_TRUE(test_util::ProcessExists(*grandchild));
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
  // The grandchild is killed with its parent and reaped by whoever adopted
  // it (init or the sandbox's reaper): within a bounded time it is gone.
  EXPECT_TRUE(test_util::WaitUntilGone(*grandchild, absl::Seconds(10)))
      << "the grandchild outlived its parent";
}

TEST_P(StartMethodTest, AChildAskedToOutliveItsParentDoes) {
  auto [mine, theirs] = Pipe().value();
  Process p = Make(ParentOfOrphan, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<int64_t> orphan = mine.Recv<int64_t>();
  ASSERT_TRUE(orphan.ok()) << orphan.status();
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
  // Its parent is gone; it still runs, then ends on its own (3 s).
  EXPECT_FALSE(test_util::WaitUntilGone(*orphan, absl::Milliseconds(500)))
      << "the child died with its parent";
  EXPECT_TRUE(test_util::WaitUntilGone(*orphan, absl::Seconds(20)));
  Process started(SleepMs, 0);
  ASSERT_TRUE(started.Start().ok());
  EXPECT_EQ(started.set_dies_with_parent(false).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(started.Join().ok());
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(StartMethodTest);

}  // namespace
}  // namespace mp
