// The whole public API of multiprocessing for C++ (Python's
// `import multiprocessing`). Targets that need only a part can include and
// depend on it directly: ipc/connection.h (//ipc:connection),
// ipc/listener.h (//ipc:listener), ipc/wait.h (//ipc:wait),
// process/process.h (//process), sync/synchronize.h (//sync:synchronize),
// shared_memory/shared_memory.h (//shared_memory:shared_memory),
// shared_memory/sharedctypes.h (//shared_memory:sharedctypes).
#ifndef MULTIPROCESSING_MULTIPROCESSING_H_
#define MULTIPROCESSING_MULTIPROCESSING_H_

#include "ipc/connection.h"  // IWYU pragma: export
#include "ipc/listener.h"    // IWYU pragma: export
#include "ipc/queue.h"       // IWYU pragma: export
#include "ipc/wait.h"        // IWYU pragma: export
#include "platform/error.h"  // IWYU pragma: export
#include "process/process.h"  // IWYU pragma: export
#include "shared_memory/shared_memory.h"  // IWYU pragma: export
#include "shared_memory/sharedctypes.h"   // IWYU pragma: export
#include "sync/synchronize.h"             // IWYU pragma: export

#endif  // MULTIPROCESSING_MULTIPROCESSING_H_
