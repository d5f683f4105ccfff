#include "multiprocessing/platform/error.h"

#include "absl/strings/str_cat.h"

namespace mp {
namespace {
constexpr absl::string_view kEofType = "type.multiprocessing/EOFError";
constexpr absl::string_view kTimeoutType = "type.multiprocessing/TimeoutError";
}  // namespace

absl::Status EofError(absl::string_view what) {
  return platform::TypedError(absl::StatusCode::kOutOfRange, kEofType,
                              absl::StrCat("EOF: ", what));
}
bool IsEof(const absl::Status& s) {
  return platform::HasErrorType(s, kEofType);
}

absl::Status TimeoutError(absl::string_view what) {
  return platform::TypedError(absl::StatusCode::kDeadlineExceeded, kTimeoutType,
                              absl::StrCat("timed out: ", what));
}
bool IsTimeout(const absl::Status& s) {
  return platform::HasErrorType(s, kTimeoutType);
}

namespace platform {

absl::Status TypedError(absl::StatusCode code, absl::string_view type_url,
                        absl::string_view message, absl::Cord detail) {
  absl::Status s(code, message);
  s.SetPayload(type_url, std::move(detail));
  return s;
}

bool HasErrorType(const absl::Status& s, absl::string_view type_url) {
  return !s.ok() && s.GetPayload(type_url).has_value();
}

// The code and text of a native error: error_posix.cc, error_win.cc.
absl::Status NativeStatus(int error_number, absl::string_view operation);

absl::Status NativeError(int error_number, absl::string_view operation) {
  absl::Status s = NativeStatus(error_number, operation);
  // A native timeout (ETIMEDOUT, WAIT_TIMEOUT, ...) is IsTimeout() too.
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    s.SetPayload(kTimeoutType, absl::Cord());
  }
  return s;
}

}  // namespace platform
}  // namespace mp
