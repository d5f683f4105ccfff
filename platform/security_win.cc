// The owner-only security descriptor (security_win.h): built once per
// process from the process token, in absolute form, and never freed (the
// objects' creators pass its address).
#include "multiprocessing/platform/security_win.h"

#include <aclapi.h>
#include <windows.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/error.h"

namespace mp::platform {
namespace {

struct OwnerOnly {
  absl::Status status;
  std::vector<char> user;    // TOKEN_USER
  std::vector<char> owner;   // TOKEN_OWNER (the default owner)
  std::vector<char> system;  // SID of LocalSystem
  std::vector<char> acl;
  SECURITY_DESCRIPTOR sd = {};
  SECURITY_ATTRIBUTES sa = {};

  PSID user_sid() {
    return reinterpret_cast<TOKEN_USER*>(user.data())->User.Sid;
  }
  PSID owner_sid() {
    return reinterpret_cast<TOKEN_OWNER*>(owner.data())->Owner;
  }
  PSID system_sid() { return system.data(); }
};

absl::Status ReadToken(HANDLE token, TOKEN_INFORMATION_CLASS what,
                       std::vector<char>* out) {
  DWORD needed = 0;
  GetTokenInformation(token, what, nullptr, 0, &needed);
  if (needed == 0) return LastNativeError("GetTokenInformation");
  out->resize(needed);
  if (!GetTokenInformation(token, what, out->data(), needed, &needed)) {
    return LastNativeError("GetTokenInformation");
  }
  return absl::OkStatus();
}

absl::Status Build(OwnerOnly* o) {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
    return LastNativeError("OpenProcessToken");
  }
  absl::Status s = ReadToken(token, TokenUser, &o->user);
  if (s.ok()) s = ReadToken(token, TokenOwner, &o->owner);
  CloseHandle(token);
  if (!s.ok()) return s;
  DWORD size = SECURITY_MAX_SID_SIZE;
  o->system.resize(size);
  if (!CreateWellKnownSid(WinLocalSystemSid, nullptr, o->system.data(),
                          &size)) {
    return LastNativeError("CreateWellKnownSid(LocalSystem)");
  }
  // An ACL header and two ACCESS_ALLOWED_ACEs, each of which ends in its
  // SID in place of its SidStart member.
  o->acl.resize(sizeof(ACL) + 2 * (sizeof(ACCESS_ALLOWED_ACE) - sizeof(DWORD)) +
                GetLengthSid(o->user_sid()) + GetLengthSid(o->system_sid()));
  auto* acl = reinterpret_cast<ACL*>(o->acl.data());
  if (!InitializeAcl(acl, static_cast<DWORD>(o->acl.size()), ACL_REVISION)) {
    return LastNativeError("InitializeAcl");
  }
  if (!AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, o->user_sid()) ||
      !AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_ALL, o->system_sid())) {
    return LastNativeError("AddAccessAllowedAce");
  }
  if (!InitializeSecurityDescriptor(&o->sd, SECURITY_DESCRIPTOR_REVISION)) {
    return LastNativeError("InitializeSecurityDescriptor");
  }
  if (!SetSecurityDescriptorOwner(&o->sd, o->user_sid(), FALSE)) {
    return LastNativeError("SetSecurityDescriptorOwner");
  }
  if (!SetSecurityDescriptorDacl(&o->sd, TRUE, acl, FALSE)) {
    return LastNativeError("SetSecurityDescriptorDacl");
  }
  o->sa.nLength = sizeof o->sa;
  o->sa.lpSecurityDescriptor = &o->sd;
  o->sa.bInheritHandle = FALSE;
  return absl::OkStatus();
}

OwnerOnly& Get() {
  static OwnerOnly* const o = [] {
    auto* built = new OwnerOnly;
    built->status = Build(built);
    if (!built->status.ok()) {
      // Fail closed: an empty DACL grants nothing to anybody.
      built->acl.assign(sizeof(ACL), 0);
      auto* acl = reinterpret_cast<ACL*>(built->acl.data());
      InitializeAcl(acl, sizeof(ACL), ACL_REVISION);
      InitializeSecurityDescriptor(&built->sd, SECURITY_DESCRIPTOR_REVISION);
      SetSecurityDescriptorDacl(&built->sd, TRUE, acl, FALSE);
      built->sa.nLength = sizeof built->sa;
      built->sa.lpSecurityDescriptor = &built->sd;
      built->sa.bInheritHandle = FALSE;
    }
    return built;
  }();
  return *o;
}

}  // namespace

SECURITY_ATTRIBUTES* OwnerOnlySecurity() { return &Get().sa; }

absl::Status OwnerOnlySecurityStatus() { return Get().status; }

PSID CurrentUserSid() {
  OwnerOnly& o = Get();
  return o.status.ok() ? o.user_sid() : nullptr;
}

PSID LocalSystemSid() {
  OwnerOnly& o = Get();
  return o.status.ok() ? o.system_sid() : nullptr;
}

absl::Status CheckOwnedByCurrentUser(HANDLE h, absl::string_view what) {
  OwnerOnly& o = Get();
  if (!o.status.ok()) return o.status;
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD error =
      GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner,
                      nullptr, nullptr, nullptr, &sd);
  if (error != ERROR_SUCCESS) {
    return NativeError(static_cast<int>(error),
                       absl::StrCat("GetSecurityInfo(", what, ")"));
  }
  const bool ours = owner != nullptr && (EqualSid(owner, o.user_sid()) ||
                                         EqualSid(owner, o.owner_sid()));
  LocalFree(sd);
  if (!ours) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, ": owned by another user (someone else created it)"));
  }
  return absl::OkStatus();
}

}  // namespace mp::platform
