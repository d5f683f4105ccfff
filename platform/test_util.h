// Helpers for tests: names unique to this test process, child processes left
// behind; on POSIX, the bad day of signals during blocking calls.
#ifndef MULTIPROCESSING_PLATFORM_TEST_UTIL_H_
#define MULTIPROCESSING_PLATFORM_TEST_UTIL_H_

#if !defined(_WIN32)
#include <signal.h>
#endif

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mp::test_util {

// Random hex, the same for the whole test process: for names that parallel
// tests must not share (Unix socket paths, abstract names). Bazel's sandbox
// gives every test the same pid (a PID namespace), so the pid will not do.
const std::string& UniqueToken();

// An address a Listener can bind, on this machine only and unique to this
// test process and `name`: a Unix socket path under /tmp on POSIX, a named
// pipe on Windows.
std::string LocalAddress(absl::string_view name);

// Whether this process has a child that was not waited for: on POSIX a
// running child or a zombie (nothing is reaped by looking); on Windows, which
// has no zombies, a child still running.
bool HasUnwaitedChildren();

// Whether `pid` is not (or no longer) a child of this process: on POSIX,
// reaped or never ours; on Windows, not running.
bool IsGone(std::int64_t pid);

// Whether any process (ours or not) has id `pid`: on POSIX zombies included;
// on Windows, a running one.
bool ProcessExists(std::int64_t pid);

// Waits up to `timeout` for process `pid` (any process, not only a child) to
// disappear; whether it did.
bool WaitUntilGone(std::int64_t pid, absl::Duration timeout);

// The exit code of a process that called abort(), as Process::exitcode()
// reports it: -SIGABRT on POSIX, 3 on Windows (as in Python).
extern const int kAbortExitCode;

// This process's resident memory in KiB (VmRSS on Linux, the working set on
// Windows), or -1 when unknown.
std::int64_t ResidentKiB();
// The most this process has had resident so far, in KiB (VmHWM on Linux, the
// peak working set on Windows), or -1 when unknown.
std::int64_t PeakResidentKiB();

#if !defined(_WIN32)
// What follows is POSIX by nature (test_util_posix.cc): Windows has no
// signals to interrupt a call with and no zombies.

// While alive, interrupts the thread that created it with `signal_number`
// (with a counting handler installed without SA_RESTART, so every blocking
// system call in that thread fails with EINTR) every `period_us`
// microseconds. The handler stays installed afterwards (a late SIGUSR1 must
// not kill the test with the default action). One storm at a time.
class SignalStorm {
 public:
  explicit SignalStorm(int period_us = 100, int signal_number = SIGUSR1);
  ~SignalStorm();
  SignalStorm(const SignalStorm&) = delete;
  SignalStorm& operator=(const SignalStorm&) = delete;

  // How many signals this storm delivered so far.
  std::int64_t delivered() const;

 private:
  std::int64_t start_count_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Whether child `pid` has exited and waits to be reaped (checked without
// reaping it).
bool IsZombie(std::int64_t pid);

// The calling thread's blocked bit of `signal_number`, and setting it.
bool IsSignalBlocked(int signal_number);
void SetSignalBlocked(int signal_number, bool blocked);
// Whether `signal_number` is ignored (SIG_IGN), and setting it (to SIG_IGN,
// or back to SIG_DFL).
bool IsSignalIgnored(int signal_number);
void SetSignalIgnored(int signal_number, bool ignored);

#endif  // !defined(_WIN32)

}  // namespace mp::test_util

#endif  // MULTIPROCESSING_PLATFORM_TEST_UTIL_H_
