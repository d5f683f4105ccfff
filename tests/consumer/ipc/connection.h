// The consumer's own ipc/connection.h: the same path as a header of
// @multiprocessing, and the include guard a project of its own would choose.
// Ours are under multiprocessing/, so neither replaces the other.
#ifndef IPC_CONNECTION_H_
#define IPC_CONNECTION_H_

namespace consumer {
inline const char* ipc_connection() { return "consumer's ipc/connection.h"; }
}  // namespace consumer

#endif  // IPC_CONNECTION_H_
