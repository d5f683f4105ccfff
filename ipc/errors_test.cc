#include "ipc/errors.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace mp {
namespace {

TEST(ErrorsTest, PredicatesMatchOnlyTheirOwnErrors) {
  EXPECT_TRUE(IsEmpty(EmptyError("x")));
  EXPECT_TRUE(IsFull(FullError("x")));
  EXPECT_FALSE(IsEmpty(FullError("x")));
  EXPECT_FALSE(IsFull(EmptyError("x")));
  EXPECT_TRUE(IsAuthenticationError(AuthenticationError("x")));
  EXPECT_FALSE(IsAuthenticationError(absl::PermissionDeniedError("x")));
  EXPECT_FALSE(IsEmpty(absl::UnavailableError("queue.Empty: x")));
  EXPECT_FALSE(IsFull(absl::OkStatus()));
  EXPECT_FALSE(IsEof(EmptyError("x")));
}

TEST(ErrorsTest, ErrorsKeepTheirCodes) {
  EXPECT_EQ(EmptyError("x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FullError("x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(BufferTooShortError("x", "m").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AuthenticationError("x").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(ErrorsTest, BufferTooShortCarriesTheMessage) {
  absl::Status s = BufferTooShortError("too short", std::string("ab\0c", 4));
  EXPECT_EQ(BufferTooShortMessage(s), std::string("ab\0c", 4));
  EXPECT_FALSE(BufferTooShortMessage(absl::ResourceExhaustedError("x")));
  EXPECT_FALSE(BufferTooShortMessage(absl::OkStatus()));
}

}  // namespace
}  // namespace mp
