#include "platform/error.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace mp {
namespace {

TEST(ErrorTest, PredicatesMatchOnlyTheirOwnErrors) {
  EXPECT_TRUE(IsEof(EofError("x")));
  EXPECT_TRUE(IsTimeout(TimeoutError("x")));
  EXPECT_TRUE(IsEmpty(EmptyError("x")));
  EXPECT_TRUE(IsFull(FullError("x")));
  EXPECT_FALSE(IsEmpty(FullError("x")));
  EXPECT_FALSE(IsFull(EmptyError("x")));
  EXPECT_FALSE(IsEof(TimeoutError("x")));
  EXPECT_FALSE(IsTimeout(absl::OkStatus()));
  EXPECT_FALSE(IsEmpty(absl::UnavailableError("broken pipe")));
}

TEST(ErrorTest, NativeErrorNamesOperationAndSystemText) {
  absl::Status s = platform::NativeError(EMFILE, "socketpair");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("socketpair"), absl::string_view::npos);
  EXPECT_NE(s.message().find("Too many open files"), absl::string_view::npos);
  EXPECT_EQ(platform::NativeError(EBADF, "read").code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mp
