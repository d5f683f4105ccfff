// Named shared memory on Windows: a named file mapping as CPython makes it
// (see named_shared_memory.h), readable and writable by this user (and
// LocalSystem) only: OwnerOnlySecurity() (security_win.h). Opening a name
// checks that the mapping's owner is this user: a mapping another user made
// first under the name (a squatter, who could read and change what we put
// there) is refused, kPermissionDenied.
#include <windows.h>

#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/named_shared_memory.h"
#include "multiprocessing/platform/security_win.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

absl::StatusOr<std::string> RandomName() {
  char bytes[4];
  if (absl::Status s = RandomBytes(absl::MakeSpan(bytes, 4)); !s.ok()) {
    return s;
  }
  return absl::StrCat("wnsm_",
                      absl::BytesToHexString(absl::string_view(bytes, 4)));
}

absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name.find('\\') != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory: bad name '", name, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

void NamedSharedMemory::Close() {
  if (data_ != nullptr) UnmapViewOfFile(data_);
  data_ = nullptr;
  handle_.reset();
}

absl::StatusOr<NamedSharedMemory> NamedSharedMemory::Create(
    absl::string_view name, std::size_t size, bool /*track*/) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        "shared memory: 'size' must be a positive number different from "
        "zero");
  }
  if (absl::Status s = OwnerOnlySecurityStatus(); !s.ok()) return s;
  for (;;) {
    std::string chosen(name);
    if (name.empty()) {
      absl::StatusOr<std::string> random = RandomName();
      if (!random.ok()) return random.status();
      chosen = *std::move(random);
    } else if (absl::Status s = CheckName(name); !s.ok()) {
      return s;
    }
    const uint64_t total = size;
    HANDLE h = CreateFileMappingW(
        INVALID_HANDLE_VALUE, OwnerOnlySecurity(), PAGE_READWRITE,
        static_cast<DWORD>(total >> 32), static_cast<DWORD>(total),
        Utf8ToWide(chosen).c_str());
    if (h == nullptr) return LastNativeError("CreateFileMappingW");
    if (GetLastError() == ERROR_ALREADY_EXISTS) {  // ours or a squatter's
      CloseHandle(h);
      if (name.empty()) continue;
      return absl::AlreadyExistsError(
          absl::StrCat("shared memory: '", chosen, "' exists"));
    }
    return Adopt(ScopedHandle(reinterpret_cast<NativeHandle>(h)), chosen, size);
  }
}

absl::StatusOr<NamedSharedMemory> NamedSharedMemory::Open(
    absl::string_view name) {
  if (absl::Status s = CheckName(name); !s.ok()) return s;
  // FILE_MAP_ALL_ACCESS includes READ_CONTROL, for the owner.
  HANDLE h =
      OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, Utf8ToWide(name).c_str());
  if (h == nullptr) {
    return LastNativeError(absl::StrCat("OpenFileMappingW ", name));
  }
  ScopedHandle handle(reinterpret_cast<NativeHandle>(h));
  if (absl::Status s = CheckOwnedByCurrentUser(
          h, absl::StrCat("shared memory '", name, "'"));
      !s.ok()) {
    return s;
  }
  return Adopt(std::move(handle), std::string(name), 0);
}

absl::StatusOr<NamedSharedMemory> NamedSharedMemory::Adopt(ScopedHandle handle,
                                                           std::string name,
                                                           std::size_t size) {
  void* p =
      MapViewOfFile(AsHandle(handle.get()), FILE_MAP_ALL_ACCESS, 0, 0, size);
  if (p == nullptr) return LastNativeError("MapViewOfFile");
  if (size == 0) {
    // Attached by name: the size of the view, in whole pages (as CPython).
    MEMORY_BASIC_INFORMATION info;
    if (VirtualQuery(p, &info, sizeof info) == 0) {
      absl::Status s = LastNativeError("VirtualQuery");
      UnmapViewOfFile(p);
      return s;
    }
    size = info.RegionSize;
  }
  NamedSharedMemory m;
  m.name_ = std::move(name);
  m.data_ = p;
  m.size_ = size;
  m.mapped_ = size;
  m.handle_ = std::move(handle);
  return m;
}

absl::Status UnlinkNamedSharedMemory(absl::string_view name) {
  return CheckName(name);
}

bool NamedSharedMemoryExists(absl::string_view name) {
  if (!CheckName(name).ok()) return false;
  HANDLE h = OpenFileMappingW(FILE_MAP_READ, FALSE, Utf8ToWide(name).c_str());
  if (h == nullptr) return false;
  CloseHandle(h);
  return true;
}

}  // namespace mp::platform
