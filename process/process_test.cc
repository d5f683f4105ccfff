#include "multiprocessing/process/process.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/exit_status.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/poll.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

using ::testing::HasSubstr;

// Starts `p`, waits for it and returns its exit code.
int ExitCodeOf(Process p) {
  EXPECT_TRUE(p.Start().ok());
  EXPECT_TRUE(p.Join().ok());
  return p.exitcode().value_or(-1000);
}

void Sleep30s() { absl::SleepFor(absl::Seconds(30)); }

bool IsReadable(platform::NativeHandle h, absl::Duration timeout) {
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable({&h, 1}, timeout);
  EXPECT_TRUE(ready.ok()) << ready.status();
  return ready.ok() && !ready->empty();
}

TEST(ProcessTest, ExitCodes) {
  EXPECT_EQ(ExitCodeOf(Process([] { return 0; })), 0);
  EXPECT_EQ(ExitCodeOf(Process([] { return 7; })), 7);
  EXPECT_EQ(ExitCodeOf(Process([]() -> int { Exit(3); })), 3);
  EXPECT_EQ(ExitCodeOf(Process([] {})), 0);
  EXPECT_EQ(ExitCodeOf(Process([] { return absl::OkStatus(); })), 0);
  EXPECT_EQ(ExitCodeOf(Process([]() -> int { std::abort(); })),
            test_util::kAbortExitCode);
}

TEST(ProcessTest, FailedStatusIsExitCodeOneAndPrinted) {
  Process p([] { return absl::InternalError("bad thing"); });
  const std::string name = p.name();
  ::testing::internal::CaptureStderr();
  const int code = ExitCodeOf(std::move(p));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1);
  EXPECT_THAT(
      err, HasSubstr(absl::StrCat("Process ", name, ": INTERNAL: bad thing")));
}

TEST(ProcessTest, ExceptionIsExitCodeOneAndPrinted) {
  Process p([]() -> int { throw std::runtime_error("boom"); });
  const std::string name = p.name();
  ::testing::internal::CaptureStderr();
  const int code = ExitCodeOf(std::move(p));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1);
  EXPECT_THAT(err, HasSubstr(absl::StrCat("Process ", name, ": boom")));
}

TEST(ProcessTest, ArgumentsAreCopiedAndStdRefIsUnwrapped) {
  std::string s = "four";
  EXPECT_EQ(
      ExitCodeOf(Process([](std::string& v) { return int(v.size()); }, s)), 4);
  EXPECT_EQ(s, "four");  // copied, not moved
  int x = 5;
  EXPECT_EQ(ExitCodeOf(Process([](auto& v) { return v + 1; }, std::ref(x))), 6);
  EXPECT_EQ(ExitCodeOf(Process([](const int& a, int& b) { return a * b; }, 3,
                               std::ref(x))),
            15);
}

