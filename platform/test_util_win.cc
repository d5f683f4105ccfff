#include <windows.h>
// After windows.h.
#include <psapi.h>
#include <tlhelp32.h>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/test_util.h"

namespace mp::test_util {

std::string LocalAddress(absl::string_view name) {
  return absl::StrCat("\\\\.\\pipe\\mp-test-", UniqueToken(), "-", name);
}

bool HasUnwaitedChildren() {
  HANDLE snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snapshot == INVALID_HANDLE_VALUE) return false;
  const DWORD self = GetCurrentProcessId();
  PROCESSENTRY32W entry = {};
  entry.dwSize = sizeof(entry);
  bool found = false;
  for (BOOL more = Process32FirstW(snapshot, &entry); more && !found;
       more = Process32NextW(snapshot, &entry)) {
    found = entry.th32ParentProcessID == self;
  }
  CloseHandle(snapshot);
  return found;
}

bool ProcessExists(std::int64_t pid) {
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
  if (h == nullptr) return GetLastError() == ERROR_ACCESS_DENIED;
  const bool running = WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
  CloseHandle(h);
  return running;
}

bool IsGone(std::int64_t pid) { return !ProcessExists(pid); }

// abort() ends the process with exit code 3 (the C runtime's).
const int kAbortExitCode = 3;

std::int64_t ResidentKiB() {
  PROCESS_MEMORY_COUNTERS counters = {};
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof counters)) {
    return -1;
  }
  return static_cast<std::int64_t>(counters.WorkingSetSize / 1024);
}

std::int64_t PeakResidentKiB() {
  PROCESS_MEMORY_COUNTERS counters = {};
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &counters, sizeof counters)) {
    return -1;
  }
  return static_cast<std::int64_t>(counters.PeakWorkingSetSize / 1024);
}

}  // namespace mp::test_util
