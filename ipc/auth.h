// The authkey handshake of multiprocessing.connection, wire-compatible with
// CPython (deliver_challenge / answer_challenge).
//
// The side that delivers sends "#CHALLENGE#{sha256}" + 40 random bytes; the
// other answers with "{sha256}" + HMAC-SHA256(authkey, message) and gets
// "#WELCOME#" or "#FAILURE#". For CPython up to 3.11, which sends a 20-byte
// challenge and answers with a bare HMAC-MD5, both directions fall back to
// that legacy form, exactly as CPython 3.12+ does, so C++ talks to every
// CPython 3.x. Digests: md5 (legacy), sha256, sha384, sha3_256, sha3_384.
//
// Every handshake message is read with maxlength 256, so a peer cannot make
// us allocate more. Digests are compared in constant time. A wrong key, a
// garbled challenge or an unsupported digest is Python's AuthenticationError
// (mp::IsAuthenticationError, kPermissionDenied) on both sides; I/O errors
// pass through (IsEof, kDataLoss, IsTimeout when the socket has a receive
// timeout).
#ifndef MULTIPROCESSING_IPC_AUTH_H_
#define MULTIPROCESSING_IPC_AUTH_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "ipc/connection.h"

namespace mp {

// Python's deliver_challenge(connection, authkey).
absl::Status DeliverChallenge(Connection& connection,
                              absl::string_view authkey);

// Python's answer_challenge(connection, authkey).
absl::Status AnswerChallenge(Connection& connection, absl::string_view authkey);

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_AUTH_H_
