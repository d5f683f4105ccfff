#include "multiprocessing/ipc/errors.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/internal/errors.h"

namespace mp {
namespace {

using ipc_internal::AuthenticationError;
using ipc_internal::BufferTooShortError;
using ipc_internal::EmptyError;
using ipc_internal::FullError;

bool IsBufferTooShort(const absl::Status& s) {
  return BufferTooShortMessage(s).has_value();
}

// Each error with its predicate and code: every predicate matches its own
// error and no other, nor a status of the same code without the type.
struct Case {
  absl::Status error;
  bool (*is)(const absl::Status&);
  absl::StatusCode code;
};

TEST(ErrorsTest, EachPredicateMatchesOnlyItsOwnError) {
  const Case cases[] = {
      {EmptyError("x"), IsEmpty, absl::StatusCode::kUnavailable},
      {FullError("x"), IsFull, absl::StatusCode::kUnavailable},
      {BufferTooShortError("x", "m"), IsBufferTooShort,
       absl::StatusCode::kResourceExhausted},
      {AuthenticationError("x"), IsAuthenticationError,
       absl::StatusCode::kPermissionDenied},
      {EofError("x"), IsEof, absl::StatusCode::kOutOfRange},
      {TimeoutError("x"), IsTimeout, absl::StatusCode::kDeadlineExceeded},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.error.code(), c.code) << c.error;
    EXPECT_FALSE(c.is(absl::Status(c.code, c.error.message()))) << c.error;
    EXPECT_FALSE(c.is(absl::OkStatus()));
    for (const Case& other : cases) {
      EXPECT_EQ(c.is(other.error), &c == &other) << c.error << other.error;
    }
  }
}

TEST(ErrorsTest, BufferTooShortCarriesTheMessage) {
  absl::Status s = BufferTooShortError("too short", std::string("ab\0c", 4));
  EXPECT_EQ(BufferTooShortMessage(s), std::string("ab\0c", 4));
}

}  // namespace
}  // namespace mp
