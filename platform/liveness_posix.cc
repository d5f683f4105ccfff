#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "multiprocessing/platform/liveness.h"

namespace mp::platform {

bool ProcessIsAlive(ProcessId pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  // kill() succeeds on a zombie: /proc says whether it still runs.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%lld/stat",
                static_cast<long long>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno != ENOENT;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return true;
  buf[n] = '\0';
  // "pid (comm) S ...": the state follows the last ')' (comm may hold one).
  const char* paren = std::strrchr(buf, ')');
  if (paren == nullptr || paren[1] != ' ') return true;
  const char state = paren[2];
  return state != 'Z' && state != 'X' && state != 'x';
}

}  // namespace mp::platform
