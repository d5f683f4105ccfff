#include "multiprocessing/platform/launch.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/exit_status.h"

namespace mp::platform {
namespace {

int RunChild(absl::FunctionRef<int()> f) {
  ChildProcess c = ForkAndRun({}, f).value();
  return WaitForExit(c, std::nullopt).value().value();
}

TEST(LaunchTest, ExitCodes) {
  EXPECT_EQ(RunChild([] { return 0; }), 0);
  EXPECT_EQ(RunChild([] { return 42; }), 42);
  EXPECT_EQ(RunChild([]() -> int { abort(); }), -SIGABRT);
  EXPECT_EQ(RunChild([]() -> int {
              raise(SIGKILL);
              return 0;
            }),
            -kSigKill);
}

TEST(LaunchTest, CurrentProcessIdIsRightAfterFork) {
  const ProcessId parent = CurrentProcessId();
  EXPECT_EQ(parent, ::getpid());
  ChildProcess child = ForkAndRun({}, [parent] {
                         const ProcessId self = CurrentProcessId();
                         return self == ::getpid() && self != parent &&
                                        ParentProcessId() == parent
                                    ? 0
                                    : 1;
                       }).value();
  EXPECT_EQ(WaitForExit(child, std::nullopt).value(), 0);
  // A plain fork() (not ForkAndRun) too.
  const pid_t pid = ::fork();
  if (pid == 0) _exit(CurrentProcessId() == ::getpid() ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(CurrentProcessId(), parent);
}

TEST(LaunchTest, TerminateAndKill) {
  ChildProcess a = ForkAndRun({}, [] {
                     pause();
                     return 0;
                   }).value();
  ChildProcess b = ForkAndRun({}, [] {
                     pause();
                     return 0;
                   }).value();
  EXPECT_EQ(WaitForExit(a, absl::ZeroDuration()).value(), std::nullopt);
  ASSERT_TRUE(Terminate(a).ok());
  ASSERT_TRUE(Kill(b).ok());
  EXPECT_EQ(WaitForExit(a, std::nullopt).value(), -kSigTerm);
  EXPECT_EQ(WaitForExit(b, std::nullopt).value(), -kSigKill);
}

TEST(LaunchTest, WaitTimesOutThenSucceeds) {
  ChildProcess c = ForkAndRun({}, [] {
                     usleep(300 * 1000);
                     return 3;
                   }).value();
  absl::Time start = absl::Now();
  EXPECT_EQ(WaitForExit(c, absl::Milliseconds(50)).value(), std::nullopt);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(WaitForExit(c, absl::Seconds(10)).value(), 3);
}

TEST(LaunchTest, SentinelBecomesReadableAtExit) {
  ChannelPair go = CreateDuplexChannel().value();
  NativeHandle keep = go.second.get();
  ChildProcess c = ForkAndRun({&keep, 1}, [&] {
                     char x;
                     return ReadFull(keep, &x, 1).ok() ? 0 : 1;
                   }).value();
  go.second.reset();
  pollfd pfd = {static_cast<int>(c.sentinel.get()), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  ASSERT_TRUE(WriteAll(go.first.get(), {{"x", 1}}).ok());
  EXPECT_EQ(poll(&pfd, 1, 10000), 1);
  EXPECT_EQ(WaitForExit(c, std::nullopt).value(), 0);
}

TEST(LaunchTest, ChildKeepsOnlyStdioAndWhatItIsGiven) {
  ChannelPair given = CreateDuplexChannel().value();
  ChannelPair other = CreateDuplexChannel().value();
  NativeHandle keep = given.second.get();
  const int other_fd = static_cast<int>(other.first.get());
  const int given_fd = static_cast<int>(keep);
  ChildProcess c = ForkAndRun({&keep, 1}, [&] {
                     if (fcntl(given_fd, F_GETFD) < 0) return 10;
                     if (fcntl(other_fd, F_GETFD) >= 0) return 11;
                     for (int fd = 0; fd < 3; ++fd) {
                       if (fcntl(fd, F_GETFD) < 0) return 12;
                     }
                     // Nothing above the given descriptor survives either.
                     for (int fd = 3; fd < 1024; ++fd) {
                       if (fd != given_fd && fcntl(fd, F_GETFD) >= 0) return 13;
                     }
                     return 0;
                   }).value();
  EXPECT_EQ(WaitForExit(c, std::nullopt).value(), 0);
}

TEST(LaunchTest, TwoHundredChildrenLeaveNoDescriptorAndNoZombie) {
  const int before = CountOpenHandles().value();
  std::vector<ChildProcess> children;
  for (int i = 0; i < 200; ++i) {
    children.push_back(ForkAndRun({}, [i] { return i % 7; }).value());
  }
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(WaitForExit(children[i], std::nullopt).value(), i % 7);
  }
  children.clear();
  EXPECT_EQ(CountOpenHandles().value(), before);
  // No child of ours is left to reap.
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(LaunchTest, LaunchProgramInheritsOnlyWhatItIsGiven) {
  ChannelPair given = CreateDuplexChannel().value();
  ChannelPair other = CreateDuplexChannel().value();
  const std::string script =
      "test -e /proc/self/fd/" + std::to_string(given.second.get()) +
      " && ! test -e /proc/self/fd/" + std::to_string(other.second.get()) +
      " && echo ok >&" + std::to_string(given.second.get());
  NativeHandle keep = given.second.get();
  ChildProcess c = LaunchProgram({"sh", "-c", script}, {&keep, 1}).value();
  given.second.reset();
  char buf[3] = {};
  EXPECT_EQ(ReadFull(given.first.get(), buf, 3).value(), 3u);
  EXPECT_EQ(std::string(buf, 3), "ok\n");
  EXPECT_EQ(WaitForExit(c, std::nullopt).value(), 0);
  // The parent's copy is still close-on-exec.
  EXPECT_NE(fcntl(static_cast<int>(other.second.get()), F_GETFD) & FD_CLOEXEC,
            0);
}

TEST(LaunchTest, ExecFailureIsAStatus) {
  const int before = CountOpenHandles().value();
  absl::StatusOr<ChildProcess> c = LaunchProgram({"/nonexistent/program"}, {});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound) << c.status();
  EXPECT_NE(c.status().message().find("/nonexistent/program"),
            absl::string_view::npos);
  EXPECT_EQ(CountOpenHandles().value(), before);
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);  // the failed child was reaped
}

// LaunchProgram starts the program without copying this process's page
// tables (vfork, as posix_spawn does): after a fork every page the parent
// writes again faults once (write-protected for copy-on-write), so a
// large parent paid for its size on every spawn.
TEST(LaunchTest, LaunchProgramDoesNotCopyTheParentsMemory) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan makes every vfork() a fork()";
#endif
  constexpr std::size_t kPages = 8192;  // 32 MiB of 4 KiB pages
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::vector<char> memory(kPages * page);
  auto touch = [&] {
    for (std::size_t i = 0; i < memory.size(); i += page) ++memory[i];
  };
  auto minor_faults = [] {
    rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  };
  touch();
  ChildProcess c = LaunchProgram({"true"}, {}).value();
  EXPECT_EQ(WaitForExit(c, std::nullopt).value(), 0);
  const long before = minor_faults();
  touch();
  // A fork would make this kPages faults; a few are the test's own.
  EXPECT_LT(minor_faults() - before, static_cast<long>(kPages / 16));
}

}  // namespace
}  // namespace mp::platform
