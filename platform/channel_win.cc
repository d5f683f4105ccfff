// Windows channels: the two ends of a named pipe with a name nobody else can
// guess, opened for overlapped I/O (so WaitReadable and timeouts can wait on
// them) and made blocking here, where every call waits for its own I/O.
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/pipe_win.h"
#include "multiprocessing/platform/security_win.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

constexpr DWORD kBytePipe = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT;

// Kernel buffer of each direction; a write larger than this completes when
// the reader has taken the rest.
constexpr DWORD kPipeBuffer = 64 * 1024;

// What a message read asks for first (CPython's first read is 128 bytes).
constexpr DWORD kFirstRead = 128;

// Writes of buffers that add up to at most this are joined into one
// WriteFile, so a small message is one system call.
constexpr std::size_t kJoinLimit = 64 * 1024;

// Starts an overlapped ReadFile/WriteFile and waits for it (a read no longer
// than the handle's receive timeout: then it is cancelled, ERROR_TIMEOUT).
// Returns the byte count, or sets `error` to the Win32 error.
DWORD Transfer(HANDLE h, bool write, void* data, DWORD size, DWORD* error) {
  OverlappedEvent event;
  OVERLAPPED ov = {};
  ov.hEvent = event.get();
  if (ov.hEvent == nullptr) {
    *error = GetLastError();
    return 0;
  }
  DWORD n = 0;
  const BOOL done = write ? WriteFile(h, data, size, nullptr, &ov)
                          : ReadFile(h, data, size, nullptr, &ov);
  *error = done ? ERROR_SUCCESS : GetLastError();
  bool timed_out = false;
  if (*error == ERROR_IO_PENDING && !write) {
    const DWORD ms = ReadTimeout(h);
    if (ms != INFINITE && WaitForSingleObject(ov.hEvent, ms) == WAIT_TIMEOUT) {
      timed_out = CancelIoEx(h, &ov);
    }
  }
  // Done at once or pending, the OVERLAPPED has the outcome (and the count
  // of a message read in part, ERROR_MORE_DATA).
  if (*error == ERROR_SUCCESS || *error == ERROR_IO_PENDING ||
      *error == ERROR_MORE_DATA) {
    *error = FinishOverlapped(h, &ov, &n);
  }
  // A read that completed while being cancelled keeps its bytes.
  if (timed_out && *error == ERROR_OPERATION_ABORTED) *error = ERROR_TIMEOUT;
  return n;
}

std::wstring UniquePipeName() {
  static std::atomic<unsigned> counter{0};
  char random[8];
  std::string salt;
  if (RandomBytes(absl::MakeSpan(random)).ok()) {
    salt = absl::BytesToHexString(absl::string_view(random, sizeof(random)));
  }
  const std::string name =
      absl::StrCat("\\\\.\\pipe\\multiprocessing-", GetCurrentProcessId(), "-",
                   counter.fetch_add(1, std::memory_order_relaxed), "-", salt);
  return std::wstring(name.begin(), name.end());
}

}  // namespace

absl::StatusOr<ChannelPair> CreatePipePair(DWORD server_access,
                                           DWORD client_access, DWORD pipe_mode,
                                           DWORD flags, DWORD buffer_size) {
  const std::wstring name = UniquePipeName();
  // FIRST_PIPE_INSTANCE: fail rather than join a pipe somebody else made
  // under the same name; REJECT_REMOTE_CLIENTS: local processes only.
  ScopedHandle server(reinterpret_cast<NativeHandle>(CreateNamedPipeW(
      name.c_str(), server_access | flags | FILE_FLAG_FIRST_PIPE_INSTANCE,
      pipe_mode | PIPE_REJECT_REMOTE_CLIENTS,
      /*nMaxInstances=*/1, buffer_size, buffer_size, 0,
      /*lpSecurityAttributes=*/OwnerOnlySecurity())));
  if (!server.is_valid()) return LastNativeError("CreateNamedPipeW");
  // SECURITY_ANONYMOUS: the server end cannot impersonate us.
  ScopedHandle client(reinterpret_cast<NativeHandle>(CreateFileW(
      name.c_str(), client_access, 0, nullptr, OPEN_EXISTING,
      flags | SECURITY_SQOS_PRESENT | SECURITY_ANONYMOUS, nullptr)));
  if (!client.is_valid()) return LastNativeError("CreateFileW(pipe)");
  // The client is connected already, so this normally says so at once.
  OverlappedEvent event;
  OVERLAPPED ov = {};
  ov.hEvent = event.get();
  DWORD error = ConnectNamedPipe(AsHandle(server.get()), &ov) ? ERROR_SUCCESS
                                                              : GetLastError();
  if (error == ERROR_SUCCESS || error == ERROR_IO_PENDING) {
    DWORD unused = 0;
    error = FinishOverlapped(AsHandle(server.get()), &ov, &unused);
  }
  if (error != ERROR_SUCCESS && error != ERROR_PIPE_CONNECTED) {
    return NativeError(static_cast<int>(error), "ConnectNamedPipe");
  }
  return ChannelPair{std::move(server), std::move(client)};
}

