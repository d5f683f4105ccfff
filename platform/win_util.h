// Windows only, shared by the _win.cc files: handles as HANDLEs, UTF-8 and
// UTF-16 text, waiting for overlapped I/O, and the receive timeouts of pipe
// handles.
#ifndef MULTIPROCESSING_PLATFORM_WIN_UTIL_H_
#define MULTIPROCESSING_PLATFORM_WIN_UTIL_H_

#include <windows.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace mp::platform {

// A NativeHandle (platform/handle.h) as the HANDLE it holds.
inline HANDLE AsHandle(std::intptr_t h) { return reinterpret_cast<HANDLE>(h); }

// UTF-8 to UTF-16 (the W functions' text) and back.
std::wstring Utf8ToWide(absl::string_view s);
std::string WideToUtf8(const wchar_t* s, std::size_t size);

// A manual-reset event for one overlapped operation. Each operation gets its
// own: a completion signalled late for an earlier operation (Wine does this)
// must not wake a later one that shares the event.
class OverlappedEvent {
 public:
  OverlappedEvent() : h_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~OverlappedEvent() {
    if (h_ != nullptr) CloseHandle(h_);
  }
  OverlappedEvent(const OverlappedEvent&) = delete;
  OverlappedEvent& operator=(const OverlappedEvent&) = delete;
  HANDLE get() const { return h_; }

 private:
  HANDLE h_;
};

// Milliseconds from now until `deadline`, rounded up (a wait never ends
// before it), for the Win32 waits: INFINITE without a deadline, 0 once it
// passed.
inline DWORD MillisecondsUntil(std::optional<absl::Time> deadline) {
  if (!deadline) return INFINITE;
  const absl::Duration left = *deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<DWORD>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
      INFINITE - 1));
}

// Waits until the operation started on `h` with `ov` (whose hEvent is its
// own OverlappedEvent) is finished and the system is done with `ov`; returns
// its Win32 error (ERROR_SUCCESS when it succeeded) and sets `*bytes`.
// Cancelled operations finish too (ERROR_OPERATION_ABORTED).
inline DWORD FinishOverlapped(HANDLE h, OVERLAPPED* ov, DWORD* bytes) {
  return GetOverlappedResult(h, ov, bytes, /*bWait=*/TRUE) ? ERROR_SUCCESS
                                                           : GetLastError();
}

// Whether `h` is a socket (Winsock's sockets are handles too, which
// GetFileType calls pipes; a pipe answers GetNamedPipeInfo when its handle
// may read attributes and its server is connected, else getsockopt tells
// them apart). When it is,
// Winsock is started in this process (a spawned child may hold sockets it
// inherited and never have started it), so Winsock calls can follow.
bool IsSocket(HANDLE h);

// The pipe instances this process listens on (socket_win.cc), each with a
// ConnectNamedPipe kept pending from the moment the instance is made, so a
// client's arrival signals an event that WaitReadable waits on and Accept()
// completes that same operation. A handle not in this record is never a
// listener: an accepted instance, even in a process it was handed to, is a
// connection.
//
// StartListening starts the connect on `h` (a new server instance made with
// FILE_FLAG_OVERLAPPED) and records it; a Win32 error when the connect could
// not start at all. A client that came first (ERROR_PIPE_CONNECTED, or
// ERROR_NO_DATA: it came and closed already) counts as arrived.
DWORD StartListening(HANDLE h);
// The event signalled once a client arrived (or the connect failed), or
// nullptr when `h` is not a listening instance.
HANDLE ListeningEvent(HANDLE h);
// Waits for the pending connect of `h` to finish, forgets `h` as a listener
// and returns the connect's Win32 result: ERROR_SUCCESS, or
// ERROR_PIPE_CONNECTED / ERROR_NO_DATA (a client came first), or an error.
// ERROR_INVALID_HANDLE when `h` was not listening.
DWORD FinishListening(HANDLE h);

// Message pipes: a zero-byte read (WaitReadable's) consumes an empty message
// (Windows 8 and later, as CPython's wait() notes), so WaitReadable records
// it here and ReadMessage returns it first.
void NoteEmptyMessage(HANDLE h);
bool HasEmptyMessage(HANDLE h);
bool TakeEmptyMessage(HANDLE h);

// Forgets everything recorded for `h` (receive timeout, listening state,
// with its pending connect cancelled and finished, empty message). The
// handle closer (handle_win.cc) calls it before closing, so a later handle
// with the same value starts with nothing.
void ForgetHandle(HANDLE h);

// Starts Winsock in this process, once; returns WSAStartup's error (0 when
// started).
int StartWinsock();

// Pipes have no SO_RCVTIMEO, so SetReceiveTimeout keeps the timeout of a
// handle here, by value, for reads to look up: milliseconds, or INFINITE for
// none (setting INFINITE forgets the handle). ScopedHandle forgets a handle
// when it closes it, so a later handle with the same value starts without.
void SetReadTimeout(HANDLE h, DWORD ms);
DWORD ReadTimeout(HANDLE h);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_WIN_UTIL_H_
