// Helpers for tests: names unique to this test process; on POSIX, the bad
// day of signals during blocking calls and child processes left behind.
#ifndef MULTIPROCESSING_PLATFORM_TEST_UTIL_H_
#define MULTIPROCESSING_PLATFORM_TEST_UTIL_H_

#if !defined(_WIN32)
#include <signal.h>
#endif

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace mp::testing {

// Random hex, the same for the whole test process: for names that parallel
// tests must not share (Unix socket paths, abstract names). Bazel's sandbox
// gives every test the same pid (a PID namespace), so the pid will not do.
const std::string& UniqueToken();

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

// The signal abort() raises (SIGABRT), for exit code checks.
extern const int kAbortSignal;

// Whether child `pid` has exited and waits to be reaped (checked without
// reaping it).
bool IsZombie(std::int64_t pid);

// Whether `pid` is not (or no longer) a child of this process.
bool IsGone(std::int64_t pid);

// Whether any process (ours or not) has id `pid`, zombies included.
bool ProcessExists(std::int64_t pid);

// Waits up to `timeout` for process `pid` (any process, not only a child) to
// disappear; whether it did.
bool WaitUntilGone(std::int64_t pid, absl::Duration timeout);

// Whether this process has a child that was not waited for (a running child
// or a zombie). Does not reap anything.
bool HasUnwaitedChildren();

#endif  // !defined(_WIN32)

}  // namespace mp::testing

#endif  // MULTIPROCESSING_PLATFORM_TEST_UTIL_H_
