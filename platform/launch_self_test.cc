// LaunchProgram on every OS, with this test binary as the child: started
// with one of the --child-* switches below, ChildMain() does that and exits
// instead of running the tests. (launch_test.cc covers fork and POSIX.)
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/exit_status.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/platform/test_util.h"

namespace mp::platform {
namespace {

ChildProcess LaunchSelf(const std::string& child_switch,
                        absl::Span<const NativeHandle> inherit = {}) {
  return LaunchProgram({ExecutablePath().value(), child_switch}, inherit)
      .value();
}

int Wait(const ChildProcess& child) {
  return WaitForExit(child, absl::Seconds(30)).value().value();
}

TEST(LaunchSelfTest, ExitCodeComesBack) {
  EXPECT_EQ(Wait(LaunchSelf("--child-exit=7")), 7);
  EXPECT_EQ(Wait(LaunchSelf("--child-exit=0")), 0);
}

TEST(LaunchSelfTest, TerminateAndKillReadBackAsSignals) {
  ChildProcess a = LaunchSelf("--child-sleep");
  ASSERT_TRUE(Terminate(a).ok());
  EXPECT_EQ(Wait(a), -kSigTerm);
  ChildProcess b = LaunchSelf("--child-sleep");
  ASSERT_TRUE(Kill(b).ok());
  EXPECT_EQ(Wait(b), -kSigKill);
}

TEST(LaunchSelfTest, ARunningChildIsUnwaitedUntilItEnds) {
  ASSERT_FALSE(test_util::HasUnwaitedChildren());
  ChildProcess child = LaunchSelf("--child-sleep");
  EXPECT_TRUE(test_util::HasUnwaitedChildren());
  ASSERT_TRUE(Kill(child).ok());
  EXPECT_EQ(Wait(child), -kSigKill);
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
}

TEST(LaunchSelfTest, WaitTimesOutThenTheSentinelFires) {
  ChildProcess child = LaunchSelf("--child-sleep");
  EXPECT_EQ(WaitForExit(child, absl::Milliseconds(50)).value(), std::nullopt);
  const NativeHandle sentinel = child.sentinel.get();
  EXPECT_THAT(WaitReadable({&sentinel, 1}, absl::Milliseconds(50)).value(),
              ::testing::IsEmpty());
  std::thread killer([&] {
    absl::SleepFor(absl::Milliseconds(100));
    Kill(child).IgnoreError();
  });
  EXPECT_THAT(WaitReadable({&sentinel, 1}, absl::Seconds(30)).value(),
              ::testing::ElementsAre(0u));
  killer.join();
  EXPECT_EQ(Wait(child), -kSigKill);
}

TEST(LaunchSelfTest, ChildGetsExactlyTheHandlesItIsGiven) {
  ChannelPair given = CreateOneWayChannel().value();
  ChannelPair not_given = CreateOneWayChannel().value();
  // The child takes `control`'s reader from us (its number is on the
  // command line) and learns there its own value of `given`'s writer.
  ChannelPair control = CreateOneWayChannel().value();
  const NativeHandle h = given.second.get();
  LaunchOptions options;
  options.taken_by_child = {control.first.get()};
  ChildProcess child =
      LaunchProgram({ExecutablePath().value(),
                     absl::StrCat("--child-write-given=", control.first.get())},
                    {&h, 1}, options)
          .value();
  ASSERT_EQ(child.inherited.size(), 1u);
  // Never made inheritable for the launch.
  EXPECT_FALSE(IsInheritable(h).value());
  given.second.reset();  // the child holds the only writer now
  const std::string value = absl::StrCat(child.inherited[0], "\n");
  ASSERT_TRUE(
      WriteAll(control.second.get(), {{value.data(), value.size()}}).ok());
  std::string got(16, '\0');
  got.resize(ReadFull(given.first.get(), got.data(), got.size()).value());
  EXPECT_EQ(got, "hello from child");
  EXPECT_EQ(Wait(child), 0);
  // Its copy was the last writer: end of stream.
  char more;
  EXPECT_EQ(ReadSome(given.first.get(), &more, 1).value(), 0u);
  // A handle that was not given is not there (or not that pipe).
  ChildProcess other =
      LaunchSelf(absl::StrCat("--child-write=", not_given.second.get()));
  EXPECT_EQ(Wait(other), 3);
  // And the parent's handles stay non-inheritable after the call.
  EXPECT_FALSE(IsInheritable(not_given.second.get()).value());
}

TEST(LaunchSelfTest, AChildTakesAHandleFromItsParent) {
  ChannelPair pipe = CreateOneWayChannel().value();
  LaunchOptions options;
  options.taken_by_child = {pipe.second.get()};
  ChildProcess child =
      LaunchProgram(
          {ExecutablePath().value(),
           absl::StrCat("--child-take-and-write=", pipe.second.get())},
          {}, options)
          .value();
  EXPECT_TRUE(child.inherited.empty());
  std::string got(16, '\0');
  got.resize(ReadFull(pipe.first.get(), got.data(), got.size()).value());
  EXPECT_EQ(got, "hello from child");
  EXPECT_EQ(Wait(child), 0);
  // Taken from a process that is not our parent: refused.
  EXPECT_FALSE(
      TakeHandleFromParent(CurrentProcessId(), pipe.second.get()).ok());
}

TEST(LaunchSelfTest, ArgumentsArriveUnchanged) {
  for (const std::string& arg :
       {std::string("two words"), std::string("quote\"inside"),
        std::string("trailing\\"), std::string("back\\\\\"slash"),
        std::string("")}) {
    ChildProcess child =
        LaunchProgram({ExecutablePath().value(), "--child-echo-length", arg},
                      {})
            .value();
    EXPECT_EQ(Wait(child), static_cast<int>(arg.size()) + 1) << arg;
  }
}

TEST(LaunchSelfTest, ProgramNotFoundIsAStatus) {
  EXPECT_FALSE(
      LaunchProgram({"/no/such/program-for-launch-self-test"}, {}).ok());
}

// What a child started with a --child-* switch does; nullopt: run the tests.
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = ProgramArguments();
  if (args.size() < 2) return std::nullopt;
  absl::string_view arg = args[1];
  int n = 0;
  if (absl::ConsumePrefix(&arg, "--child-exit=") && absl::SimpleAtoi(arg, &n)) {
    return n;
  }
  if (arg == "--child-sleep") {
    absl::SleepFor(absl::Seconds(60));
    return 1;
  }
  std::int64_t h = 0;
  if (absl::ConsumePrefix(&arg, "--child-write=") &&
      absl::SimpleAtoi(arg, &h)) {
    const char kText[] = "hello from child";
    return WriteAll(h, {{kText, sizeof(kText) - 1}}).ok() ? 0 : 3;
  }
  if (absl::ConsumePrefix(&arg, "--child-take-and-write=") &&
      absl::SimpleAtoi(arg, &h)) {
    absl::StatusOr<ScopedHandle> taken =
        TakeHandleFromParent(ParentProcessId(), h);
    if (!taken.ok()) return 4;
    const char kText[] = "hello from child";
    return WriteAll(taken->get(), {{kText, sizeof(kText) - 1}}).ok() ? 0 : 3;
  }
  if (absl::ConsumePrefix(&arg, "--child-write-given=") &&
      absl::SimpleAtoi(arg, &h)) {
    // Our value of the writer arrives on the control pipe, as a line.
    absl::StatusOr<ScopedHandle> control =
        TakeHandleFromParent(ParentProcessId(), h);
    if (!control.ok()) return 4;
    std::string line;
    char c = 0;
    while (ReadSome(control->get(), &c, 1).value_or(0) == 1 && c != '\n') {
      line.push_back(c);
    }
    std::int64_t writer = 0;
    if (!absl::SimpleAtoi(line, &writer)) return 5;
    const char kText[] = "hello from child";
    return WriteAll(writer, {{kText, sizeof(kText) - 1}}).ok() ? 0 : 3;
  }
  if (arg == "--child-echo-length") {
    // The argument's length plus one, so that "" is told from a lost one.
    return args.size() == 3 ? static_cast<int>(args[2].size()) + 1 : 100;
  }
  return std::nullopt;
}

MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp::platform
