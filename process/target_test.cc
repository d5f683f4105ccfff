#include "multiprocessing/process/target.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec.h"

namespace mp::process_internal {
namespace {

int Add(int a, int b) { return a + b; }
MP_REGISTER_TARGET(Add);
MP_REGISTER_TARGET(Add);  // twice with the same function: harmless

absl::Status Check(std::string s) {
  return s.empty() ? absl::InvalidArgumentError("empty") : absl::OkStatus();
}
MP_REGISTER_TARGET(Check);

TEST(TargetTest, RegisteredTargetsAreFoundByNameAndByFunction) {
  const RegisteredTarget* by_name = FindTarget("Add");
  ASSERT_NE(by_name, nullptr);
  EXPECT_EQ(by_name, FindTarget(reinterpret_cast<ErasedFunction>(&Add)));
  EXPECT_EQ(FindTarget("Missing"), nullptr);
}

TEST(TargetTest, EncodedArgumentsBindAndRun) {
  BoundTarget<int (*)(int, int), int, int> original(&Add, 2, 3);
  EXPECT_EQ(original.function(), reinterpret_cast<ErasedFunction>(&Add));
  std::string encoded;
  HandleTable handles;
  ASSERT_TRUE(original.EncodeArguments(&encoded, &handles).ok());
  EXPECT_TRUE(handles.handles().empty());
  const RegisteredTarget* add = FindTarget("Add");
  absl::StatusOr<std::unique_ptr<Target>> bound =
      add->bind(add->function, encoded, nullptr);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ((*bound)->Run().value(), 5);
}

TEST(TargetTest, BadArgumentsAreErrors) {
  const RegisteredTarget* add = FindTarget("Add");
  std::string one_int;
  ASSERT_TRUE(Encode(std::make_tuple(1), &one_int).ok());
  EXPECT_EQ(add->bind(add->function, one_int, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(add->bind(add->function, "\x80\x04K", nullptr).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(TargetTest, ReturnValuesBecomeExitCodes) {
  const RegisteredTarget* check = FindTarget("Check");
  std::string empty;
  ASSERT_TRUE(Encode(std::make_tuple(std::string()), &empty).ok());
  absl::StatusOr<std::unique_ptr<Target>> bound =
      check->bind(check->function, empty, nullptr);
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ((*bound)->Run().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TargetTest, LambdasAreNotFunctions) {
  auto lambda = [] { return 0; };
  BoundTarget<decltype(lambda)> target(lambda);
  EXPECT_EQ(target.function(), nullptr);
  std::string encoded;
  HandleTable handles;
  EXPECT_TRUE(target.EncodeArguments(&encoded, &handles).ok());  // none
}

}  // namespace
}  // namespace mp::process_internal
