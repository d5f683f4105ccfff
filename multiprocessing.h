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

#include "multiprocessing/ipc/connection.h"   // IWYU pragma: export
#include "multiprocessing/ipc/errors.h"       // IWYU pragma: export
#include "multiprocessing/ipc/listener.h"     // IWYU pragma: export
#include "multiprocessing/ipc/py_value.h"     // IWYU pragma: export
#include "multiprocessing/ipc/queue.h"        // IWYU pragma: export
#include "multiprocessing/ipc/wait.h"         // IWYU pragma: export
#include "multiprocessing/pool/pool.h"        // IWYU pragma: export
#include "multiprocessing/process/process.h"  // IWYU pragma: export
#include "multiprocessing/shared_memory/shared_memory.h"  // IWYU pragma: export
#include "multiprocessing/shared_memory/sharedctypes.h"   // IWYU pragma: export
#include "multiprocessing/sync/synchronize.h"             // IWYU pragma: export

#endif  // MULTIPROCESSING_MULTIPROCESSING_H_
