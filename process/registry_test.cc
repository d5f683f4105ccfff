// The registry's children are this test binary run again: started with
// --child-exit=N --child-sleep-ms=M, ChildMain() sleeps and exits with N
// instead of running the tests.
#include "multiprocessing/process/registry.h"

#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/exit_status.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/test_util.h"

namespace mp::process_internal {
namespace {

std::shared_ptr<ChildRecord> Start(int code, absl::Duration sleep,
                                   bool daemon) {
  absl::StatusOr<platform::ChildProcess> child = platform::LaunchProgram(
      {platform::ExecutablePath().value(), absl::StrCat("--child-exit=", code),
       absl::StrCat("--child-sleep-ms=", absl::ToInt64Milliseconds(sleep))},
      {});
  EXPECT_TRUE(child.ok()) << child.status();
  auto record = std::make_shared<ChildRecord>(std::move(*child), "c", daemon);
  ChildRegistry::Get().Add(record);
  return record;
}

TEST(RegistryTest, ActiveReapsExitedChildrenAndKeepsTheirCodes) {
  std::shared_ptr<ChildRecord> quick = Start(3, absl::ZeroDuration(), false);
  std::shared_ptr<ChildRecord> slow = Start(0, absl::Seconds(30), false);
  ASSERT_EQ(quick->Wait(absl::Seconds(10)).value(), 3);
  auto active = ChildRegistry::Get().Active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0], slow);
  EXPECT_EQ(slow->Poll(), std::nullopt);
  ASSERT_TRUE(slow->Signal(/*kill=*/true).ok());
  EXPECT_EQ(slow->Wait(std::nullopt).value(), -platform::kSigKill);
  EXPECT_TRUE(slow->Signal(/*kill=*/true).ok());  // reaped: nothing sent
  EXPECT_TRUE(ChildRegistry::Get().Active().empty());
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
}

TEST(RegistryTest, ExitFunctionTerminatesDaemonsAndWaitsForTheRest) {
  std::shared_ptr<ChildRecord> daemon = Start(0, absl::Seconds(30), true);
  std::shared_ptr<ChildRecord> worker =
      Start(4, absl::Milliseconds(200), false);
  ChildRegistry::Get().RunExitFunction();
  EXPECT_EQ(daemon->Poll(), -platform::kSigTerm);
  EXPECT_EQ(worker->Poll(), 4);
  EXPECT_TRUE(ChildRegistry::Get().Active().empty());
}

TEST(RegistryTest, RemoveForgetsAChild) {
  std::shared_ptr<ChildRecord> child = Start(0, absl::ZeroDuration(), false);
  ChildRegistry::Get().Remove(child.get());
  EXPECT_TRUE(ChildRegistry::Get().Active().empty());
  EXPECT_EQ(child->Wait(absl::Seconds(10)).value(), 0);
}

// What a child started by Start() does; nullopt: run the tests.
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = platform::ProgramArguments();
  int code = 0;
  int64_t sleep_ms = 0;
  if (args.size() != 3) return std::nullopt;
  absl::string_view exit_arg = args[1], sleep_arg = args[2];
  if (!absl::ConsumePrefix(&exit_arg, "--child-exit=") ||
      !absl::SimpleAtoi(exit_arg, &code) ||
      !absl::ConsumePrefix(&sleep_arg, "--child-sleep-ms=") ||
      !absl::SimpleAtoi(sleep_arg, &sleep_ms)) {
    return std::nullopt;
  }
  absl::SleepFor(absl::Milliseconds(sleep_ms));
  return code;
}

MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp::process_internal
