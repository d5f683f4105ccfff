// The whole public API of multiprocessing for C++ (Python's
// `import multiprocessing`). Targets that need only a part can include and
// depend on it directly: ipc/connection.h (//ipc:connection),
// ipc/listener.h (//ipc:listener), ipc/wait.h (//ipc:wait), ipc/queue.h
// (//ipc:queue), ipc/errors.h (//ipc:errors), process/process.h
// (//process).
#ifndef MULTIPROCESSING_MULTIPROCESSING_H_
#define MULTIPROCESSING_MULTIPROCESSING_H_

#include "ipc/connection.h"   // IWYU pragma: export
#include "ipc/errors.h"       // IWYU pragma: export
#include "ipc/listener.h"     // IWYU pragma: export
#include "ipc/py_value.h"     // IWYU pragma: export
#include "ipc/queue.h"        // IWYU pragma: export
#include "ipc/wait.h"         // IWYU pragma: export
#include "process/process.h"  // IWYU pragma: export

#endif  // MULTIPROCESSING_MULTIPROCESSING_H_
