// Exit status of a child process, in Python's convention.
#ifndef MULTIPROCESSING_PLATFORM_EXIT_STATUS_H_
#define MULTIPROCESSING_PLATFORM_EXIT_STATUS_H_

namespace mp::platform {

// Turns the raw status the OS reports for a finished child into Python's
// `exitcode`: the code the child exited with, or -N when signal N killed it.
int DecodeExitStatus(int raw_status);

// Signal numbers as `exitcode` reports them, with the same values on every
// platform (Windows has no signals; Terminate() reads back as -kSigTerm).
inline constexpr int kSigKill = 9;
inline constexpr int kSigTerm = 15;

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_EXIT_STATUS_H_
