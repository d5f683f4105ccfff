#include "multiprocessing/ipc/wait.h"

#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

TEST(WaitTest, FindsTheOneReadyAmongHundreds) {
  std::vector<std::pair<Connection, Connection>> pipes;
  for (int i = 0; i < 300; ++i) pipes.push_back(Pipe().value());
  std::vector<Waitable> objects;
  for (auto& p : pipes) objects.emplace_back(p.first);
  EXPECT_TRUE(Wait(objects, absl::ZeroDuration()).value().empty());
  ASSERT_TRUE(pipes[257].second.SendBytes("x").ok());
  EXPECT_EQ(Wait(objects).value(), std::vector<std::size_t>{257});
  ASSERT_TRUE(pipes[3].second.Close().ok());  // end of stream is ready too
  EXPECT_EQ(Wait(objects).value(), (std::vector<std::size_t>{3, 257}));
}

TEST(WaitTest, Timeouts) {
  auto [a, b] = Pipe().value();
  std::vector<Waitable> objects = {a};
  absl::Time start = absl::Now();
  EXPECT_TRUE(Wait(objects, absl::Seconds(-1)).value().empty());
  EXPECT_TRUE(Wait(objects, absl::Milliseconds(100)).value().empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  std::thread later([&b = b] {
    absl::SleepFor(absl::Milliseconds(50));
    b.SendBytes("x").IgnoreError();
  });
  EXPECT_EQ(Wait(objects, std::nullopt).value().size(), 1u);  // blocks
  later.join();
}

TEST(WaitTest, ListenersAndProcessSentinels) {
  Listener listener = Listener::Create(test_util::LocalAddress("wait")).value();
  // This binary again, as a child that exits at once (see ChildMain()).
  platform::ChildProcess child =
      platform::LaunchProgram(
          {platform::ExecutablePath().value(), "--child-exit"}, {})
          .value();
  std::vector<Waitable> objects = {listener, Waitable(child.sentinel.get())};
  EXPECT_EQ(Wait(objects, absl::Seconds(30)).value(),
            std::vector<std::size_t>{1});
  ASSERT_TRUE(platform::WaitForExit(child, std::nullopt).ok());
  Connection client = Client(listener.address()).value();
  EXPECT_EQ(Wait({listener}, absl::Seconds(30)).value(),
            std::vector<std::size_t>{0});
}

TEST(WaitTest, ClosedObjectIsAnError) {
  auto [a, b] = Pipe().value();
  ASSERT_TRUE(a.Close().ok());
  EXPECT_EQ(Wait({a}).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Started with --child-exit: exits at once (a sentinel to wait for).
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = platform::ProgramArguments();
  if (args.size() == 2 && args[1] == "--child-exit") return 0;
  return std::nullopt;
}
MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp
