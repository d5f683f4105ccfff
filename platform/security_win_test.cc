// Windows only: every kernel object the project makes has the owner-only
// security of security_win.h, read back from the object itself with
// GetSecurityInfo; and named shared memory that another account made first
// under the name is refused.
#include "multiprocessing/platform/security_win.h"

#include <aclapi.h>
#include <windows.h>
// <windows.h> names two functions of message_channel.h as macros.
#undef PeekMessage
#undef SendMessage

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/named_shared_memory.h"
#include "multiprocessing/platform/shared_memory.h"
#include "multiprocessing/platform/socket.h"

namespace mp::platform {
namespace {

HANDLE AsHandle(NativeHandle h) { return reinterpret_cast<HANDLE>(h); }

// The names here are ASCII.
std::wstring Utf8ToWideForTest(absl::string_view s) {
  return std::wstring(s.begin(), s.end());
}

// A well-known SID, as bytes.
std::string WellKnownSid(WELL_KNOWN_SID_TYPE type) {
  std::string sid(SECURITY_MAX_SID_SIZE, '\0');
  DWORD size = static_cast<DWORD>(sid.size());
  EXPECT_TRUE(CreateWellKnownSid(type, nullptr, sid.data(), &size));
  sid.resize(size);
  return sid;
}

// The owner of `h` is this user, and its DACL has exactly two entries, both
// allowing, one for this user and one for LocalSystem: no Everyone, no
// Anonymous, nobody else.
void ExpectOwnerOnly(HANDLE h, absl::string_view what) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(OwnerOnlySecurityStatus().ok()) << OwnerOnlySecurityStatus();
  PSID owner = nullptr;
  ACL* dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD error =
      GetSecurityInfo(h, SE_KERNEL_OBJECT,
                      OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                      &owner, nullptr, &dacl, nullptr, &sd);
  ASSERT_EQ(error, static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_NE(owner, nullptr);
  EXPECT_TRUE(EqualSid(owner, CurrentUserSid()));
  ASSERT_NE(dacl, nullptr) << "a NULL DACL lets everybody in";
  ACL_SIZE_INFORMATION size = {};
  ASSERT_TRUE(GetAclInformation(dacl, &size, sizeof size, AclSizeInformation));
  EXPECT_EQ(size.AceCount, 2u);
  std::string everyone = WellKnownSid(WinWorldSid);
  std::string anonymous = WellKnownSid(WinAnonymousSid);
  bool user = false, system = false;
  for (DWORD i = 0; i < size.AceCount; ++i) {
    void* ace = nullptr;
    ASSERT_TRUE(GetAce(dacl, i, &ace));
    const auto* header = static_cast<ACE_HEADER*>(ace);
    ASSERT_EQ(header->AceType, ACCESS_ALLOWED_ACE_TYPE);
    PSID sid = &static_cast<ACCESS_ALLOWED_ACE*>(ace)->SidStart;
    EXPECT_FALSE(EqualSid(sid, everyone.data()));
    EXPECT_FALSE(EqualSid(sid, anonymous.data()));
    if (EqualSid(sid, CurrentUserSid())) {
      user = true;
    } else if (EqualSid(sid, LocalSystemSid())) {
      system = true;
    } else {
      ADD_FAILURE() << "an entry for another SID";
    }
  }
  EXPECT_TRUE(user);
  EXPECT_TRUE(system);
  LocalFree(sd);
}

void ExpectPairOwnerOnly(const ChannelPair& p, absl::string_view what) {
  ExpectOwnerOnly(AsHandle(p.first.get()), absl::StrCat(what, " first"));
  ExpectOwnerOnly(AsHandle(p.second.get()), absl::StrCat(what, " second"));
}

TEST(SecurityTest, PipesAreTheUsersOnly) {
  ExpectPairOwnerOnly(CreateDuplexChannel().value(), "duplex channel");
  ExpectPairOwnerOnly(CreateOneWayChannel().value(), "one-way channel");
  ExpectPairOwnerOnly(CreateMessageChannel().value(), "message channel");
  const std::string address =
      absl::StrCat("\\\\.\\pipe\\mp-security-test-", GetCurrentProcessId());
  BoundSocket listener = Listen(address, kMaxBacklog).value();
  ExpectOwnerOnly(AsHandle(listener.handle.get()), "listener instance");
}

TEST(SecurityTest, SectionsAreTheUsersOnly) {
  ScopedHandle section = CreateSharedMemory(4096).value();
  ExpectOwnerOnly(AsHandle(section.get()), "shared memory");
  NamedSharedMemory named = NamedSharedMemory::Create("", 4096).value();
  ExpectOwnerOnly(AsHandle(named.handle()), "named shared memory");
}

// The mutex of a SharedLock and the event a wait on a word sleeps on are
// named after random keys in shared memory (shared_memory_win.cc): the
// lock's after the 16 bytes that follow its 4-byte mark, the event after the
// section's 16-byte key in the 64-byte header before the user's bytes and
// the wake-up generation at offset 24 of that header.
TEST(SecurityTest, MutexesAndEventsAreTheUsersOnly) {
  ScopedHandle section = CreateSharedMemory(4096).value();
  SharedMapping m = MapSharedMemory(section.get(), 4096).value();
  auto* lock = new (m.data()) SharedLock;
  ASSERT_TRUE(InitSharedLock(lock).ok());
  const std::wstring lock_name = Utf8ToWideForTest(
      absl::StrCat("Local\\multiprocessing-lock-",
                   absl::BytesToHexString(absl::string_view(
                       reinterpret_cast<const char*>(lock->storage) + 4, 16))));
  HANDLE mutex = OpenMutexW(READ_CONTROL, FALSE, lock_name.c_str());
  ASSERT_NE(mutex, nullptr) << GetLastError();
  ExpectOwnerOnly(mutex, "SharedLock mutex");
  CloseHandle(mutex);

  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(
      static_cast<char*>(m.data()) + 64);
  const char* header = static_cast<const char*>(m.data()) - 64;
  const uint64_t generation =
      reinterpret_cast<const std::atomic<uint64_t>*>(header + 24)->load();
  const std::wstring event_name = Utf8ToWideForTest(absl::StrCat(
      "Local\\multiprocessing-wake-",
      absl::BytesToHexString(absl::string_view(header, 16)), "-", generation));
  std::thread waiter([word] {
    while (word->load() == 0) {
      WaitOnWord(word, 0, absl::Now() + absl::Seconds(30));
    }
  });
  // The event exists while the waiter waits on it.
  HANDLE event = nullptr;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (event == nullptr && absl::Now() < give_up) {
    event = OpenEventW(READ_CONTROL, FALSE, event_name.c_str());
    if (event == nullptr) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_NE(event, nullptr);
  if (event != nullptr) {
    ExpectOwnerOnly(event, "wake-up event");
    CloseHandle(event);
  }
  word->store(1);
  WakeWord(word);
  waiter.join();
}

// A mapping another account made first under the name, which lets anybody
// in (a NULL DACL): attaching by name refuses it, and creating the name
// says it exists.
TEST(NamedSharedMemorySecurityTest, ASquattersMappingIsRefused) {
  const std::string name = absl::StrCat("wnsm_squat_", GetCurrentProcessId());
  SECURITY_DESCRIPTOR sd;
  ASSERT_TRUE(InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION));
  ASSERT_TRUE(SetSecurityDescriptorDacl(&sd, TRUE, nullptr, FALSE));
  ASSERT_TRUE(SetSecurityDescriptorOwner(&sd, LocalSystemSid(), FALSE));
  SECURITY_ATTRIBUTES sa = {sizeof sa, &sd, FALSE};
  HANDLE squat = CreateFileMappingW(INVALID_HANDLE_VALUE, &sa, PAGE_READWRITE,
                                    0, 4096, Utf8ToWideForTest(name).c_str());
  // Windows refuses an owner that is not the caller's without
  // SeRestorePrivilege (ERROR_INVALID_OWNER); what Wine does is reported.
  ASSERT_NE(squat, nullptr)
      << "the squatter could not make its mapping: " << GetLastError();
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR got = nullptr;
  ASSERT_EQ(GetSecurityInfo(squat, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
                            &owner, nullptr, nullptr, nullptr, &got),
            static_cast<DWORD>(ERROR_SUCCESS));
  ASSERT_TRUE(EqualSid(owner, LocalSystemSid()))
      << "the system did not keep the squatter's owner";
  LocalFree(got);

  absl::StatusOr<NamedSharedMemory> opened = NamedSharedMemory::Open(name);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied)
      << opened.status();
  EXPECT_EQ(NamedSharedMemory::Create(name, 4096).status().code(),
            absl::StatusCode::kAlreadyExists);
  CloseHandle(squat);
}

// What Wine enforces, reported (not asserted: it is Wine's business): does
// a DACL that grants this user nothing keep it out of a named mapping? On
// Windows it does (ERROR_ACCESS_DENIED).
TEST(NamedSharedMemorySecurityTest, ReportsWhetherTheSystemChecksDacls) {
  const std::string name = absl::StrCat("wnsm_nobody_", GetCurrentProcessId());
  std::string acl(sizeof(ACL), '\0');
  ASSERT_TRUE(InitializeAcl(reinterpret_cast<ACL*>(acl.data()),
                            static_cast<DWORD>(acl.size()), ACL_REVISION));
  SECURITY_DESCRIPTOR sd;
  ASSERT_TRUE(InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION));
  ASSERT_TRUE(SetSecurityDescriptorDacl(
      &sd, TRUE, reinterpret_cast<ACL*>(acl.data()), FALSE));
  SECURITY_ATTRIBUTES sa = {sizeof sa, &sd, FALSE};
  HANDLE made = CreateFileMappingW(INVALID_HANDLE_VALUE, &sa, PAGE_READWRITE, 0,
                                   4096, Utf8ToWideForTest(name).c_str());
  ASSERT_NE(made, nullptr);
  HANDLE opened =
      OpenFileMappingW(FILE_MAP_READ, FALSE, Utf8ToWideForTest(name).c_str());
  const DWORD error = opened == nullptr ? GetLastError() : 0;
  std::fprintf(stderr,
               "opening a mapping whose DACL is empty: %s (error %lu)\n",
               opened == nullptr ? "refused" : "allowed", error);
  if (opened != nullptr) CloseHandle(opened);
  CloseHandle(made);
}

// What CPython makes (default security, this user's token). Windows gives a
// named object made so the token's default owner (this user, or
// Administrators for an elevated administrator), and it is attached. Wine
// gives it no security descriptor at all: no owner, which is refused as
// unknown (a mapping with no owner could be anybody's).
TEST(NamedSharedMemorySecurityTest, AMappingWithDefaultSecurity) {
  const std::string name = absl::StrCat("wnsm_own_", GetCurrentProcessId());
  HANDLE own = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE,
                                  0, 4096, Utf8ToWideForTest(name).c_str());
  ASSERT_NE(own, nullptr);
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR got = nullptr;
  ASSERT_EQ(GetSecurityInfo(own, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
                            &owner, nullptr, nullptr, nullptr, &got),
            static_cast<DWORD>(ERROR_SUCCESS));
  const bool has_owner = owner != nullptr;
  LocalFree(got);
  absl::StatusOr<NamedSharedMemory> opened = NamedSharedMemory::Open(name);
  if (has_owner) {
    EXPECT_TRUE(opened.ok()) << opened.status();
  } else {
    std::fprintf(stderr, "default security: no owner (Wine)\n");
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied);
  }
  CloseHandle(own);
}

}  // namespace
}  // namespace mp::platform