absl::StatusOr<ChannelPair> CreateDuplexChannel() {
  return CreatePipePair(PIPE_ACCESS_DUPLEX, GENERIC_READ | GENERIC_WRITE,
                        kBytePipe, FILE_FLAG_OVERLAPPED, kPipeBuffer);
}

absl::StatusOr<ChannelPair> CreateOneWayChannel() {
  // The reader is the server end, which can also Peek (WaitReadable); the
  // writer asks for FILE_READ_ATTRIBUTES only besides writing.
  return CreatePipePair(PIPE_ACCESS_INBOUND,
                        GENERIC_WRITE | FILE_READ_ATTRIBUTES, kBytePipe,
                        FILE_FLAG_OVERLAPPED, kPipeBuffer);
}

absl::Status WriteAll(NativeHandle h, absl::Span<const ConstBuffer> buffers) {
  std::size_t total = 0;
  for (const ConstBuffer& b : buffers) total += b.size;
  std::string joined;
  std::vector<ConstBuffer> one;
  if (buffers.size() > 1 && total <= kJoinLimit) {
    joined.reserve(total);
    for (const ConstBuffer& b : buffers) {
      joined.append(static_cast<const char*>(b.data), b.size);
    }
    one.push_back({joined.data(), joined.size()});
    buffers = one;
  }
  for (const ConstBuffer& b : buffers) {
    const char* p = static_cast<const char*>(b.data);
    std::size_t left = b.size;
    while (left > 0) {
      const DWORD chunk =
          static_cast<DWORD>(std::min<std::size_t>(left, 1u << 30));
      DWORD error = ERROR_SUCCESS;
      const DWORD n = Transfer(AsHandle(h), /*write=*/true,
                               const_cast<char*>(p), chunk, &error);
      if (error != ERROR_SUCCESS) {
        return NativeError(static_cast<int>(error), "WriteFile");
      }
      // A blocking pipe write takes everything or fails; never loop on 0.
      if (n == 0) return absl::DataLossError("WriteFile: wrote nothing");
      p += n;
      left -= n;
    }
  }
  return absl::OkStatus();
}

absl::Status SetReceiveTimeout(NativeHandle h,
                               std::optional<absl::Duration> timeout) {
  DWORD ms = INFINITE;
  if (timeout) {
    // Rounded up, and at least 1 ms: a receive timeout never means "do not
    // wait at all".
    ms = static_cast<DWORD>(std::clamp<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(*timeout, absl::Milliseconds(1))),
        1, INFINITE - 1));
  }
  SetReadTimeout(AsHandle(h), ms);
  return absl::OkStatus();
}

absl::StatusOr<std::size_t> ReadSome(NativeHandle h, void* buffer,
                                     std::size_t size) {
  if (size == 0) return 0;
  const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(size, 1u << 30));
  DWORD error = ERROR_SUCCESS;
  const DWORD n = Transfer(AsHandle(h), /*write=*/false, buffer, chunk, &error);
  if (error == ERROR_SUCCESS || error == ERROR_MORE_DATA) return n;
  if (IsEndOfStreamError(static_cast<int>(error))) return 0;  // peer closed
  return NativeError(static_cast<int>(error), "ReadFile");
}

bool IsEndOfStreamError(int native_error) {
  switch (static_cast<DWORD>(native_error)) {
    case ERROR_BROKEN_PIPE:         // the other end closed
    case ERROR_PIPE_NOT_CONNECTED:  // ... and the server end disconnected
    case ERROR_NO_DATA:             // the pipe is being closed
    case ERROR_NETNAME_DELETED:     // a socket, or a remote pipe, reset
    case ERROR_CONNECTION_ABORTED:  // a socket aborted by the peer's host
      return true;
    default:
      return false;
  }
}

bool IsMessagePipe(NativeHandle h) {
  DWORD flags = 0;
  return GetFileType(AsHandle(h)) == FILE_TYPE_PIPE &&
         GetNamedPipeInfo(AsHandle(h), &flags, nullptr, nullptr, nullptr) &&
         (flags & PIPE_TYPE_MESSAGE) != 0;
}

