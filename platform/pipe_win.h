// Windows only: the named pipe pairs that channels (channel_win.cc) and
// message channels (message_channel_win.cc) are made of.
#ifndef MULTIPROCESSING_PLATFORM_PIPE_WIN_H_
#define MULTIPROCESSING_PLATFORM_PIPE_WIN_H_

#include <windows.h>

#include "absl/status/statusor.h"
#include "multiprocessing/platform/channel.h"

namespace mp::platform {

// A pipe with a name nobody else can guess, local clients only: the server
// end (`server_access`: PIPE_ACCESS_DUPLEX or PIPE_ACCESS_INBOUND, plus
// `pipe_mode`: PIPE_TYPE_*, PIPE_READMODE_*, PIPE_WAIT or PIPE_NOWAIT) and
// the client end (`client_access`), connected. `flags` (say
// FILE_FLAG_OVERLAPPED) apply to both ends; `buffer_size` is each
// direction's kernel buffer.
[[nodiscard]] absl::StatusOr<ChannelPair> CreatePipePair(DWORD server_access,
                                                         DWORD client_access,
                                                         DWORD pipe_mode,
                                                         DWORD flags,
                                                         DWORD buffer_size);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_PIPE_WIN_H_
