// Windows only: what LaunchProgram promises about handles and jobs that
// only Win32 calls can check (a racing CreateProcessW that inherits
// everything, a child's own CreateProcessW, sockets, pipe ends opened
// write-only). Children are this test binary started again (ChildMain).
#include <windows.h>
#include <winsock2.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/platform/win_util.h"

namespace mp::platform {
namespace {

std::wstring SelfCommandLine(const std::string& child_switch) {
  return Utf8ToWide(
      absl::StrCat("\"", ExecutablePath().value(), "\" ", child_switch));
}

// CreateProcessW as system(), _popen or another library call it: inheriting
// every inheritable handle, no list. Suspended, so it holds what it got
// until it is terminated.
HANDLE StartInheritingEverything() {
  std::wstring command = SelfCommandLine("--child-sleep");
  STARTUPINFOW startup = {};
  startup.cb = sizeof(startup);
  PROCESS_INFORMATION info = {};
  if (!CreateProcessW(nullptr, command.data(), nullptr, nullptr,
                      /*bInheritHandles=*/TRUE, CREATE_SUSPENDED, nullptr,
                      nullptr, &startup, &info)) {
    return nullptr;
  }
  CloseHandle(info.hThread);
  return info.hProcess;
}

// Issue 22: while another thread starts programs that inherit everything,
// our launches must not lend them our pipe ends, or end of stream never
// comes once we close ours.
TEST(LaunchWinTest, ARacingInheritEverythingCreateProcessGetsNoPipeEnd) {
  std::atomic<bool> stop{false};
  std::vector<HANDLE> racers;
  std::thread racer([&] {
    while (!stop.load() && racers.size() < 60) {
      if (HANDLE p = StartInheritingEverything()) racers.push_back(p);
    }
  });
  int leaked = 0;
  for (int i = 0; i < 15; ++i) {
    ChannelPair pipe = CreateOneWayChannel().value();
    const NativeHandle writer = pipe.second.get();
    ChildProcess child =
        LaunchProgram({ExecutablePath().value(), "--child-exit=0"},
                      {&writer, 1})
            .value();
    ASSERT_EQ(WaitForExit(child, absl::Seconds(60)).value(),
              std::optional<int>(0));
    pipe.second.reset();
    // Only the child had another writer, and it is gone: end of stream now,
    // unless a racing process inherited one.
    const NativeHandle reader = pipe.first.get();
    if (WaitReadable({&reader, 1}, absl::Seconds(2)).value().empty()) {
      ++leaked;
      continue;
    }
    char byte;
    EXPECT_EQ(ReadSome(reader, &byte, 1).value(), 0u);
  }
  stop = true;
  racer.join();
  for (HANDLE p : racers) {
    TerminateProcess(p, 0);
    WaitForSingleObject(p, 10000);
    CloseHandle(p);
  }
  EXPECT_GT(racers.size(), 0u);
  EXPECT_EQ(leaked, 0) << "of 15 pipes, with " << racers.size()
                       << " racing processes";
}

// Sockets must not be DuplicateHandle'd: one in `inherit` is shared with
// WSADuplicateSocket instead; a child cannot take one from us itself.
TEST(LaunchWinTest, ASocketIsSharedNotDuplicated) {
  ASSERT_EQ(StartWinsock(), 0);
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  ASSERT_NE(s, INVALID_SOCKET);
  ScopedHandle owned(static_cast<NativeHandle>(s));
  ASSERT_TRUE(IsSocket(AsHandle(owned.get())));
  const NativeHandle h = owned.get();
  ChildProcess child =
      LaunchProgram({ExecutablePath().value(), "--child-exit=0"}, {&h, 1})
          .value();
  ASSERT_EQ(child.inherited.size(), 1u);
  EXPECT_EQ(child.inherited[0], kInvalidHandle);
  ASSERT_EQ(child.socket_infos.size(), 1u);
  EXPECT_EQ(child.socket_infos[0].size(), sizeof(WSAPROTOCOL_INFOW));
  EXPECT_EQ(WaitForExit(child, absl::Seconds(30)).value(),
            std::optional<int>(0));
  LaunchOptions options;
  options.taken_by_child = {h};
  absl::StatusOr<ChildProcess> refused =
      LaunchProgram({ExecutablePath().value(), "--child-exit=0"}, {}, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("socket"), absl::string_view::npos)
      << refused.status();
}

// GetNamedPipeInfo needs FILE_READ_ATTRIBUTES on a write-only end; without
// it, the end is still a pipe, and closing it must close it.
TEST(LaunchWinTest, AWriteOnlyPipeEndIsNotASocket) {
  ChannelPair pipe = CreateOneWayChannel().value();
  HANDLE write_only = nullptr;
  ASSERT_TRUE(DuplicateHandle(GetCurrentProcess(), AsHandle(pipe.second.get()),
                              GetCurrentProcess(), &write_only,
                              FILE_GENERIC_WRITE, FALSE, 0));
  EXPECT_FALSE(IsSocket(write_only));
  ScopedHandle owned(reinterpret_cast<NativeHandle>(write_only));
  const char kText[] = "x";
  ASSERT_TRUE(WriteAll(owned.get(), {{kText, 1}}).ok());
  EXPECT_TRUE(owned.Close().ok());
  pipe.second.reset();
  char byte;
  ASSERT_EQ(ReadSome(pipe.first.get(), &byte, 1).value(), 1u);
  const NativeHandle reader = pipe.first.get();
  ASSERT_FALSE(WaitReadable({&reader, 1}, absl::Seconds(5)).value().empty())
      << "a writer is still open";
  EXPECT_EQ(ReadSome(reader, &byte, 1).value(), 0u);
}

// Standard handles are not passed as handles (launch.h): a console child
// gets ours from Windows, duplicated, even when they are redirected (here
// to a pipe whose handles are not inheritable).
TEST(LaunchWinTest, ARedirectedStandardOutputReachesTheChild) {
  HANDLE read_end = nullptr, write_end = nullptr;  // not inheritable
  ASSERT_TRUE(CreatePipe(&read_end, &write_end, nullptr, 0));
  ScopedHandle reader(reinterpret_cast<NativeHandle>(read_end));
  ScopedHandle writer(reinterpret_cast<NativeHandle>(write_end));
  const HANDLE saved = GetStdHandle(STD_OUTPUT_HANDLE);
  ASSERT_TRUE(SetStdHandle(STD_OUTPUT_HANDLE, write_end));
  absl::StatusOr<ChildProcess> child =
      LaunchProgram({ExecutablePath().value(), "--child-say-on-stdout"}, {});
  SetStdHandle(STD_OUTPUT_HANDLE, saved);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(WaitForExit(*child, absl::Seconds(30)).value(),
            std::optional<int>(0));
  writer.reset();
  std::string got;
  char buffer[16];
  DWORD n = 0;
  while (ReadFile(read_end, buffer, sizeof(buffer), &n, nullptr) && n > 0) {
    got.append(buffer, n);
  }
  EXPECT_EQ(got, "hello");
}

// A process our child starts by any means (here a plain CreateProcessW, as
// system() would) is in our child's job chain, so it dies when the job is
// closed: there is no silent breakaway. The test is the top of three: it
// starts a middle process (kill_with_parent false, so it is in no job of
// ours) that starts a child (in the middle's job) that starts a grandchild
// with CreateProcessW and reports its pid; killing the middle closes its
// job, which must end the grandchild.
TEST(LaunchWinTest, AGrandchildDiesWhenItsGrandparentsJobCloses) {
  ChannelPair report = CreateOneWayChannel().value();
  LaunchOptions options;
  options.kill_with_parent = false;
  options.taken_by_child = {report.second.get()};
  ChildProcess middle =
      LaunchProgram({ExecutablePath().value(),
                     absl::StrCat("--child-middle=", report.second.get())},
                    {}, options)
          .value();
  std::string line;
  char c = 0;
  while (ReadSome(report.first.get(), &c, 1).value_or(0) == 1 && c != '\n') {
    line.push_back(c);
  }
  DWORD grandchild_pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(line, &grandchild_pid)) << "got: " << line;
  HANDLE grandchild = OpenProcess(
      SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_TERMINATE,
      FALSE, grandchild_pid);
  ASSERT_NE(grandchild, nullptr);
  ASSERT_TRUE(Kill(middle).ok());
  ASSERT_TRUE(WaitForExit(middle, absl::Seconds(30)).value().has_value());
  const DWORD waited = WaitForSingleObject(grandchild, 15000);
  if (waited != WAIT_OBJECT_0) TerminateProcess(grandchild, 1);
  CloseHandle(grandchild);
  EXPECT_EQ(waited, WAIT_OBJECT_0) << "the grandchild outlived the job";
}

// What a child started with a --child-* switch does; nullopt: run the tests.
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = ProgramArguments();
  if (args.size() < 2) return std::nullopt;
  absl::string_view arg = args[1];
  int n = 0;
  if (absl::ConsumePrefix(&arg, "--child-exit=") && absl::SimpleAtoi(arg, &n)) {
    return n;
  }
  if (arg == "--child-sleep") {
    absl::SleepFor(absl::Seconds(60));
    return 1;
  }
  if (arg == "--child-say-on-stdout") {
    DWORD written = 0;
    return WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), "hello", 5, &written,
                     nullptr) &&
                   written == 5
               ? 0
               : 3;
  }
  std::int64_t h = 0;
  if (absl::ConsumePrefix(&arg, "--child-middle=") &&
      absl::SimpleAtoi(arg, &h)) {
    // Takes the report pipe and starts the child that starts the grandchild
    // (in this process's job), which takes the pipe from here in turn.
    absl::StatusOr<ScopedHandle> report =
        TakeHandleFromParent(ParentProcessId(), h);
    if (!report.ok()) return 2;
    LaunchOptions options;
    options.taken_by_child = {report->get()};
    absl::StatusOr<ChildProcess> child = LaunchProgram(
        {ExecutablePath().value(),
         absl::StrCat("--child-start-grandchild=", report->get())},
        {}, options);
    if (!child.ok()) return 3;
    absl::SleepFor(absl::Seconds(60));  // killed by the test
    return 4;
  }
  if (absl::ConsumePrefix(&arg, "--child-start-grandchild=") &&
      absl::SimpleAtoi(arg, &h)) {
    absl::StatusOr<ScopedHandle> report =
        TakeHandleFromParent(ParentProcessId(), h);
    if (!report.ok()) return 2;
    std::wstring command = SelfCommandLine("--child-sleep");
    STARTUPINFOW startup = {};
    startup.cb = sizeof(startup);
    PROCESS_INFORMATION info = {};
    if (!CreateProcessW(nullptr, command.data(), nullptr, nullptr, FALSE, 0,
                        nullptr, nullptr, &startup, &info)) {
      return 3;
    }
    CloseHandle(info.hThread);
    CloseHandle(info.hProcess);
    const std::string line = absl::StrCat(info.dwProcessId, "\n");
    if (!WriteAll(report->get(), {{line.data(), line.size()}}).ok()) return 5;
    absl::SleepFor(absl::Seconds(60));  // killed with the middle's job
    return 4;
  }
  return std::nullopt;
}

MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp::platform
