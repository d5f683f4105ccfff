#include "platform/error.h"

#include <cerrno>

#include "absl/strings/match.h"
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

#if defined(_WIN32)
constexpr int kTooManyOpenFiles = 4;  // ERROR_TOO_MANY_OPEN_FILES
constexpr int kBadHandle = 6;         // ERROR_INVALID_HANDLE
constexpr int kNoSuchFile = 2;        // ERROR_FILE_NOT_FOUND
#else
constexpr int kTooManyOpenFiles = EMFILE;
constexpr int kBadHandle = EBADF;
constexpr int kNoSuchFile = ENOENT;
#endif

TEST(ErrorTest, NativeErrorNamesOperationAndSystemText) {
  absl::Status s = platform::NativeError(kTooManyOpenFiles, "socketpair");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StartsWith(s.message(), "socketpair: ")) << s;
#if defined(_WIN32)
  // The system's text, in the system's language.
  EXPECT_GT(s.message().size(), sizeof("socketpair: ")) << s;
#else
  EXPECT_NE(s.message().find("Too many open files"), absl::string_view::npos);
#endif
  EXPECT_EQ(platform::NativeError(kBadHandle, "read").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(platform::NativeError(kNoSuchFile, "open").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace mp
