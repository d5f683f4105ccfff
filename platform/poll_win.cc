// WaitReadable on Windows. A pipe is readable when PeekNamedPipe sees bytes
// or a closed peer (or, a message pipe, when an empty message was taken by
// an earlier wait); a socket when WSAPoll says so; any other handle (a
// process, an event) when it is signalled. To sleep until one of them
// changes, every pipe and connected socket gets a zero-byte overlapped
// ReadFile (it completes when data arrives or the peer goes, and takes
// nothing, except an empty message of a message pipe, which it consumes:
// that is recorded for ReadMessage, win_util.h), and the wait covers their
// events and the other handles. A listener's pipe instance is one this
// process recorded as listening (win_util.h): it has a ConnectNamedPipe
// pending, whose event says a client came, and the wait covers that event.
// Any other server end is a connection, whoever accepted it. Listening TCP
// sockets have no such event here: a wait that includes one looks again
// every 10 ms. Past the 64 handles WaitForMultipleObjects takes, the thread
// pool waits on each and signals one shared event.
#include <windows.h>
#include <winsock2.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

struct Entry {
  HANDLE handle;
  bool is_pipe;  // a pipe or a socket: a zero-byte read can wait for it
  bool is_socket = false;
  // A message pipe: a zero-byte read that succeeds took an empty message.
  bool is_message = false;
  // A listening pipe instance: readable once its pending connect finished.
  bool is_pipe_listener = false;
  // A listening socket (readable when a client has connected), looked at
  // again every 10 ms.
  bool is_socket_listener = false;
  // For pipes: the zero-byte read in flight, if any.
  OVERLAPPED ov = {};
  bool pending = false;
  // What the wait waits on: the read's event, the connect's event, or the
  // handle itself.
  HANDLE waitable = nullptr;
};

// How often a wait that includes a listening socket looks at it again.
constexpr DWORD kListenerPollMs = 10;

absl::Status NotOpen(NativeHandle h) {
  return absl::FailedPreconditionError(
      absl::StrCat("WaitReadable: handle ", h, " is not open"));
}

bool IsListeningSocket(HANDLE h) {
  BOOL listening = FALSE;
  int size = sizeof listening;
  return getsockopt(reinterpret_cast<SOCKET>(h), SOL_SOCKET, SO_ACCEPTCONN,
                    reinterpret_cast<char*>(&listening), &size) == 0 &&
         listening;
}

// Whether `e` is readable now.
absl::StatusOr<bool> IsReadable(const Entry& e, NativeHandle h) {
  if (e.is_socket) {
    // Bytes, end of stream, an error or (listening) a client waiting.
    WSAPOLLFD p = {};
    p.fd = reinterpret_cast<SOCKET>(e.handle);
    p.events = POLLRDNORM;
    const int n = WSAPoll(&p, 1, 0);
    if (n == SOCKET_ERROR) return LastNativeError("WSAPoll");
    return n > 0;
  }
  if (e.is_pipe_listener) {
    // Its connect finished: a client came (or the connect failed, which
    // Accept reports).
    return WaitForSingleObject(e.waitable, 0) == WAIT_OBJECT_0;
  }
  if (e.is_pipe) {
    if (e.is_message && HasEmptyMessage(e.handle)) return true;
    DWORD available = 0;
    if (PeekNamedPipe(e.handle, nullptr, 0, nullptr, &available, nullptr)) {
      return available > 0;
    }
    const DWORD error = GetLastError();
    if (IsEndOfStreamError(static_cast<int>(error))) return true;
    if (error == ERROR_INVALID_HANDLE) return NotOpen(h);
    return NativeError(static_cast<int>(error), "PeekNamedPipe");
  }
  switch (WaitForSingleObject(e.handle, 0)) {
    case WAIT_OBJECT_0:
    case WAIT_ABANDONED:
      return true;
    case WAIT_TIMEOUT:
      return false;
    default:
      if (GetLastError() == ERROR_INVALID_HANDLE) return NotOpen(h);
      return LastNativeError("WaitForSingleObject");
  }
}

// Cancels every zero-byte read still in flight and waits until the system
// is done with its OVERLAPPED.
void CancelReads(std::vector<Entry>& entries) {
  for (Entry& e : entries) {
    if (!e.pending) continue;
    CancelIoEx(e.handle, &e.ov);
    DWORD unused = 0;
    const DWORD error = FinishOverlapped(e.handle, &e.ov, &unused);
    // A zero-byte read of a message pipe that succeeded took an empty
    // message (Windows 8 and later): ReadMessage returns it.
    if (error == ERROR_SUCCESS && e.is_message) NoteEmptyMessage(e.handle);
    e.pending = false;
  }
}

