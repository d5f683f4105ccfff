// Signals in children: a spawned child starts with nothing blocked and
// every signal at its default action (except the ones it is told to keep);
// a forked child keeps its parent's mask and dispositions. POSIX only.
#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

// "<blocked> <ignored>" for `sig`, as 0/1.
int Report(Connection& out, int sig) {
  const std::string state =
      absl::StrCat(test_util::IsSignalBlocked(sig) ? 1 : 0, " ",
                   test_util::IsSignalIgnored(sig) ? 1 : 0);
  return out.Send(state).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(Report);

using SignalTest = test_util::EveryStartMethod;

// What a child reports about `sig` while this thread blocks SIGUSR2 and
// ignores SIGHUP, the child keeping `kept`.
std::string ChildSees(StartMethod method, int sig, std::vector<int> kept) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process p(Report, std::ref(sender), sig);
  EXPECT_TRUE(p.set_start_method(method).ok());
  EXPECT_TRUE(p.set_spawn_kept_signals(std::move(kept)).ok());
  test_util::SetSignalBlocked(SIGUSR2, true);
  test_util::SetSignalIgnored(SIGHUP, true);
  const absl::Status started = p.Start();
  test_util::SetSignalBlocked(SIGUSR2, false);
  test_util::SetSignalIgnored(SIGHUP, false);
  EXPECT_TRUE(started.ok()) << started;
  if (!started.ok()) return "";
  std::string seen = receiver.Recv<std::string>().value_or("no answer");
  EXPECT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  return seen;
}

TEST_P(SignalTest, SpawnResetsForkKeeps) {
  const bool fork = GetParam() == StartMethod::kFork;
  EXPECT_EQ(ChildSees(GetParam(), SIGUSR2, {}), fork ? "1 0" : "0 0");
  EXPECT_EQ(ChildSees(GetParam(), SIGHUP, {}), fork ? "0 1" : "0 0");
}

TEST_P(SignalTest, KeptSignalsSurviveSpawn) {
  EXPECT_EQ(ChildSees(GetParam(), SIGUSR2, {SIGUSR2, SIGHUP}), "1 0");
  EXPECT_EQ(ChildSees(GetParam(), SIGHUP, {SIGUSR2, SIGHUP}), "0 1");
  // Kept by one: the other is still reset under spawn.
  EXPECT_EQ(ChildSees(GetParam(), SIGHUP, {SIGUSR2}),
            GetParam() == StartMethod::kFork ? "0 1" : "0 0");
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(SignalTest);

}  // namespace
}  // namespace mp
