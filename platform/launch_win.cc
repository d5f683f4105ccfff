// Windows processes: CreateProcessW for the spawn start method (there is no
// fork), children that inherit nothing and are given duplicates of exactly
// the handles they should hold (DuplicateHandle into the suspended child, as
// CPython's popen_spawn_win32 does) and die with their parent unless asked
// not to (a job object that is closed with it), and TerminateProcess with a
// code that reads back as -SIGTERM, as in CPython.
#include <winsock2.h>
// After winsock2.h.
#include <shellapi.h>
#include <windows.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/exit_status.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

// One argument quoted so that CommandLineToArgvW (and the C runtime) gives
// it back unchanged: backslashes are literal except before a quote.
void AppendQuoted(const std::wstring& arg, std::wstring* out) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
    out->append(arg);
    return;
  }
  out->push_back(L'"');
  std::size_t backslashes = 0;
  for (wchar_t c : arg) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    // Backslashes before a quote are doubled, and the quote escaped.
    out->append(c == L'"' ? 2 * backslashes + 1 : backslashes, L'\\');
    backslashes = 0;
    out->push_back(c);
  }
  // Backslashes before the closing quote are doubled.
  out->append(2 * backslashes, L'\\');
  out->push_back(L'"');
}

// The job every child joins (unless kill_with_parent is false): closing its
// last handle, which happens when this process ends however it ends, kills
// every process in it (Chromium's and libuv's approach). The processes our
// children start are in it too, as the system puts a child in its parent's
// jobs: there is no JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK, which would let
// every one of them (system(), _popen, a library's helper) escape. Only a
// process created with CREATE_BREAKAWAY_FROM_JOB leaves it
// (JOB_OBJECT_LIMIT_BREAKAWAY_OK): what a child of ours asks for when it
// starts one with kill_with_parent false.
struct Job {
  HANDLE handle = nullptr;
  absl::Status status;
};
const Job& ChildrenJob() {
  static const Job* job = [] {
    auto* j = new Job;
    j->handle = CreateJobObjectW(nullptr, nullptr);
    if (j->handle == nullptr) {
      j->status = LastNativeError("CreateJobObjectW");
      return j;
    }
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = {};
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_BREAKAWAY_OK;
    if (!SetInformationJobObject(j->handle, JobObjectExtendedLimitInformation,
                                 &limits, sizeof(limits))) {
      j->status = LastNativeError("SetInformationJobObject");
      CloseHandle(j->handle);
      j->handle = nullptr;
    }
    return j;
  }();
  return *job;
}

// Whether this process is in a job (a child it starts is put in it too).
bool InAJob() {
  BOOL in_job = FALSE;
  return IsProcessInJob(GetCurrentProcess(), nullptr, &in_job) && in_job;
}

// A process created but not yet running our code (suspended): ended and
// forgotten unless released.
struct Suspended {
  PROCESS_INFORMATION info = {};
  ~Suspended() {
    if (info.hProcess != nullptr) {
      TerminateProcess(info.hProcess, 1);
      // Its handles (those duplicated into it) close as it ends.
      WaitForSingleObject(info.hProcess, INFINITE);
      CloseHandle(info.hProcess);
    }
    if (info.hThread != nullptr) CloseHandle(info.hThread);
  }
};

}  // namespace

bool CanFork() { return false; }

// No forkserver on Windows (it needs fork()).
bool CanForkserver() { return false; }

absl::Status SendWithHandles(NativeHandle, absl::string_view,
                             absl::Span<const NativeHandle>) {
  return absl::UnimplementedError("SendWithHandles: no forkserver on Windows");
}

absl::StatusOr<std::optional<MessageWithHandles>> ReceiveWithHandles(
    NativeHandle) {
  return absl::UnimplementedError(
      "ReceiveWithHandles: no forkserver on Windows");
}

void KeptSignalState(absl::Span<const int>, std::vector<int>* blocked,
                     std::vector<int>* ignored) {
  blocked->clear();
  ignored->clear();
}

void BlockAndIgnoreSignals(absl::Span<const int>, absl::Span<const int>) {}

absl::StatusOr<ChildProcess> ForkAndRun(absl::Span<const NativeHandle> keep,
                                        absl::FunctionRef<int()> child_main,
                                        const LaunchOptions& options) {
  return absl::UnimplementedError(
      "fork does not exist on Windows; use the spawn start method");
}

