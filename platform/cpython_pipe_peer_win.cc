// CPython 3.11's named-pipe side of multiprocessing.connection, at the Win32
// level (Lib/multiprocessing/connection.py: PipeListener, PipeClient,
// PipeConnection._send_bytes / _recv_bytes / _get_more_data,
// deliver_challenge, answer_challenge; Modules/_winapi.c for the calls they
// make). Written from reading them, for tests; see cpython_pipe_peer.h.
#include <windows.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/cpython_pipe_peer.h"
#include "multiprocessing/platform/crypto.h"

namespace mp::test_util {
namespace {

// multiprocessing.connection.BUFSIZE.
constexpr DWORD kBufSize = 8192;
constexpr char kChallenge[] = "#CHALLENGE#";
constexpr char kWelcome[] = "#WELCOME#";
constexpr char kFailure[] = "#FAILURE#";
constexpr std::size_t kMessageLength = 20;  // MESSAGE_LENGTH

std::wstring Wide(const std::string& s) {
  return std::wstring(s.begin(), s.end());
}

void Fail(const char* what, DWORD error) {
  std::fprintf(stderr, "cpython pipe peer: %s failed: error %lu\n", what,
               static_cast<unsigned long>(error));
  std::fflush(stderr);
}

// An overlapped operation as _winapi.Overlapped: its own manual-reset event.
struct Overlapped {
  Overlapped() { ov.hEvent = CreateEventW(nullptr, TRUE, FALSE, nullptr); }
  ~Overlapped() { CloseHandle(ov.hEvent); }
  // WaitForMultipleObjects([ov.event], False, INFINITE), then
  // GetOverlappedResult(True): (bytes, error).
  DWORD Finish(HANDLE h, DWORD started, DWORD* bytes) {
    if (started == ERROR_IO_PENDING) {
      WaitForMultipleObjects(1, &ov.hEvent, FALSE, INFINITE);
    }
    return GetOverlappedResult(h, &ov, bytes, TRUE) ? ERROR_SUCCESS
                                                    : GetLastError();
  }
  OVERLAPPED ov = {};
};

class PipeConnection {
 public:
  explicit PipeConnection(HANDLE h) : h_(h) {}
  ~PipeConnection() { Close(); }
  void Close() {
    if (h_ != nullptr) CloseHandle(h_);
    h_ = nullptr;
  }

  // _send_bytes: one overlapped WriteFile of the whole buffer.
  bool SendBytes(const std::string& buf) {
    Overlapped ov;
    const DWORD started =
        WriteFile(h_, buf.data(), static_cast<DWORD>(buf.size()), nullptr,
                  &ov.ov)
            ? ERROR_SUCCESS
            : GetLastError();
    if (started != ERROR_SUCCESS && started != ERROR_IO_PENDING) {
      Fail("WriteFile", started);
      return false;
    }
    DWORD written = 0;
    const DWORD error = ov.Finish(h_, started, &written);
    if (error != ERROR_SUCCESS || written != buf.size()) {
      Fail("WriteFile (result)", error);
      return false;
    }
    return true;
  }

