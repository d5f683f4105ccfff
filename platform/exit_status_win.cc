#include <cstdint>

#include "multiprocessing/platform/exit_status.h"

namespace mp::platform {

// Windows reports a DWORD exit code. TerminateProcess() in launch_win.cc
// uses -kSigTerm as that code, so a terminated child reads back as -SIGTERM
// as in CPython; a code that is negative as a 32-bit integer otherwise
// (an NTSTATUS such as 0xC0000005 for an access violation) stays as it is.
int DecodeExitStatus(int raw_status) { return raw_status; }

}  // namespace mp::platform