absl::StatusOr<ChildProcess> LaunchProgram(
    const std::vector<std::string>& argv,
    absl::Span<const NativeHandle> inherit, const LaunchOptions& options) {
  if (argv.empty()) return absl::InvalidArgumentError("LaunchProgram: no argv");
  // DuplicateHandle must not be used on sockets (its documentation): those
  // of `inherit` are shared with WSADuplicateSocket below; a child cannot
  // take one from us itself.
  for (NativeHandle h : options.taken_by_child) {
    if (IsSocket(AsHandle(h))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "LaunchProgram: handle ", h,
          " is a socket, which a child cannot take from its parent on "
          "Windows (sockets are not duplicated with DuplicateHandle); pass "
          "it in `inherit`"));
    }
  }
  std::wstring command_line;
  for (const std::string& arg : argv) {
    if (!command_line.empty()) command_line.push_back(L' ');
    AppendQuoted(Utf8ToWide(arg), &command_line);
  }
  // The environment block, when changed: this process's entries (but those
  // replaced), then the new ones; each ends with a zero, the block with two.
  std::wstring environment;
  if (!options.environment.empty()) {
    std::vector<std::wstring> added;
    for (const std::string& e : options.environment) {
      added.push_back(Utf8ToWide(e));
    }
    wchar_t* block = GetEnvironmentStringsW();
    for (const wchar_t* p = block; p != nullptr && *p != L'\0';
         p += wcslen(p) + 1) {
      const std::wstring entry(p);
      const bool replaced =
          std::any_of(added.begin(), added.end(), [&](const std::wstring& a) {
            const std::size_t eq = a.find(L'=');
            return _wcsnicmp(entry.c_str(), a.c_str(), eq + 1) == 0;
          });
      if (!replaced) environment.append(entry).push_back(L'\0');
    }
    if (block != nullptr) FreeEnvironmentStringsW(block);
    for (const std::wstring& a : added) environment.append(a).push_back(L'\0');
    environment.push_back(L'\0');
  }
  const Job* job = nullptr;
  if (options.kill_with_parent) {
    job = &ChildrenJob();
    if (!job->status.ok()) return job->status;
  }
  // Nothing is inherited (bInheritHandles FALSE), so no handle of ours is
  // ever marked inheritable: a CreateProcess another thread makes meanwhile
  // cannot take one. The child is suspended until it is in the job (nothing
  // it starts escapes it) and holds the handles it is given.
  DWORD flags =
      CREATE_SUSPENDED | (environment.empty() ? 0 : CREATE_UNICODE_ENVIRONMENT);
  // A child that outlives us leaves a job we are in, where it may.
  if (!options.kill_with_parent && InAJob()) flags |= CREATE_BREAKAWAY_FROM_JOB;
  STARTUPINFOW startup = {};
  startup.cb = sizeof(startup);
  Suspended child_process;
  PROCESS_INFORMATION& info = child_process.info;
  // Under load, Wine now and then fails a CreateProcessW that succeeds when
  // tried again, with ERROR_INTERNAL_ERROR (seen about once in a few
  // thousand starts); that error alone is tried again, twice at most.
  for (int attempt = 1;; ++attempt) {
    if (CreateProcessW(nullptr, command_line.data(), nullptr, nullptr,
                       /*bInheritHandles=*/FALSE, flags,
                       environment.empty() ? nullptr : environment.data(),
                       nullptr, &startup, &info)) {
      break;
    }
    const DWORD error = GetLastError();
    if (error == ERROR_ACCESS_DENIED && (flags & CREATE_BREAKAWAY_FROM_JOB)) {
      // The job we are in forbids breaking away: the child stays in it, as
      // any other child of ours would.
      flags &= ~static_cast<DWORD>(CREATE_BREAKAWAY_FROM_JOB);
      continue;
    }
    if (error != ERROR_INTERNAL_ERROR || attempt >= 3) {
      return LastNativeError(absl::StrCat("CreateProcessW(", argv[0], ")"));
    }
    Sleep(10);
  }
  // Kill-on-close is what kill_with_parent promises: a child that cannot
  // join the job (Windows 7, where a process in a job cannot join another;
  // a job of ours nested in one that forbids it) is not started.
  if (job != nullptr && !AssignProcessToJobObject(job->handle, info.hProcess)) {
    return LastNativeError("AssignProcessToJobObject");
  }
  ChildProcess child;
  child.inherited.reserve(inherit.size());
  child.socket_infos.resize(inherit.size());
  for (std::size_t i = 0; i < inherit.size(); ++i) {
    const NativeHandle h = inherit[i];
    if (IsSocket(AsHandle(h))) {
      WSAPROTOCOL_INFOW socket_info = {};
      if (WSADuplicateSocketW(static_cast<SOCKET>(h), info.dwProcessId,
                              &socket_info) != 0) {
        return NativeError(WSAGetLastError(),
                           absl::StrCat("WSADuplicateSocketW(", h, ")"));
      }
      child.inherited.push_back(kInvalidHandle);
      child.socket_infos[i].assign(reinterpret_cast<const char*>(&socket_info),
                                   sizeof(socket_info));
      continue;
    }
    HANDLE theirs = nullptr;
    if (!DuplicateHandle(GetCurrentProcess(), AsHandle(h), info.hProcess,
                         &theirs, 0, /*bInheritHandle=*/FALSE,
                         DUPLICATE_SAME_ACCESS)) {
      return LastNativeError(
          absl::StrCat("DuplicateHandle(", h, " into the child)"));
    }
    child.inherited.push_back(reinterpret_cast<NativeHandle>(theirs));
  }
  if (ResumeThread(info.hThread) == static_cast<DWORD>(-1)) {
    return LastNativeError("ResumeThread");
  }
  CloseHandle(info.hThread);
  info.hThread = nullptr;
  child.pid = info.dwProcessId;
  // The process handle is signalled when it exits: WaitReadable takes it.
  child.sentinel.reset(reinterpret_cast<NativeHandle>(info.hProcess));
  info.hProcess = nullptr;
  return child;
}