  // _recv_bytes(maxsize): a 128-byte first read (min(maxsize, 128)); on
  // ERROR_MORE_DATA, _get_more_data. Returns false at EOF (BROKEN_PIPE) or
  // on an error (`*error` says which; bad message length is
  // ERROR_INVALID_DATA here).
  bool RecvBytes(std::string* out, DWORD* error,
                 std::optional<std::size_t> maxsize = std::nullopt) {
    const DWORD bsize =
        maxsize ? static_cast<DWORD>(std::min<std::size_t>(*maxsize, 128))
                : 128;
    std::vector<char> buf(bsize);
    Overlapped ov;
    DWORD started = ReadFile(h_, buf.data(), bsize, nullptr, &ov.ov)
                        ? ERROR_SUCCESS
                        : GetLastError();
    if (started != ERROR_SUCCESS && started != ERROR_IO_PENDING &&
        started != ERROR_MORE_DATA) {
      *error = started;
      return false;
    }
    DWORD nread = 0;
    *error = ov.Finish(h_, started, &nread);
    if (*error == ERROR_SUCCESS) {
      out->assign(buf.data(), nread);
      return true;
    }
    if (*error != ERROR_MORE_DATA) return false;
    // _get_more_data
    out->assign(buf.data(), nread);
    DWORD left = 0;
    if (!PeekNamedPipe(h_, nullptr, 0, nullptr, nullptr, &left)) {
      *error = GetLastError();
      return false;
    }
    if (left == 0) {
      *error = ERROR_INVALID_FUNCTION;  // CPython asserts left > 0
      return false;
    }
    if (maxsize && out->size() + left > *maxsize) {
      Close();  // _bad_message_length
      *error = ERROR_INVALID_DATA;
      return false;
    }
    std::vector<char> rest(left);
    Overlapped ov2;
    started = ReadFile(h_, rest.data(), left, nullptr, &ov2.ov)
                  ? ERROR_SUCCESS
                  : GetLastError();
    DWORD rbytes = 0;
    *error = ov2.Finish(h_, started, &rbytes);
    if (*error != ERROR_SUCCESS || rbytes != left) return false;
    out->append(rest.data(), rbytes);
    return true;
  }

  HANDLE handle() const { return h_; }

