// Work that must run before a process ends normally (Python's
// multiprocessing.util._run_finalizers): flushing the items a Queue still
// buffers. RunExitHooks() runs at normal exit of a main process (std::atexit,
// registered with the first hook) and, because forked children end with
// _exit(), from mp::Process's exit function in every child and in mp::Exit.
#ifndef MULTIPROCESSING_PLATFORM_EXIT_HOOKS_H_
#define MULTIPROCESSING_PLATFORM_EXIT_HOOKS_H_

namespace mp {

// Adds `hook` (once; adding it again does nothing).
void AddExitHook(void (*hook)());

// Runs every hook, in the order added. Hooks must be safe to run twice.
void RunExitHooks();

}  // namespace mp

#endif  // MULTIPROCESSING_PLATFORM_EXIT_HOOKS_H_