absl::StatusOr<ScopedHandle> TakeHandleFromParent(ProcessId parent,
                                                  NativeHandle handle) {
  const auto pid = static_cast<DWORD>(parent);
  if (parent <= 0 || static_cast<ProcessId>(pid) != parent) {
    return absl::InvalidArgumentError(
        absl::StrCat("TakeHandleFromParent: no process ", parent));
  }
  if (parent != ParentProcessId()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TakeHandleFromParent: process ", parent, " is not this one's parent"));
  }
  HANDLE source = OpenProcess(
      PROCESS_DUP_HANDLE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (source == nullptr) return LastNativeError("OpenProcess(parent)");
  struct Close {
    HANDLE h;
    ~Close() { CloseHandle(h); }
  } close_source{source};
  // Windows does not re-parent orphans, and reuses ids: a process with the
  // parent's id that started after this one is not the parent.
  FILETIME theirs_created, ours_created, unused1, unused2, unused3;
  if (!GetProcessTimes(source, &theirs_created, &unused1, &unused2, &unused3) ||
      !GetProcessTimes(GetCurrentProcess(), &ours_created, &unused1, &unused2,
                       &unused3)) {
    return LastNativeError("GetProcessTimes");
  }
  if (CompareFileTime(&theirs_created, &ours_created) > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TakeHandleFromParent: process ", parent,
        " started after this one: the parent is gone and its id reused"));
  }
  HANDLE out = nullptr;
  if (!DuplicateHandle(source, AsHandle(handle), GetCurrentProcess(), &out, 0,
                       /*bInheritHandle=*/FALSE, DUPLICATE_SAME_ACCESS)) {
    return LastNativeError(absl::StrCat("DuplicateHandle(", handle,
                                        " from process ", parent, ")"));
  }
  return ScopedHandle(reinterpret_cast<NativeHandle>(out));
}

absl::StatusOr<ScopedHandle> ImportSocket(absl::string_view socket_info) {
  WSAPROTOCOL_INFOW info;
  if (socket_info.size() != sizeof(info)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ImportSocket: ", socket_info.size(),
                     " bytes are no WSAPROTOCOL_INFOW"));
  }
  std::memcpy(&info, socket_info.data(), sizeof(info));
  if (const int error = StartWinsock(); error != 0) {
    return NativeError(error, "WSAStartup");
  }
  const SOCKET s =
      WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO,
                 &info, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    return NativeError(WSAGetLastError(), "WSASocketW(FROM_PROTOCOL_INFO)");
  }
  return ScopedHandle(static_cast<NativeHandle>(s));
}