TEST(ProcessTest, StateErrors) {
  Process p([] { absl::SleepFor(absl::Milliseconds(200)); });
  EXPECT_FALSE(p.IsAlive());
  EXPECT_EQ(p.pid(), std::nullopt);
  EXPECT_EQ(p.exitcode(), std::nullopt);
  EXPECT_EQ(p.Join().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.Terminate().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.Kill().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.sentinel().status().code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(p.set_daemon(true).ok());
  EXPECT_TRUE(p.daemon());
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.pid().has_value());
  EXPECT_EQ(p.ident(), p.pid());
  EXPECT_GT(*p.pid(), 0);
  absl::Status twice = p.Start();
  EXPECT_EQ(twice.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(twice.message(), HasSubstr("cannot start a process twice"));
  EXPECT_EQ(p.set_daemon(false).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(p.daemon());
  EXPECT_EQ(p.Close().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_TRUE(p.pid().has_value());  // still known after the exit

  ASSERT_TRUE(p.Close().ok());
  EXPECT_TRUE(p.Close().ok());  // twice is fine, as in Python
  for (const absl::Status& s :
       {p.Start(), p.Join(), p.Terminate(), p.Kill(), p.sentinel().status(),
        p.set_name("x"), p.set_daemon(true)}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_THAT(s.message(), HasSubstr("process object is closed"));
  }
  EXPECT_FALSE(p.IsAlive());
  EXPECT_EQ(p.pid(), std::nullopt);
  EXPECT_EQ(p.ident(), std::nullopt);
  EXPECT_EQ(p.exitcode(), std::nullopt);
}

TEST(ProcessTest, MovedFromIsInert) {
  Process a([] { return 4; });
  Process b(std::move(a));
  EXPECT_EQ(a.Start().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(b.Start().ok());
  Process c([] { return 5; });
  c = std::move(b);  // c's unstarted target is dropped
  EXPECT_EQ(b.Join().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(c.Join().ok());
  EXPECT_EQ(c.exitcode(), 4);
}

TEST(ProcessTest, DefaultNamesCountUp) {
  Process a([] {});
  Process b([] {});
  ASSERT_TRUE(absl::StartsWith(a.name(), "Process-"));
  int n = 0;
  ASSERT_TRUE(absl::SimpleAtoi(a.name().substr(8), &n)) << a.name();
  EXPECT_GE(n, 1);
  EXPECT_EQ(b.name(), absl::StrCat("Process-", n + 1));
  ASSERT_TRUE(a.set_name("worker").ok());
  EXPECT_EQ(a.name(), "worker");
}

TEST(ProcessTest, NameReachesTheChild) {
  Process p([] { return absl::UnknownError("x"); });
  ASSERT_TRUE(p.set_name("my-worker").ok());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(ExitCodeOf(std::move(p)), 1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("Process my-worker: UNKNOWN: x"));
}

TEST(ProcessTest, DaemonicProcessesCannotHaveChildren) {
  auto start_child = [] {
    Process grandchild([] {});
    absl::Status s = grandchild.Start();
    if (s.ok()) s = grandchild.Join();
    return s.ok()                                              ? 0
           : s.code() == absl::StatusCode::kFailedPrecondition ? 10
                                                               : 20;
  };
  Process daemon(start_child);
  ASSERT_TRUE(daemon.set_daemon(true).ok());
  EXPECT_EQ(ExitCodeOf(std::move(daemon)), 10);
  EXPECT_EQ(ExitCodeOf(Process(start_child)), 0);
}

TEST(ProcessTest, JoinTimeout) {
  Process p([] { absl::SleepFor(absl::Seconds(1)); });
  ASSERT_TRUE(p.Start().ok());

  absl::Time start = absl::Now();
  absl::Status s = p.Join(absl::Milliseconds(50));
  EXPECT_TRUE(IsTimeout(s)) << s;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(p.exitcode(), std::nullopt);
  EXPECT_TRUE(p.IsAlive());

  for (absl::Duration timeout : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    start = absl::Now();
    EXPECT_TRUE(IsTimeout(p.Join(timeout)));
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(250));
  }

  EXPECT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_TRUE(p.Join(absl::ZeroDuration()).ok());  // already reaped
}

TEST(ProcessTest, SentinelBecomesReadableAtExit) {
  Process p(Sleep30s);
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<platform::NativeHandle> sentinel = p.sentinel();
  ASSERT_TRUE(sentinel.ok());
  EXPECT_FALSE(IsReadable(*sentinel, absl::Milliseconds(20)));
  ASSERT_TRUE(p.Kill().ok());
  EXPECT_TRUE(IsReadable(*sentinel, absl::Seconds(10)));
  ASSERT_TRUE(p.Join().ok());
  EXPECT_TRUE(IsReadable(*p.sentinel(), absl::ZeroDuration()));
}

TEST(ProcessTest, StdioIsFlushedOnceOnEachSide) {
  ::testing::internal::CaptureStdout();
  std::printf("parent-pending;");  // buffered: stdout is a file here
  Process p([] {
    std::printf("child-output;");  // lost unless the child flushes
    return 0;
  });
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  Process q([]() -> int {
    std::printf("exit-output;");
    Exit(0);
  });
  ASSERT_TRUE(q.Start().ok());
  ASSERT_TRUE(q.Join().ok());
  EXPECT_EQ(::testing::internal::GetCapturedStdout(),
            "parent-pending;child-output;exit-output;");
}

TEST(ProcessTest, DestroyedRunningChildIsReapedByTheNextStart) {
  int64_t pid = 0;
  platform::ScopedHandle sentinel;
  {
    Process p([] { absl::SleepFor(absl::Milliseconds(100)); });
    ASSERT_TRUE(p.Start().ok());
    pid = *p.pid();
    absl::StatusOr<platform::ScopedHandle> dup =
        platform::Duplicate(*p.sentinel());
    ASSERT_TRUE(dup.ok());
    sentinel = std::move(*dup);
  }  // destroyed while the child runs
  ASSERT_TRUE(IsReadable(sentinel.get(), absl::Seconds(10)));
  // The child has exited and nobody reaped it yet.
  ASSERT_TRUE(test_util::IsZombie(pid));
  Process next([] {});
  ASSERT_TRUE(next.Start().ok());
  EXPECT_TRUE(test_util::IsGone(pid));
  ASSERT_TRUE(next.Join().ok());
}

TEST(ProcessTest, ManyProcessesLeakNoHandlesAndNoZombies) {
  ASSERT_EQ(ExitCodeOf(Process([] {})), 0);  // warm up lazy initialisation
  absl::StatusOr<int> before = platform::CountOpenHandles();
  ASSERT_TRUE(before.ok());
  for (int batch = 0; batch < 10; ++batch) {
    std::vector<Process> processes;
    for (int i = 0; i < 20; ++i) {
      processes.emplace_back([](int code) { return code; }, i);
      ASSERT_TRUE(processes.back().Start().ok());
    }
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(processes[i].Join().ok());
      EXPECT_EQ(processes[i].exitcode(), i);
    }
  }
  EXPECT_EQ(platform::CountOpenHandles().value(), *before);
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
}

}  // namespace
}  // namespace mp
