// Windows only, for tests: a peer that behaves at the Win32 level exactly as
// CPython 3.11's multiprocessing.connection does over named pipes
// (PipeListener, PipeClient, PipeConnection, deliver_challenge and
// answer_challenge), so the project's Listener/Client can be tested against
// CPython's wire form where no Windows CPython runs. Nothing of the
// project's Connection, Listener or channel code is in its protocol path;
// only the HMAC and random bytes come from platform/crypto.h.
//
// After the handshake (when there is a key) the peer serves commands until
// end of stream:
//   "!big N"    sends a message of N bytes ('b')
//   "!empty"    sends an empty message, then "after"
//   "!close"    closes the connection (and the peer ends)
//   "!sleep MS" sleeps MS milliseconds, then sends "awake"
//   anything else is echoed back, received and sent as CPython does.
#ifndef MULTIPROCESSING_PLATFORM_CPYTHON_PIPE_PEER_H_
#define MULTIPROCESSING_PLATFORM_CPYTHON_PIPE_PEER_H_

#include <optional>
#include <string>

namespace mp::test_util {

// As CPython's Listener(address, authkey=authkey).accept(): listens on
// `address` (\\.\pipe\name), accepts one client, runs the server's
// handshake, then serves it. Returns the process exit code to use: 0 when
// the client ended the conversation (or "!close"), else non-zero, with the
// reason on stderr.
int RunCPythonPipeListener(const std::string& address,
                           const std::optional<std::string>& authkey);

// As CPython's Client(address, authkey=authkey): connects (waiting for the
// pipe to exist, 20 s at most), runs the client's handshake, then serves
// the listener's commands as above.
int RunCPythonPipeClient(const std::string& address,
                         const std::optional<std::string>& authkey);

}  // namespace mp::test_util

#endif  // MULTIPROCESSING_PLATFORM_CPYTHON_PIPE_PEER_H_
