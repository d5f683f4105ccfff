#include <signal.h>
#include <sys/wait.h>

#include "multiprocessing/platform/exit_status.h"

namespace mp::platform {

static_assert(kSigKill == SIGKILL && kSigTerm == SIGTERM);

int DecodeExitStatus(int raw_status) {
  if (WIFSIGNALED(raw_status)) return -WTERMSIG(raw_status);
  if (WIFEXITED(raw_status)) return WEXITSTATUS(raw_status);
  return raw_status;  // stopped/continued are never reported to us
}

}  // namespace mp::platform
