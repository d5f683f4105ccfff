#include "platform/error.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace mp {
namespace {
constexpr absl::string_view kEmpty = "queue.Empty";
constexpr absl::string_view kFull = "queue.Full";
}  // namespace

absl::Status EofError(absl::string_view what) {
  return absl::OutOfRangeError(absl::StrCat("EOF: ", what));
}
bool IsEof(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange;
}

absl::Status TimeoutError(absl::string_view what) {
  return absl::DeadlineExceededError(absl::StrCat("timed out: ", what));
}
bool IsTimeout(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDeadlineExceeded;
}

absl::Status EmptyError(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(kEmpty, ": ", what));
}
bool IsEmpty(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable &&
         absl::StartsWith(s.message(), kEmpty);
}
absl::Status FullError(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(kFull, ": ", what));
}
bool IsFull(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable &&
         absl::StartsWith(s.message(), kFull);
}

}  // namespace mp
