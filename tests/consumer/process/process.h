// The consumer's own process/process.h: the same path as a header of
// @multiprocessing, and the include guard a project of its own would choose.
// Ours are under multiprocessing/, so neither replaces the other.
#ifndef PROCESS_PROCESS_H_
#define PROCESS_PROCESS_H_

namespace consumer {
inline const char* process_process() { return "consumer's process/process.h"; }
}  // namespace consumer

#endif  // PROCESS_PROCESS_H_
