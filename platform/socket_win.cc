// Listener and Client on Windows: named pipes, as Python's AF_PIPE, and TCP
// (bsd_socket.cc, shared with POSIX). Pipes are made as CPython's
// PipeListener and PipeClient make them, message mode both ways
// (PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE on the listener's instances,
// SetNamedPipeHandleState(PIPE_READMODE_MESSAGE) on the client's end), so a
// Connection over them speaks CPython's PipeConnection: one message per
// write, no length header (channel.h, IsMessagePipe). A pipe listener holds
// one instance with a ConnectNamedPipe pending from its creation
// (win_util.h, StartListening); Accept() finishes that connect, hands the
// instance over and creates the next. Unix socket addresses are refused, as
// Python's multiprocessing does on Windows.
#include <windows.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bsd_socket.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/security_win.h"
#include "multiprocessing/platform/socket.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

constexpr DWORD kPipeBuffer = 64 * 1024;

// How long Connect() waits for a busy listener (every instance taken) to
// offer a new one: Python's default connection timeout.
constexpr absl::Duration kConnectTimeout = absl::Seconds(20);

absl::StatusOr<std::wstring> PipeName(absl::string_view address) {
  if (!absl::StartsWith(address, "\\\\.\\pipe\\") ||
      address.size() == sizeof("\\\\.\\pipe\\") - 1) {
    return absl::UnimplementedError(absl::StrCat(
        "address ", address,
        ": on Windows, Listener and Client take named pipes "
        "(\\\\.\\pipe\\name) and TCP (host:port), not Unix sockets"));
  }
  return Utf8ToWide(address);
}

// A new instance of pipe `name`, waiting for a client: a connect is pending
// on it (StartListening), which WaitReadable waits on and Accept finishes.
absl::StatusOr<ScopedHandle> NewInstance(const std::wstring& name, bool first) {
  ScopedHandle h(reinterpret_cast<NativeHandle>(
      CreateNamedPipeW(name.c_str(),
                       PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                           (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
                       PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT |
                           PIPE_REJECT_REMOTE_CLIENTS,
                       PIPE_UNLIMITED_INSTANCES, kPipeBuffer, kPipeBuffer, 0,
                       /*lpSecurityAttributes=*/OwnerOnlySecurity())));
  if (!h.is_valid()) return LastNativeError("CreateNamedPipeW");
  if (const DWORD error = StartListening(AsHandle(h.get()));
      error != ERROR_SUCCESS) {
    return NativeError(static_cast<int>(error), "ConnectNamedPipe");
  }
  return h;
}

}  // namespace

absl::StatusOr<BoundSocket> Listen(absl::string_view address, int backlog,
                                   int /*unix_socket_mode*/) {
  if (bsd_socket::IsTcpAddress(address)) {
    return bsd_socket::ListenTcp(address, backlog);
  }
  absl::StatusOr<std::wstring> name = PipeName(address);
  if (!name.ok()) return name.status();
  // A name somebody already listens on is an error, as a bound address is
  // on POSIX. FIRST_PIPE_INSTANCE says so on Windows; Wine ignores it, so
  // look first too (an instance free, or all of them busy).
  if (WaitNamedPipeW(name->c_str(), 1) || GetLastError() == ERROR_SEM_TIMEOUT) {
    return absl::AlreadyExistsError(
        absl::StrCat("listen on ", address, ": the pipe exists already"));
  }
  absl::StatusOr<ScopedHandle> h = NewInstance(*name, /*first=*/true);
  if (!h.ok()) return h.status();
  return BoundSocket{*std::move(h), std::string(address)};
}

absl::StatusOr<BoundSocket> Accept(BoundSocket& listener) {
  if (bsd_socket::IsTcpAddress(listener.address)) {
    return bsd_socket::Accept(listener);
  }
  HANDLE h = AsHandle(listener.handle.get());
  // The connect pending since the instance was made.
  const DWORD error = FinishListening(h);
  // PIPE_CONNECTED: the client came before the connect started. NO_DATA: it
  // came and closed already; its connection reads as end of stream (as in
  // Python).
  if (error != ERROR_SUCCESS && error != ERROR_PIPE_CONNECTED &&
      error != ERROR_NO_DATA) {
    // The instance listens again, so the listener stays usable.
    DisconnectNamedPipe(h);
    const DWORD restarted = StartListening(h);
    absl::Status s = NativeError(static_cast<int>(error), "ConnectNamedPipe");
    if (restarted != ERROR_SUCCESS) {
      s = NativeError(static_cast<int>(restarted), "ConnectNamedPipe(again)");
    }
    return s;
  }
  absl::StatusOr<std::wstring> name = PipeName(listener.address);
  if (!name.ok()) return name.status();
  absl::StatusOr<ScopedHandle> next = NewInstance(*name, /*first=*/false);
  if (!next.ok()) return next.status();
  BoundSocket connected{std::move(listener.handle), ""};
  listener.handle = *std::move(next);
  return connected;
}

absl::StatusOr<ScopedHandle> Connect(absl::string_view address) {
  if (bsd_socket::IsTcpAddress(address)) {
    return bsd_socket::ConnectTcp(address);
  }
  absl::StatusOr<std::wstring> name = PipeName(address);
  if (!name.ok()) return name.status();
  const absl::Time deadline = absl::Now() + kConnectTimeout;
  for (;;) {
    // SECURITY_ANONYMOUS: the listener cannot impersonate us.
    ScopedHandle h(reinterpret_cast<NativeHandle>(CreateFileW(
        name->c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_ANONYMOUS,
        nullptr)));
    if (h.is_valid()) {
      // Messages are read whole (CPython's PipeClient does the same); a
      // pipe that is not a message pipe refuses this.
      DWORD mode = PIPE_READMODE_MESSAGE;
      if (!SetNamedPipeHandleState(AsHandle(h.get()), &mode, nullptr,
                                   nullptr)) {
        const DWORD error = GetLastError();
        return NativeError(
            static_cast<int>(error),
            absl::StrCat("connect to ", address,
                         ": SetNamedPipeHandleState(PIPE_READMODE_MESSAGE)"));
      }
      return h;
    }
    if (GetLastError() != ERROR_PIPE_BUSY) {
      return LastNativeError(absl::StrCat("connect to ", address));
    }
    // Every instance is taken: wait for the listener's next one.
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return TimeoutError(
          absl::StrCat("connect to ", address, ": the listener stayed busy"));
    }
    WaitNamedPipeW(
        name->c_str(),
        static_cast<DWORD>(std::max<int64_t>(
            1, absl::ToInt64Milliseconds(std::min(left, absl::Seconds(1))))));
  }
}

absl::Status RemoveSocketFile(absl::string_view address) {
  return absl::OkStatus();  // a pipe name goes with its last handle
}

}  // namespace mp::platform
