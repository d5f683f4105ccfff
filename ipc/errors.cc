#include "multiprocessing/ipc/errors.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/ipc/internal/errors.h"

namespace mp {
namespace {
constexpr absl::string_view kEmptyType = "type.multiprocessing/queue.Empty";
constexpr absl::string_view kFullType = "type.multiprocessing/queue.Full";
constexpr absl::string_view kBufferTooShortType =
    "type.multiprocessing/BufferTooShort";
constexpr absl::string_view kAuthenticationType =
    "type.multiprocessing/AuthenticationError";
}  // namespace

bool IsEmpty(const absl::Status& s) {
  return platform::HasErrorType(s, kEmptyType);
}
bool IsFull(const absl::Status& s) {
  return platform::HasErrorType(s, kFullType);
}
std::optional<std::string> BufferTooShortMessage(const absl::Status& status) {
  auto payload = status.GetPayload(kBufferTooShortType);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}
bool IsAuthenticationError(const absl::Status& s) {
  return platform::HasErrorType(s, kAuthenticationType);
}

namespace ipc_internal {

absl::Status EmptyError(absl::string_view what) {
  return platform::TypedError(absl::StatusCode::kUnavailable, kEmptyType,
                              absl::StrCat("queue.Empty: ", what));
}
absl::Status FullError(absl::string_view what) {
  return platform::TypedError(absl::StatusCode::kUnavailable, kFullType,
                              absl::StrCat("queue.Full: ", what));
}
absl::Status BufferTooShortError(absl::string_view what, std::string message) {
  return platform::TypedError(absl::StatusCode::kResourceExhausted,
                              kBufferTooShortType, what,
                              absl::Cord(std::move(message)));
}
absl::Status AuthenticationError(absl::string_view what) {
  return platform::TypedError(absl::StatusCode::kPermissionDenied,
                              kAuthenticationType, what);
}

}  // namespace ipc_internal
}  // namespace mp
