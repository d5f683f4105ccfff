// The consumer's own platform/error.h: the same path as a header of
// @multiprocessing, and the include guard a project of its own would choose.
// Ours are under multiprocessing/, so neither replaces the other.
#ifndef PLATFORM_ERROR_H_
#define PLATFORM_ERROR_H_

namespace consumer {
inline const char* platform_error() { return "consumer's platform/error.h"; }
}  // namespace consumer

#endif  // PLATFORM_ERROR_H_