// Sleeps until one of `waitables` is signalled or `ms` passed.
absl::Status WaitAny(const std::vector<HANDLE>& waitables, DWORD ms) {
  if (waitables.size() <= MAXIMUM_WAIT_OBJECTS) {
    const DWORD r = WaitForMultipleObjects(static_cast<DWORD>(waitables.size()),
                                           waitables.data(), FALSE, ms);
    if (r == WAIT_FAILED) return LastNativeError("WaitForMultipleObjects");
    return absl::OkStatus();
  }
  HANDLE any = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (any == nullptr) return LastNativeError("CreateEventW");
  std::vector<HANDLE> registered;
  registered.reserve(waitables.size());
  absl::Status status;
  for (HANDLE w : waitables) {
    HANDLE wait = nullptr;
    if (!RegisterWaitForSingleObject(
            &wait, w,
            [](void* event, BOOLEAN) { SetEvent(static_cast<HANDLE>(event)); },
            any, INFINITE, WT_EXECUTEONLYONCE)) {
      status = LastNativeError("RegisterWaitForSingleObject");
      break;
    }
    registered.push_back(wait);
  }
  if (status.ok() && WaitForSingleObject(any, ms) == WAIT_FAILED) {
    status = LastNativeError("WaitForSingleObject");
  }
  // INVALID_HANDLE_VALUE: return only when no callback is running, so
  // `any` can be closed.
  for (HANDLE wait : registered) UnregisterWaitEx(wait, INVALID_HANDLE_VALUE);
  CloseHandle(any);
  return status;
}

}  // namespace

absl::StatusOr<std::vector<std::size_t>> WaitReadable(
    absl::Span<const NativeHandle> handles,
    std::optional<absl::Duration> timeout) {
  const absl::Time deadline =
      timeout ? absl::Now() + *timeout : absl::InfiniteFuture();
  std::vector<Entry> entries(handles.size());
  for (std::size_t i = 0; i < handles.size(); ++i) {
    Entry& e = entries[i];
    e.handle = AsHandle(handles[i]);
    // GetFileType cannot tell a closed handle from a process or an event.
    DWORD flags = 0;
    if (!GetHandleInformation(e.handle, &flags)) return NotOpen(handles[i]);
    e.is_pipe = GetFileType(e.handle) == FILE_TYPE_PIPE;
    e.is_socket = e.is_pipe && IsSocket(e.handle);
    e.is_socket_listener = e.is_socket && IsListeningSocket(e.handle);
    e.waitable = e.handle;
    if (e.is_pipe && !e.is_socket) {
      if (HANDLE connected = ListeningEvent(e.handle); connected != nullptr) {
        e.is_pipe_listener = true;
        e.waitable = connected;
      } else {
        e.is_message = IsMessagePipe(handles[i]);
      }
    }
  }
  struct Events {
    std::vector<HANDLE> all;
    ~Events() {
      for (HANDLE h : all) CloseHandle(h);
    }
  } events;
  const bool any_socket_listener =
      std::any_of(entries.begin(), entries.end(),
                  [](const Entry& e) { return e.is_socket_listener; });
  for (;;) {
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      absl::StatusOr<bool> r = IsReadable(entries[i], handles[i]);
      if (!r.ok()) return r.status();
      if (*r) ready.push_back(i);
    }
    const absl::Duration left = deadline - absl::Now();
    if (!ready.empty() || left <= absl::ZeroDuration()) return ready;
    // Arm a zero-byte read on every pipe; one that completes at once means
    // that pipe changed since the check above, so look again.
    bool changed = false;
    for (Entry& e : entries) {
      if (!e.is_pipe || e.is_pipe_listener || e.is_socket_listener) continue;
      if (e.ov.hEvent == nullptr) {
        e.ov.hEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr);
        if (e.ov.hEvent == nullptr) {
          CancelReads(entries);
          return LastNativeError("CreateEventW");
        }
        events.all.push_back(e.ov.hEvent);
        e.waitable = e.ov.hEvent;
      }
      ResetEvent(e.ov.hEvent);
      static char unused;
      if (ReadFile(e.handle, &unused, 0, nullptr, &e.ov)) {
        // Done at once: on a message pipe it took an empty message.
        if (e.is_message) NoteEmptyMessage(e.handle);
        changed = true;
      } else if (GetLastError() == ERROR_IO_PENDING) {
        e.pending = true;
      } else {
        changed = true;  // an error or end of stream: the check reports it
      }
    }
    if (!changed) {
      std::vector<HANDLE> waitables;
      waitables.reserve(entries.size());
      for (const Entry& e : entries) {
        if (!e.is_socket_listener) waitables.push_back(e.waitable);
      }
      DWORD ms = INFINITE;
      if (timeout) {
        // Round up, so a wait never ends before its deadline.
        ms = static_cast<DWORD>(std::min<int64_t>(
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
            INFINITE - 1));
      }
      if (any_socket_listener) ms = std::min(ms, kListenerPollMs);
      absl::Status s = absl::OkStatus();
      if (waitables.empty()) {
        Sleep(ms);  // listening sockets only
      } else {
        s = WaitAny(waitables, ms);
      }
      CancelReads(entries);
      if (!s.ok()) return s;
    } else {
      CancelReads(entries);
    }
  }
}

}  // namespace mp::platform
