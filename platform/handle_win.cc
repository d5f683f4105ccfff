#include <windows.h>
#include <winsock2.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

// NtQuerySystemInformation(SystemExtendedHandleInformation): every open
// handle of every process. The layout is ntdll's, not in the SDK headers.
constexpr ULONG kSystemExtendedHandleInformation = 64;
struct HandleEntry {
  void* object;
  ULONG_PTR process_id;
  ULONG_PTR handle_value;
  ULONG granted_access;
  USHORT creator_back_trace_index;
  USHORT object_type_index;
  ULONG attributes;
  ULONG reserved;
};
struct HandleTable {
  ULONG_PTR count;
  ULONG_PTR reserved;
  HandleEntry entries[1];
};
using NtQuerySystemInformationFn = LONG(WINAPI*)(ULONG, void*, ULONG, ULONG*);

absl::StatusOr<int> CountHandlesInSystemTable() {
  auto query = reinterpret_cast<NtQuerySystemInformationFn>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"ntdll.dll"),
                                             "NtQuerySystemInformation")));
  if (query == nullptr) return LastNativeError("GetProcAddress");
  std::vector<char> buffer(1 << 20);
  for (;;) {
    ULONG needed = 0;
    const LONG status = query(kSystemExtendedHandleInformation, buffer.data(),
                              static_cast<ULONG>(buffer.size()), &needed);
    if (status == 0) break;
    constexpr LONG kInfoLengthMismatch = static_cast<LONG>(0xC0000004);
    if (status != kInfoLengthMismatch || buffer.size() >= (256u << 20)) {
      return absl::InternalError(
          absl::StrCat("NtQuerySystemInformation: NTSTATUS 0x",
                       absl::Hex(static_cast<unsigned long>(status))));
    }
    buffer.resize(std::max<std::size_t>(buffer.size() * 2, needed));
  }
  const auto* table = reinterpret_cast<const HandleTable*>(buffer.data());
  const ULONG_PTR self = GetCurrentProcessId();
  int count = 0;
  for (ULONG_PTR i = 0; i < table->count; ++i) {
    if (table->entries[i].process_id == self) ++count;
  }
  return count;
}

// CloseHandle (closesocket for a socket, as Winsock asks), after forgetting
// what win_util.h records about the handle (receive timeout, listening).
BOOL CloseOwned(HANDLE h) {
  ForgetHandle(h);
  if (IsSocket(h)) return closesocket(reinterpret_cast<SOCKET>(h)) == 0;
  return CloseHandle(h);
}

}  // namespace

void ScopedHandle::reset(NativeHandle h) {
  if (is_valid()) CloseOwned(AsHandle(handle_));
  handle_ = h;
}

absl::Status ScopedHandle::Close() {
  if (!is_valid()) return absl::FailedPreconditionError("close: not open");
  if (!CloseOwned(AsHandle(release()))) return LastNativeError("CloseHandle");
  return absl::OkStatus();
}

absl::StatusOr<ScopedHandle> Duplicate(NativeHandle h) {
  HANDLE out = nullptr;
  if (!DuplicateHandle(GetCurrentProcess(), AsHandle(h), GetCurrentProcess(),
                       &out, 0, /*bInheritHandle=*/FALSE,
                       DUPLICATE_SAME_ACCESS)) {
    return LastNativeError("DuplicateHandle");
  }
  return ScopedHandle(reinterpret_cast<NativeHandle>(out));
}

absl::Status SetInheritable(NativeHandle h, bool inheritable) {
  if (!SetHandleInformation(AsHandle(h), HANDLE_FLAG_INHERIT,
                            inheritable ? HANDLE_FLAG_INHERIT : 0)) {
    return LastNativeError("SetHandleInformation");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> IsInheritable(NativeHandle h) {
  DWORD flags = 0;
  if (!GetHandleInformation(AsHandle(h), &flags)) {
    return LastNativeError("GetHandleInformation");
  }
  return (flags & HANDLE_FLAG_INHERIT) != 0;
}

absl::StatusOr<int> CountOpenHandles() {
  DWORD count = 0;
  if (!GetProcessHandleCount(GetCurrentProcess(), &count)) {
    return LastNativeError("GetProcessHandleCount");
  }
  if (count > 0) return static_cast<int>(count);
  // Wine answers 0; its system-wide handle table is right, so count ours.
  return CountHandlesInSystemTable();
}

}  // namespace mp::platform
