// Windows only: the security every kernel object this project creates gets,
// and the check that an object somebody else may have created under a name
// is this user's.
//
// Objects made with lpSecurityAttributes = nullptr take the creator token's
// default DACL, which differs between accounts and services and, for named
// pipes, has long let anonymous logons and Everyone read. So every pipe,
// file mapping, mutex and event made in platform/*_win.cc gets
// OwnerOnlySecurity() instead: owner the current user, and a DACL of two
// entries, GENERIC_ALL for the current user (the process token's user SID)
// and for LocalSystem (the OS itself, which can take any object anyway), and
// nothing else: no Everyone, no Anonymous, no Administrators (an
// administrator who means to can take the object over with their
// privileges; a DACL entry would only let them in by accident), and no logon
// session SID (processes of this user in another logon session are the same
// user; other users sharing this logon session are none of ours).
#ifndef MULTIPROCESSING_PLATFORM_SECURITY_WIN_H_
#define MULTIPROCESSING_PLATFORM_SECURITY_WIN_H_

#include <windows.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mp::platform {

// The SECURITY_ATTRIBUTES above (handles not inheritable), built at the
// first call and kept for the life of the process; never null. Should the
// process token be unreadable, it fails closed: an empty DACL, which lets
// nobody open the object (its creator keeps the handle it made), and
// OwnerOnlySecurityStatus() says why.
SECURITY_ATTRIBUTES* OwnerOnlySecurity();
[[nodiscard]] absl::Status OwnerOnlySecurityStatus();

// The SIDs in that DACL: this process's user, and LocalSystem. Valid for the
// life of the process (null if OwnerOnlySecurity() failed).
PSID CurrentUserSid();
PSID LocalSystemSid();

// OK when the owner of object `h` (opened with READ_CONTROL) is the current
// user or the token's default owner (Administrators, for an elevated
// administrator: what CPython's objects get then); kPermissionDenied
// otherwise, naming `what`: someone else made the object, say under a name
// they took first.
[[nodiscard]] absl::Status CheckOwnedByCurrentUser(HANDLE h,
                                                   absl::string_view what);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_SECURITY_WIN_H_
