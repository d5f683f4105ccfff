#include "multiprocessing/platform/error.h"

#include <cerrno>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace mp {
namespace {

// ipc/errors_test.cc checks every predicate against every error.
TEST(ErrorTest, EofAndTimeoutAreTheirTypesWithTheirCodes) {
  const absl::Status eof = EofError("x"), timeout = TimeoutError("x");
  EXPECT_EQ(eof.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(timeout.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(IsEof(eof) && !IsTimeout(eof));
  EXPECT_TRUE(IsTimeout(timeout) && !IsEof(timeout));
  EXPECT_FALSE(IsTimeout(absl::OkStatus()));
  // The type, not the code or the message, tells them apart.
  EXPECT_FALSE(IsEof(absl::Status(eof.code(), eof.message())));
  EXPECT_FALSE(IsTimeout(absl::Status(timeout.code(), timeout.message())));
}

TEST(ErrorTest, TypedErrorCarriesItsTypeAndDetail) {
  absl::Status s = platform::TypedError(absl::StatusCode::kUnavailable,
                                        "type.test/Mine", "m", absl::Cord("d"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "m");
  EXPECT_TRUE(platform::HasErrorType(s, "type.test/Mine"));
  EXPECT_FALSE(platform::HasErrorType(s, "type.test/Other"));
  EXPECT_EQ(s.GetPayload("type.test/Mine").value(), "d");
}

#if defined(_WIN32)
constexpr int kTimedOut = 1460;  // ERROR_TIMEOUT
#else
constexpr int kTimedOut = ETIMEDOUT;
#endif

TEST(ErrorTest, NativeTimeoutIsATimeout) {
  absl::Status s = platform::NativeError(kTimedOut, "wait");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(IsTimeout(s)) << s;
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
