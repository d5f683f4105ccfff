#include <windows.h>

#include "multiprocessing/platform/liveness.h"

namespace mp::platform {

bool ProcessIsAlive(ProcessId pid) {
  if (pid <= 0) return false;
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
  if (h == nullptr) {
    // No such process (any more); other failures (access denied): alive.
    return GetLastError() != ERROR_INVALID_PARAMETER;
  }
  const DWORD r = WaitForSingleObject(h, 0);
  CloseHandle(h);
  return r != WAIT_OBJECT_0;
}

}  // namespace mp::platform