absl::Status WriteMessage(NativeHandle h,
                          absl::Span<const ConstBuffer> buffers) {
  std::size_t total = 0;
  for (const ConstBuffer& b : buffers) total += b.size;
  if (total > MAXDWORD) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a message of ", total,
        " bytes is too long for one pipe message (at most ", MAXDWORD, ")"));
  }
  std::string joined;
  const void* data = nullptr;
  if (buffers.size() == 1) {
    data = buffers[0].data;
  } else {
    joined.reserve(total);
    for (const ConstBuffer& b : buffers) {
      joined.append(static_cast<const char*>(b.data), b.size);
    }
    data = joined.data();
  }
  // One WriteFile, whatever the size: it is the message.
  DWORD error = ERROR_SUCCESS;
  const DWORD n = Transfer(AsHandle(h), /*write=*/true, const_cast<void*>(data),
                           static_cast<DWORD>(total), &error);
  if (error != ERROR_SUCCESS) {
    return NativeError(static_cast<int>(error), "WriteFile(message)");
  }
  if (n != total) {
    return absl::DataLossError(
        absl::StrCat("WriteFile(message): wrote ", n, " of ", total, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> ReadMessage(NativeHandle h, std::string* out,
                                 std::size_t limit) {
  const HANDLE pipe = AsHandle(h);
  out->clear();
  // An empty message a zero-byte read (WaitReadable) consumed.
  if (TakeEmptyMessage(pipe)) return true;
  auto too_long = [&](std::size_t size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "a message of ", size, " bytes exceeds the limit of ", limit));
  };
  // A small first read, as CPython's; a longer message says
  // ERROR_MORE_DATA and the rest's size is asked for before room is made.
  char first[kFirstRead];
  DWORD error = ERROR_SUCCESS;
  DWORD n = Transfer(pipe, /*write=*/false, first, sizeof first, &error);
  if (IsEndOfStreamError(static_cast<int>(error))) return false;
  if (error != ERROR_SUCCESS && error != ERROR_MORE_DATA) {
    return NativeError(static_cast<int>(error), "ReadFile(message)");
  }
  if (error == ERROR_SUCCESS && n > limit) return too_long(n);
  out->assign(first, n);
  while (error == ERROR_MORE_DATA) {
    DWORD left = 0;
    if (!PeekNamedPipe(pipe, nullptr, 0, nullptr, nullptr, &left)) {
      error = GetLastError();
      out->clear();
      if (IsEndOfStreamError(static_cast<int>(error))) {
        return absl::DataLossError("the pipe closed inside a message");
      }
      return NativeError(static_cast<int>(error), "PeekNamedPipe");
    }
    const std::size_t have = out->size();
    if (have + left > limit) {
      out->clear();
      return too_long(have + left);
    }
    // The system knows the rest's size (the peer wrote it); should it say
    // nothing, read on in small steps (the check after the loop stops a
    // message past the limit).
    const std::size_t want = left > 0 ? left : kFirstRead;
    out->resize(have + want);
    n = Transfer(pipe, /*write=*/false, out->data() + have,
                 static_cast<DWORD>(std::min<std::size_t>(want, MAXDWORD)),
                 &error);
    out->resize(have + n);
    if (error != ERROR_SUCCESS && error != ERROR_MORE_DATA) {
      out->clear();
      if (IsEndOfStreamError(static_cast<int>(error))) {
        return absl::DataLossError("the pipe closed inside a message");
      }
      return NativeError(static_cast<int>(error), "ReadFile(message)");
    }
  }
  if (out->size() > limit) {
    const std::size_t size = out->size();
    out->clear();
    return too_long(size);
  }
  return true;
}

absl::Status CloseForWriting(ScopedHandle& h) { return h.Close(); }

absl::StatusOr<std::int64_t> DuplexChannelCreator(NativeHandle h) {
  const HANDLE pipe = AsHandle(h);
  DWORD flags = 0, max_instances = 0;
  if (GetFileType(pipe) != FILE_TYPE_PIPE ||
      !GetNamedPipeInfo(pipe, &flags, nullptr, nullptr, &max_instances) ||
      (flags & PIPE_SERVER_END) != 0 || max_instances != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("handle ", h, " is not a duplex channel"));
  }
  // The server end stays with the process that made the pair.
  ULONG server = 0;
  if (!GetNamedPipeServerProcessId(pipe, &server)) return 0;
  return static_cast<std::int64_t>(server);
}

}  // namespace mp::platform
