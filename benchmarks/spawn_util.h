// The raw spawn baseline both process benchmarks time: posix_spawn and
// waitpid, with no library. Header-only and free of Google Benchmark, which
// spawn_hello must not link.
#ifndef MULTIPROCESSING_BENCHMARKS_SPAWN_UTIL_H_
#define MULTIPROCESSING_BENCHMARKS_SPAWN_UTIL_H_

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace mp::bench {

// Starts argv[0] with `argv` and waits for it; true when it exited with 0.
inline bool SpawnAndWait(char* const argv[]) {
  pid_t pid;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ) != 0) {
    return false;
  }
  int status;
  return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

}  // namespace mp::bench

#endif  // MULTIPROCESSING_BENCHMARKS_SPAWN_UTIL_H_