absl::StatusOr<std::optional<int>> WaitForExit(
    const ChildProcess& child, std::optional<absl::Duration> timeout) {
  DWORD ms = INFINITE;
  if (timeout) {
    ms = *timeout <= absl::ZeroDuration()
             ? 0
             : static_cast<DWORD>(
                   std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(
                                         *timeout, absl::Milliseconds(1))),
                                     INFINITE - 1));
  }
  HANDLE h = AsHandle(child.sentinel.get());
  switch (WaitForSingleObject(h, ms)) {
    case WAIT_OBJECT_0:
      break;
    case WAIT_TIMEOUT:
      return std::optional<int>();
    default:
      return LastNativeError("WaitForSingleObject(process)");
  }
  DWORD code = 0;
  if (!GetExitCodeProcess(h, &code))
    return LastNativeError("GetExitCodeProcess");
  return std::optional<int>(DecodeExitStatus(static_cast<int>(code)));
}

namespace {

// TerminateProcess with the code `exitcode` reads back as -`signal_number`.
absl::Status EndWith(const ChildProcess& child, int signal_number) {
  if (!TerminateProcess(AsHandle(child.sentinel.get()),
                        static_cast<UINT>(-signal_number))) {
    // A child that exited already (its handle still open, like a POSIX
    // zombie, which kill() also accepts) is not an error.
    if (GetLastError() == ERROR_ACCESS_DENIED) return absl::OkStatus();
    return LastNativeError("TerminateProcess");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Terminate(const ChildProcess& child) {
  return EndWith(child, kSigTerm);
}

absl::Status Kill(const ChildProcess& child) {
  return EndWith(child, kSigKill);
}

void ExitNow(int code) {
  TerminateProcess(GetCurrentProcess(), static_cast<UINT>(code));
  // TerminateProcess on this process does not return; if it ever did, the
  // C runtime's immediate exit (no atexit handlers, no stdio flush) ends
  // it, rather than a side-effect-free loop, undefined in C++.
  _exit(code);
}

ProcessId CurrentProcessId() { return GetCurrentProcessId(); }

ProcessId ParentProcessId() {
  // NtQueryInformationProcess(ProcessBasicInformation); the SDKs name the
  // parent's field differently, so the layout is spelled out here.
  struct BasicInformation {
    LONG exit_status;
    void* peb;
    ULONG_PTR affinity_mask;
    LONG base_priority;
    ULONG_PTR unique_process_id;
    ULONG_PTR inherited_from_unique_process_id;
  };
  using QueryFn = LONG(WINAPI*)(HANDLE, ULONG, void*, ULONG, ULONG*);
  auto query = reinterpret_cast<QueryFn>(reinterpret_cast<void*>(GetProcAddress(
      GetModuleHandleW(L"ntdll.dll"), "NtQueryInformationProcess")));
  BasicInformation info = {};
  constexpr ULONG kProcessBasicInformation = 0;
  if (query == nullptr || query(GetCurrentProcess(), kProcessBasicInformation,
                                &info, sizeof(info), nullptr) != 0) {
    return 0;
  }
  return static_cast<ProcessId>(info.inherited_from_unique_process_id);
}

absl::StatusOr<std::string> ExecutablePath() {
  std::wstring path(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n = GetModuleFileNameW(nullptr, path.data(),
                                       static_cast<DWORD>(path.size()));
    if (n == 0) return LastNativeError("GetModuleFileNameW");
    if (n < path.size()) return WideToUtf8(path.data(), n);
    path.resize(path.size() * 2);
  }
}

const std::vector<std::string>& ProgramArguments() {
  static const std::vector<std::string> arguments = [] {
    std::vector<std::string> out;
    int argc = 0;
    wchar_t** argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    for (int i = 0; argv != nullptr && i < argc; ++i) {
      out.push_back(WideToUtf8(argv[i], wcslen(argv[i])));
    }
    if (argv != nullptr) LocalFree(argv);
    return out;
  }();
  return arguments;
}

std::optional<std::string> TakeEnvironmentVariable(const std::string& name) {
  const std::wstring wide = Utf8ToWide(name);
  const DWORD size = GetEnvironmentVariableW(wide.c_str(), nullptr, 0);
  if (size == 0) return std::nullopt;
  std::wstring value(size, L'\0');
  const DWORD n = GetEnvironmentVariableW(wide.c_str(), value.data(), size);
  value.resize(n);
  // Both copies: the system's and the C runtime's (getenv).
  SetEnvironmentVariableW(wide.c_str(), nullptr);
  _wputenv_s(wide.c_str(), L"");
  return WideToUtf8(value.data(), value.size());
}

std::optional<int> ProcessorCount() {
  const DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
  if (n == 0) return std::nullopt;
  return static_cast<int>(n);
}

}  // namespace mp::platform
