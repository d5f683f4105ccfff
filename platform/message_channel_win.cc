// Message channels on Windows: a message-mode named pipe, both ends opened
// for overlapped I/O. Each WriteFile is one message, which the pipe keeps
// whole and hands whole to one ReadFile. The writing end is in PIPE_NOWAIT
// mode: a write that does not fit in the pipe's buffer writes nothing
// (TrySendMessage's "full"). The reading end is in PIPE_WAIT mode: a
// receive is an overlapped ReadFile that the system completes when a message
// arrives (every reader of every process may have one pending; each message
// completes one of them), waited for up to the deadline and then cancelled,
// so a receiver wakes when the message is written, not at the next tick of a
// poll. A SendMessage that finds the pipe full has nothing to wait on (no
// wait mode reports free room and keeps TrySendMessage's all-or-nothing
// write), so it tries again after a pause that doubles from 1 ms to 16 ms.
//
// A handle cannot ride along a pipe: every message ends with a trailer
// naming a duplicate of the attached handle that the sender keeps (process
// id, process creation time, handle value), and the receiver takes it out of
// the sender with DuplicateHandle(DUPLICATE_CLOSE_SOURCE), as CPython's
// multiprocessing.reduction.steal_handle does. The creation time guards
// against a reused process id. So an attached handle lives only as long as
// its sender: if the sender has exited, the message arrives without it
// (ReceivedMessage::attachment_lost).
#include <windows.h>
// <windows.h> names two of our functions as macros for its window messages.
#undef PeekMessage
#undef SendMessage

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/pipe_win.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

struct Trailer {
  uint64_t pid;
  uint64_t created;  // FILETIME of the sender's creation
  uint64_t handle;   // 0: nothing attached
};

// Room for many small messages (a queue's are 40 bytes); at least
// kMaxInlineMessage plus a trailer.
constexpr DWORD kBuffer = 1024 * 1024;
static_assert(kBuffer >= kMaxInlineMessage + sizeof(Trailer));

// The reading (server) end's mode; the writing end is made PIPE_NOWAIT.
constexpr DWORD kMessagePipe =
    PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT;

// An overlapped ReadFile (`ms`: how long to wait for it, INFINITE or less,
// then it is cancelled: ERROR_OPERATION_ABORTED unless it completed
// meanwhile) or WriteFile (which the writing end's PIPE_NOWAIT completes at
// once). Returns the Win32 error (ERROR_SUCCESS, ERROR_MORE_DATA for part of
// a longer message) and sets `*n` to the bytes moved.
DWORD Overlapped(NativeHandle h, bool write, void* data, DWORD size, DWORD ms,
                 DWORD* n) {
  *n = 0;
  OverlappedEvent event;
  if (event.get() == nullptr) return GetLastError();
  OVERLAPPED ov = {};
  ov.hEvent = event.get();
  const BOOL done = write ? WriteFile(AsHandle(h), data, size, nullptr, &ov)
                          : ReadFile(AsHandle(h), data, size, nullptr, &ov);
  const DWORD error = done ? ERROR_SUCCESS : GetLastError();
  if (error == ERROR_IO_PENDING && ms != INFINITE &&
      WaitForSingleObject(ov.hEvent, ms) == WAIT_TIMEOUT) {
    CancelIoEx(AsHandle(h), &ov);
  }
  if (error != ERROR_SUCCESS && error != ERROR_IO_PENDING &&
      error != ERROR_MORE_DATA) {
    return error;  // not started
  }
  return FinishOverlapped(AsHandle(h), &ov, n);
}

uint64_t CreationTime(HANDLE process) {
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(process, &created, &exited, &kernel, &user)) return 0;
  return (uint64_t{created.dwHighDateTime} << 32) | created.dwLowDateTime;
}

// Takes the handle `t` names out of its sender; invalid if the sender is
// gone (or is not the process that sent it).
ScopedHandle Steal(const Trailer& t) {
  HANDLE source = GetCurrentProcess();
  ScopedHandle opened;
  if (t.pid != GetCurrentProcessId()) {
    opened.reset(reinterpret_cast<NativeHandle>(
        OpenProcess(PROCESS_DUP_HANDLE | PROCESS_QUERY_LIMITED_INFORMATION,
                    FALSE, static_cast<DWORD>(t.pid))));
    if (opened.get() == 0) {
      opened.release();
      return ScopedHandle();
    }
    source = AsHandle(opened.get());
    if (CreationTime(source) != t.created) return ScopedHandle();
  }
  HANDLE out = nullptr;
  if (!DuplicateHandle(source, reinterpret_cast<HANDLE>(t.handle),
                       GetCurrentProcess(), &out, 0, FALSE,
                       DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE)) {
    return ScopedHandle();
  }
  return ScopedHandle(reinterpret_cast<NativeHandle>(out));
}