 private:
  HANDLE h_;
};

std::string Random(std::size_t n) {
  std::string s(n, '\0');
  if (!platform::RandomBytes(absl::MakeSpan(s)).ok()) return std::string();
  return s;
}

std::string HmacMd5(const std::string& key, const std::string& message) {
  absl::StatusOr<std::string> mac = platform::Hmac("md5", key, message);
  return mac.ok() ? *mac : std::string();
}

bool DeliverChallenge(PipeConnection& c, const std::string& authkey) {
  const std::string message = Random(kMessageLength);
  if (!c.SendBytes(kChallenge + message)) return false;
  const std::string digest = HmacMd5(authkey, message);
  std::string response;
  DWORD error = 0;
  if (!c.RecvBytes(&response, &error, 256)) {
    Fail("deliver_challenge: recv_bytes(256)", error);
    return false;
  }
  if (response == digest) return c.SendBytes(kWelcome);
  c.SendBytes(kFailure);
  std::fprintf(stderr, "cpython pipe peer: digest received was wrong\n");
  return false;
}

bool AnswerChallenge(PipeConnection& c, const std::string& authkey) {
  std::string message;
  DWORD error = 0;
  if (!c.RecvBytes(&message, &error, 256)) {
    Fail("answer_challenge: recv_bytes(256)", error);
    return false;
  }
  if (!absl::StartsWith(message, kChallenge)) {
    std::fprintf(stderr, "cpython pipe peer: not a challenge\n");
    return false;
  }
  message = message.substr(sizeof(kChallenge) - 1);
  if (!c.SendBytes(HmacMd5(authkey, message))) return false;
  std::string response;
  if (!c.RecvBytes(&response, &error, 256)) {
    Fail("answer_challenge: recv_bytes(256) (verdict)", error);
    return false;
  }
  if (response != kWelcome) {
    std::fprintf(stderr, "cpython pipe peer: digest sent was rejected\n");
    return false;
  }
  return true;
}

// The commands of cpython_pipe_peer.h, until end of stream.
int Serve(PipeConnection& c) {
  for (;;) {
    std::string m;
    DWORD error = 0;
    if (!c.RecvBytes(&m, &error)) {
      if (error == ERROR_BROKEN_PIPE) return 0;  // EOFError
      Fail("recv_bytes", error);
      return 3;
    }
    absl::string_view v = m;
    std::size_t n = 0;
    if (absl::ConsumePrefix(&v, "!big ") && absl::SimpleAtoi(v, &n)) {
      if (!c.SendBytes(std::string(n, 'b'))) return 4;
    } else if (m == "!empty") {
      if (!c.SendBytes("") || !c.SendBytes("after")) return 4;
    } else if (m == "!close") {
      c.Close();
      return 0;
    } else if (absl::ConsumePrefix(&v, "!sleep ") && absl::SimpleAtoi(v, &n)) {
      Sleep(static_cast<DWORD>(n));
      if (!c.SendBytes("awake")) return 4;
    } else if (!c.SendBytes(m)) {
      return 4;
    }
  }
}

// PipeListener._new_handle.
HANDLE NewHandle(const std::wstring& address, bool first) {
  DWORD flags = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
  if (first) flags |= FILE_FLAG_FIRST_PIPE_INSTANCE;
  return CreateNamedPipeW(address.c_str(), flags,
                          PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                          PIPE_UNLIMITED_INSTANCES, kBufSize, kBufSize,
                          NMPWAIT_WAIT_FOREVER, nullptr);
}

}  // namespace

int RunCPythonPipeListener(const std::string& address,
                           const std::optional<std::string>& authkey) {
  const std::wstring name = Wide(address);
  std::vector<HANDLE> queue = {NewHandle(name, /*first=*/true)};
  if (queue[0] == INVALID_HANDLE_VALUE) {
    Fail("CreateNamedPipe", GetLastError());
    return 2;
  }
  // accept(): the next handle first, then connect the oldest.
  queue.push_back(NewHandle(name, /*first=*/false));
  HANDLE h = queue.front();
  queue.erase(queue.begin());
  Overlapped ov;
  const DWORD started =
      ConnectNamedPipe(h, &ov.ov) ? ERROR_SUCCESS : GetLastError();
  if (started != ERROR_NO_DATA) {
    if (started != ERROR_IO_PENDING && started != ERROR_PIPE_CONNECTED &&
        started != ERROR_SUCCESS) {
      Fail("ConnectNamedPipe", started);
      return 2;
    }
    if (started == ERROR_IO_PENDING) {
      DWORD unused = 0;
      const DWORD error = ov.Finish(h, started, &unused);
      if (error != ERROR_SUCCESS) {
        Fail("ConnectNamedPipe (result)", error);
        return 2;
      }
    }
  }
  PipeConnection c(h);
  if (authkey &&
      (!DeliverChallenge(c, *authkey) || !AnswerChallenge(c, *authkey))) {
    return 5;
  }
  const int code = Serve(c);
  for (HANDLE rest : queue) CloseHandle(rest);
  return code;
}

int RunCPythonPipeClient(const std::string& address,
                         const std::optional<std::string>& authkey) {
  const std::wstring name = Wide(address);
  const ULONGLONG deadline = GetTickCount64() + 20000;  // _init_timeout()
  HANDLE h = INVALID_HANDLE_VALUE;
  for (;;) {
    // WaitNamedPipe(address, 1000), then CreateFile. (CPython fails at once
    // on a pipe that does not exist yet; the test starts its listener
    // concurrently, so that too is waited out here.)
    WaitNamedPipeW(name.c_str(), 1000);
    h = CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                    OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
    if (h != INVALID_HANDLE_VALUE) break;
    const DWORD error = GetLastError();
    if ((error != ERROR_SEM_TIMEOUT && error != ERROR_PIPE_BUSY &&
         error != ERROR_FILE_NOT_FOUND) ||
        GetTickCount64() > deadline) {
      Fail("CreateFile", error);
      return 2;
    }
    if (error == ERROR_FILE_NOT_FOUND) Sleep(10);
  }
  DWORD mode = PIPE_READMODE_MESSAGE;
  if (!SetNamedPipeHandleState(h, &mode, nullptr, nullptr)) {
    Fail("SetNamedPipeHandleState(PIPE_READMODE_MESSAGE)", GetLastError());
    CloseHandle(h);
    return 2;
  }
  PipeConnection c(h);
  if (authkey &&
      (!AnswerChallenge(c, *authkey) || !DeliverChallenge(c, *authkey))) {
    return 5;
  }
  return Serve(c);
}

}  // namespace mp::test_util
