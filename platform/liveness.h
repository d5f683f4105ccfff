// Whether another process still runs: how the synchronisation primitives
// (//sync) find out that a lock's holder, a semaphore's holder or a barrier's
// waiter died without releasing.
#ifndef MULTIPROCESSING_PLATFORM_LIVENESS_H_
#define MULTIPROCESSING_PLATFORM_LIVENESS_H_

#include "multiprocessing/platform/launch.h"

namespace mp::platform {

// False once process `pid` has ended (exited or killed), whether or not its
// parent has reaped it yet (a zombie is dead); true while it runs, and when
// the answer cannot be had (say, a process of another user on Windows), so
// that a live holder is never taken for dead. A pid reused by a new process
// reads as alive: callers keep the pid only while its process holds
// something, so reuse needs the holder to die and the pid to come round
// again while nobody looked.
bool ProcessIsAlive(ProcessId pid);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_LIVENESS_H_
