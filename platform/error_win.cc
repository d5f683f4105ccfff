#include <windows.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

// The Status code a Win32 error maps to, in the spirit of
// absl::ErrnoToStatusCode for the POSIX errors they correspond to.
absl::StatusCode CodeFor(DWORD error) {
  switch (error) {
    case ERROR_INVALID_HANDLE:
    case ERROR_BROKEN_PIPE:
    case ERROR_NO_DATA:
    case ERROR_PIPE_NOT_CONNECTED:
      return absl::StatusCode::kFailedPrecondition;
    case ERROR_TOO_MANY_OPEN_FILES:
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
    case ERROR_DISK_FULL:
      return absl::StatusCode::kResourceExhausted;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_MOD_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case ERROR_ACCESS_DENIED:
      return absl::StatusCode::kPermissionDenied;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
    case ERROR_PIPE_BUSY:
      return absl::StatusCode::kAlreadyExists;
    case ERROR_INVALID_PARAMETER:
    case ERROR_BAD_EXE_FORMAT:
    case ERROR_FILENAME_EXCED_RANGE:
      return absl::StatusCode::kInvalidArgument;
    case ERROR_TIMEOUT:
    case WAIT_TIMEOUT:
    case ERROR_SEM_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case ERROR_OPERATION_ABORTED:
      return absl::StatusCode::kAborted;
    case ERROR_NOT_SUPPORTED:
    case ERROR_CALL_NOT_IMPLEMENTED:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kUnknown;
  }
}

std::string SystemText(DWORD error) {
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
          FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, error, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  const std::string out = n > 0 ? WideToUtf8(text, n) : std::string();
  if (text != nullptr) LocalFree(text);
  absl::string_view trimmed = absl::StripTrailingAsciiWhitespace(out);
  trimmed = absl::StripSuffix(trimmed, ".");
  if (trimmed.empty()) return absl::StrCat("Windows error ", error);
  return std::string(trimmed);
}

}  // namespace

// The code and text of a native error; NativeError() (error.cc) adds the
// error type of a timeout.
absl::Status NativeStatus(int error_number, absl::string_view operation) {
  const DWORD error = static_cast<DWORD>(error_number);
  return absl::Status(CodeFor(error),
                      absl::StrCat(operation, ": ", SystemText(error)));
}

absl::Status LastNativeError(absl::string_view operation) {
  return NativeError(static_cast<int>(GetLastError()), operation);
}

}  // namespace mp::platform
