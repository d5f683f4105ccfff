// Windows processes: CreateProcessW for the spawn start method (there is no
// fork), children that inherit exactly the handles they are given
// (PROC_THREAD_ATTRIBUTE_HANDLE_LIST) and die with their parent unless asked
// not to (a job object that is closed with it), and TerminateProcess with a
// code that reads back as -SIGTERM, as in CPython.
#include <windows.h>
// After windows.h.
#include <shellapi.h>

#include <algorithm>
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

// The job every child joins: closing its last handle, which happens when this
// process ends however it ends, kills them (Chromium's and libuv's approach).
HANDLE ChildrenJob() {
  static HANDLE job = [] {
    HANDLE j = CreateJobObjectW(nullptr, nullptr);
    if (j == nullptr) return j;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = {};
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE |
        JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
    SetInformationJobObject(j, JobObjectExtendedLimitInformation, &limits,
                            sizeof(limits));
    return j;
  }();
  return job;
}

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
  std::wstring command_line;
  for (const std::string& arg : argv) {
    if (!command_line.empty()) command_line.push_back(L' ');
    AppendQuoted(Utf8ToWide(arg), &command_line);
  }
  // The handle list names exactly what the child gets, under the same
  // values. Listed handles must be inheritable, so they are marked so for
  // the call and put back after; meanwhile only a CreateProcess that asks
  // to inherit everything without a list (not ours) could take them.
  std::vector<HANDLE> handles;
  for (DWORD std_id : {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE}) {
    HANDLE h = GetStdHandle(std_id);
    DWORD flags = 0;
    if (h != nullptr && h != INVALID_HANDLE_VALUE &&
        GetHandleInformation(h, &flags)) {
      handles.push_back(h);
    }
  }
  for (NativeHandle h : inherit) handles.push_back(AsHandle(h));
  std::vector<DWORD> old_flags(handles.size(), 0);
  for (std::size_t i = 0; i < handles.size(); ++i) {
    GetHandleInformation(handles[i], &old_flags[i]);
    if (!SetHandleInformation(handles[i], HANDLE_FLAG_INHERIT,
                              HANDLE_FLAG_INHERIT)) {
      return LastNativeError("SetHandleInformation");
    }
  }
  struct Restore {
    std::vector<HANDLE>& handles;
    std::vector<DWORD>& flags;
    ~Restore() {
      for (std::size_t i = 0; i < handles.size(); ++i) {
        SetHandleInformation(handles[i], HANDLE_FLAG_INHERIT,
                             flags[i] & HANDLE_FLAG_INHERIT);
      }
    }
  } restore{handles, old_flags};

  SIZE_T size = 0;
  InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
  std::unique_ptr<char[]> storage(new char[size]);
  auto* attributes =
      reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage.get());
  if (!InitializeProcThreadAttributeList(attributes, 1, 0, &size)) {
    return LastNativeError("InitializeProcThreadAttributeList");
  }
  struct Delete {
    LPPROC_THREAD_ATTRIBUTE_LIST list;
    ~Delete() { DeleteProcThreadAttributeList(list); }
  } delete_list{attributes};
  if (!handles.empty() &&
      !UpdateProcThreadAttribute(
          attributes, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles.data(),
          handles.size() * sizeof(HANDLE), nullptr, nullptr)) {
    return LastNativeError("UpdateProcThreadAttribute");
  }
  STARTUPINFOEXW startup = {};
  startup.StartupInfo.cb = sizeof(startup);
  startup.lpAttributeList = attributes;
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
  PROCESS_INFORMATION info = {};
  // Suspended until it is in the job, so nothing it starts escapes it.
  // Under load, Wine now and then fails a CreateProcessW that succeeds when
  // tried again, with ERROR_INTERNAL_ERROR (seen about once in a few
  // thousand starts); that error alone is tried again, twice at most.
  for (int attempt = 1;; ++attempt) {
    if (CreateProcessW(
            nullptr, command_line.data(), nullptr, nullptr,
            /*bInheritHandles=*/!handles.empty(),
            EXTENDED_STARTUPINFO_PRESENT | CREATE_SUSPENDED |
                (environment.empty() ? 0 : CREATE_UNICODE_ENVIRONMENT),
            environment.empty() ? nullptr : environment.data(), nullptr,
            &startup.StartupInfo, &info)) {
      break;
    }
    if (GetLastError() != ERROR_INTERNAL_ERROR || attempt == 3) {
      return LastNativeError(absl::StrCat("CreateProcessW(", argv[0], ")"));
    }
    Sleep(10);
  }
  // Not in our job: outside any (a job of ours that this process is in lets
  // its children break away).
  if (HANDLE job = ChildrenJob(); job != nullptr && options.kill_with_parent) {
    AssignProcessToJobObject(job, info.hProcess);
  }
  ResumeThread(info.hThread);
  CloseHandle(info.hThread);
  ChildProcess child;
  child.pid = info.dwProcessId;
  // The process handle is signalled when it exits: WaitReadable takes it.
  child.sentinel.reset(reinterpret_cast<NativeHandle>(info.hProcess));
  return child;
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
  for (;;) {
  }
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