// Writes the message; false when `wait` is false and the pipe is full.
absl::StatusOr<bool> Send(NativeHandle h, absl::Span<const ConstBuffer> parts,
                          NativeHandle attached, bool wait) {
  std::string message;
  for (const ConstBuffer& p : parts) {
    message.append(static_cast<const char*>(p.data), p.size);
  }
  if (message.size() > kMaxInlineMessage) {
    return absl::InvalidArgumentError("SendMessage: message too long");
  }
  Trailer t = {};
  ScopedHandle kept;  // the duplicate the receiver will take
  if (attached != kInvalidHandle) {
    HANDLE dup = nullptr;
    if (!DuplicateHandle(GetCurrentProcess(), AsHandle(attached),
                         GetCurrentProcess(), &dup, 0, FALSE,
                         DUPLICATE_SAME_ACCESS)) {
      return LastNativeError("DuplicateHandle");
    }
    kept.reset(reinterpret_cast<NativeHandle>(dup));
    static const uint64_t created = CreationTime(GetCurrentProcess());
    t = {GetCurrentProcessId(), created,
         static_cast<uint64_t>(reinterpret_cast<uintptr_t>(dup))};
  }
  message.append(reinterpret_cast<const char*>(&t), sizeof t);
  DWORD pause_ms = 1;
  for (;;) {
    DWORD written = 0;
    const DWORD error =
        Overlapped(h, /*write=*/true, message.data(),
                   static_cast<DWORD>(message.size()), INFINITE, &written);
    if (error != ERROR_SUCCESS) {
      return NativeError(static_cast<int>(error), "WriteFile(message)");
    }
    if (written == message.size()) {
      kept.release();  // now the receiver's to take
      return true;
    }
    if (written != 0) {
      return absl::DataLossError("WriteFile: part of a message");
    }
    if (!wait) return false;
    // Full: readers are behind.
    Sleep(pause_ms);
    pause_ms = std::min<DWORD>(pause_ms * 2, 16);
  }
}

// After a read of `start` found the message longer: reads the rest of it
// away, closes the handle its trailer names, and says so.
absl::Status DiscardRest(NativeHandle h, const std::string& start) {
  std::string tail = start.substr(start.size() - sizeof(Trailer));
  std::string chunk(kBuffer, '\0');
  for (;;) {
    DWORD n = 0;
    const DWORD error =
        Overlapped(h, /*write=*/false, chunk.data(), kBuffer, INFINITE, &n);
    tail.append(chunk, 0, n);
    tail.erase(0, tail.size() - sizeof(Trailer));
    if (error != ERROR_MORE_DATA) break;
  }
  Trailer t;
  std::memcpy(&t, tail.data(), sizeof t);
  if (t.handle != 0) Steal(t);  // and close it
  return absl::DataLossError("ReceiveMessage: message longer than buffer");
}

}  // namespace

bool AttachmentsOutliveSender() { return false; }

absl::StatusOr<ChannelPair> CreateMessageChannel() {
  absl::StatusOr<ChannelPair> pair = CreatePipePair(
      PIPE_ACCESS_INBOUND,
      GENERIC_WRITE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES,
      kMessagePipe, FILE_FLAG_OVERLAPPED, kBuffer);
  if (!pair.ok()) return pair.status();
  DWORD mode = PIPE_READMODE_MESSAGE | PIPE_NOWAIT;
  if (!SetNamedPipeHandleState(AsHandle(pair->second.get()), &mode, nullptr,
                               nullptr)) {
    return LastNativeError("SetNamedPipeHandleState");
  }
  return pair;
}

absl::Status SendMessage(NativeHandle h, absl::Span<const ConstBuffer> parts,
                         NativeHandle attached) {
  return Send(h, parts, attached, /*wait=*/true).status();
}

absl::StatusOr<bool> TrySendMessage(NativeHandle h,
                                    absl::Span<const ConstBuffer> parts,
                                    NativeHandle attached) {
  return Send(h, parts, attached, /*wait=*/false);
}

absl::StatusOr<std::optional<std::size_t>> PeekMessage(
    NativeHandle h, absl::Span<char> buffer) {
  std::string start(buffer.size() + sizeof(Trailer), '\0');
  DWORD n = 0, available = 0, left = 0;
  if (!PeekNamedPipe(AsHandle(h), start.data(),
                     static_cast<DWORD>(start.size()), &n, &available, &left)) {
    const DWORD error = GetLastError();
    if (error == ERROR_BROKEN_PIPE) return std::nullopt;  // no writer left
    return NativeError(static_cast<int>(error), "PeekNamedPipe");
  }
  if (available == 0) return std::nullopt;  // no message is ever empty
  const std::size_t total = std::size_t{n} + left;
  if (total < sizeof(Trailer)) {
    return absl::DataLossError("PeekMessage: message without its trailer");
  }
  const std::size_t copied =
      std::min({std::size_t{n}, total - sizeof(Trailer), buffer.size()});
  std::memcpy(buffer.data(), start.data(), copied);
  return copied;
}

absl::StatusOr<std::optional<ReceivedMessage>> ReceiveMessage(
    NativeHandle h, absl::Span<char> buffer,
    std::optional<absl::Time> deadline) {
  std::string message(buffer.size() + sizeof(Trailer), '\0');
  const DWORD ms = MillisecondsUntil(deadline);
  if (ms == 0) {
    // No time to wait: a look first, so that finding nothing (the common
    // case of a poll) starts and cancels no read.
    DWORD available = 0;
    if (PeekNamedPipe(AsHandle(h), nullptr, 0, nullptr, &available, nullptr) &&
        available == 0) {
      return std::nullopt;
    }
  }
  DWORD n = 0;
  const DWORD error = Overlapped(h, /*write=*/false, message.data(),
                                 static_cast<DWORD>(message.size()), ms, &n);
  switch (error) {
    case ERROR_SUCCESS:
      break;
    case ERROR_MORE_DATA:
      return DiscardRest(h, message);
    case ERROR_OPERATION_ABORTED:
      return std::nullopt;  // the deadline passed first
    default:
      return NativeError(static_cast<int>(error), "ReadFile(message)");
  }
  if (n < sizeof(Trailer)) {
    return absl::DataLossError("ReceiveMessage: message without its trailer");
  }
  ReceivedMessage received;
  received.size = n - sizeof(Trailer);
  std::memcpy(buffer.data(), message.data(), received.size);
  Trailer t;
  std::memcpy(&t, message.data() + received.size, sizeof t);
  if (t.handle != 0) {
    received.attached = Steal(t);
    received.attachment_lost = !received.attached.is_valid();
  }
  return received;
}

}  // namespace mp::platform
