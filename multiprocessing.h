// The whole public API of multiprocessing for C++ (Python's
// `import multiprocessing`). Targets that need only a part can include and
// depend on it directly: ipc/connection.h (//ipc:connection),
// ipc/listener.h (//ipc:listener), ipc/wait.h (//ipc:wait), ipc/queue.h
// (//ipc:queue), ipc/errors.h (//ipc:errors), ipc/py_value.h
// (//ipc:py_value), process/process.h (//process), pool/pool.h (//pool),
// sync/synchronize.h (//sync:synchronize), shared_memory/shared_memory.h
// (//shared_memory:shared_memory), shared_memory/sharedctypes.h
// (//shared_memory:sharedctypes).
#ifndef MULTIPROCESSING_MULTIPROCESSING_H_
#define MULTIPROCESSING_MULTIPROCESSING_H_

#include "ipc/connection.h"   // IWYU pragma: export
#include "ipc/errors.h"       // IWYU pragma: export
#include "ipc/listener.h"     // IWYU pragma: export
#include "ipc/py_value.h"     // IWYU pragma: export
#include "ipc/queue.h"        // IWYU pragma: export
#include "ipc/wait.h"         // IWYU pragma: export
#include "pool/pool.h"        // IWYU pragma: export
#include "process/process.h"  // IWYU pragma: export
#include "shared_memory/shared_memory.h"  // IWYU pragma: export
#include "shared_memory/sharedctypes.h"   // IWYU pragma: export
#include "sync/synchronize.h"             // IWYU pragma: export

#endif  // MULTIPROCESSING_MULTIPROCESSING_H_
