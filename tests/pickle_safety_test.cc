// Loading an untrusted pickle can never run code nor exhaust the receiver:
// every opcode that would import or call in Python is refused with
// kInvalidArgument naming it, through mp::Decode and through a real
// Connection, for mp::PyValue and for typed values; and the budget, depth
// and hash-flooding limits of ipc/codec.h hold against the inputs that broke
// the old codec (4.2 GB RSS from 4 KB, 80 s of decoding for 237 KB).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/py_value.h"
#include "multiprocessing/ipc/testdata/codec_test_types.h"
#include "multiprocessing/platform/test_util.h"

// The largest single allocation while tracking: "without allocating" checks.
namespace {
std::atomic<bool> g_tracking{false};
std::atomic<std::size_t> g_max_alloc{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    std::size_t max = g_max_alloc.load(std::memory_order_relaxed);
    while (n > max && !g_max_alloc.compare_exchange_weak(max, n)) {
    }
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace mp {
namespace {

// A literal with its NULs, without the terminating one.
template <std::size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

struct Refused {
  const char* name;
  // The opcode the refusal must name: the first refused one in the pickle.
  const char* opcode;
  std::string pickle;
};

// Made by CPython 3.11 (pickle.dumps of os.system, of a class with
// __reduce__ returning (os.system, ...), of plain instances, with a
// persistent_id, with copyreg extensions) and, for the opcodes CPython 3
// never writes but loads (INST, OBJ) or to hit an opcode first, by hand:
// `python3 fuzz/make_pickle_corpus.py --cpp` prints this table (the same
// pickles are seeds of fuzz/corpus/pickle/).
const std::vector<Refused>& RefusedPickles() {
  static const auto* const kPickles = new std::vector<Refused>{
      {"global_reduce_p0", "GLOBAL",
       std::string(
           "cposix\x0asystem\x0ap0\x0a(Vecho pwned\x0ap1\x0atp2\x0aRp3\x0a.",
           42)},
      {"global_reduce_p2", "GLOBAL",
       std::string("\x80\x02\x63posix\x0asystem\x0aq\x00X\x0a\x00\x00\x00\x65"
                   "\x63ho pwnedq\x01\x85q\x02Rq\x03.",
                   42)},
      {"stack_global", "STACK_GLOBAL",
       std::string("\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix"
                   "\x94\x8c\x06system\x94\x93\x94.",
                   31)},
      {"stack_global_reduce", "STACK_GLOBAL",
       std::string("\x80\x04\x95%"
                   "\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system"
                   "\x94\x93\x94\x8c\x0a\x65\x63ho pwned\x94\x85\x94R\x94.",
                   48)},
      {"inst", "INST", std::string("(i__main__\x0a\x45vil\x0a.", 17)},
      {"obj", "GLOBAL", std::string("\x80\x02(c__main__\x0a\x45vil\x0ao.", 20)},
      {"obj_only", "OBJ", std::string("\x80\x02(K\x01o.", 7)},
      {"reduce_only", "REDUCE", std::string("\x80\x02K\x01)R.", 7)},
      {"build_only", "BUILD", std::string("\x80\x02]}b.", 6)},
      {"newobj_only", "NEWOBJ", std::string("\x80\x02K\x01)\x81.", 7)},
      {"newobj_ex_only", "NEWOBJ_EX", std::string("\x80\x04K\x01)}\x92.", 8)},
      {"newobj_build", "GLOBAL",
       std::string("\x80\x02\x63__main__\x0aPlain\x0aq\x00)\x81q\x01}"
                   "q\x02X\x01\x00\x00\x00\x61q\x03K\x01sb.",
                   40)},
      {"newobj_ex", "STACK_GLOBAL",
       std::string("\x80\x04\x95*\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__"
                   "\x94\x8c\x0aWithKwargs\x94\x93\x94K\x01\x85\x94}"
                   "\x94\x8c\x01k\x94K\x02s\x92\x94.",
                   53)},
      {"persid", "PERSID", std::string("(lp0\x0aPpid\x0a\x61.", 12)},
      {"binpersid", "BINPERSID",
       std::string("\x80\x02]q\x00X\x03\x00\x00\x00pidq\x01Qa.", 18)},
      {"ext1", "EXT1", std::string("\x80\x02\x82\x01.", 5)},
      {"ext2", "EXT2", std::string("\x80\x02\x83,\x01.", 6)},
      {"ext4", "EXT4", std::string("\x80\x02\x84p\x11\x01\x00.", 8)},
      {"unicode_p0", "UNICODE", std::string("Va\x0ap0\x0a.", 7)},
      {"binstring", "BINSTRING",
       std::string("\x80\x02T\x01\x00\x00\x00\x61.", 9)},
      {"short_binstring", "SHORT_BINSTRING",
       std::string("\x80\x02U\x01\x61.", 6)},
      {"next_buffer", "NEXT_BUFFER", std::string("\x80\x05\x97.", 4)},

  };
  return *kPickles;
}

bool RunsCode(absl::string_view opcode) {
  for (absl::string_view name :
       {"GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ",
        "NEWOBJ_EX", "PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4"}) {
    if (opcode == name) return true;
  }
  return false;
}

void ExpectRefused(const absl::Status& s, const Refused& r) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
      << r.name << ": " << s;
  const std::string named = absl::StrCat("opcode ", r.opcode, " (");
  EXPECT_TRUE(absl::StrContains(s.message(), named))
      << r.name << ": " << s << " does not name " << r.opcode;
  EXPECT_TRUE(absl::StrContains(
      s.message(), RunsCode(r.opcode) ? "call code" : "not supported"))
      << r.name << ": " << s;
}

TEST(PickleSafetyTest, TheTableCoversEveryCodeRunningOpcode) {
  std::set<std::string> named;
  for (const Refused& r : RefusedPickles()) named.insert(r.opcode);
  for (const char* opcode :
       {"GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ",
        "NEWOBJ_EX", "PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "UNICODE",
        "BINSTRING", "SHORT_BINSTRING", "NEXT_BUFFER"}) {
    EXPECT_EQ(named.count(opcode), 1u) << opcode;
  }
}

TEST(PickleSafetyTest, CodeRunningOpcodesAreRefusedByDecode) {
  for (const Refused& r : RefusedPickles()) {
    ExpectRefused(Decode<PyValue>(r.pickle).status(), r);
    ExpectRefused(Decode<int64_t>(r.pickle).status(), r);
    ExpectRefused(Decode<std::vector<std::string>>(r.pickle).status(), r);
    ExpectRefused(
        Decode<std::optional<std::map<std::string, int>>>(r.pickle).status(),
        r);
  }
}

TEST(PickleSafetyTest, CodeRunningOpcodesAreRefusedByRecv) {
  auto [ours, theirs] = Pipe().value();
  for (const Refused& r : RefusedPickles()) {
    ASSERT_TRUE(theirs.SendBytes(r.pickle).ok());
    ExpectRefused(ours.Recv<PyValue>().status(), r);
    ASSERT_TRUE(theirs.SendBytes(r.pickle).ok());
    ExpectRefused(ours.Recv<std::pair<int64_t, std::string>>().status(), r);
  }
  // The connection is still in step: the next message decodes.
  ASSERT_TRUE(theirs.Send(std::pair<int64_t, std::string>(7, "ok")).ok());
  EXPECT_EQ((ours.Recv<std::pair<int64_t, std::string>>().value()),
            (std::pair<int64_t, std::string>(7, "ok")));
}

// ---------------------------------------------------------------------------
// Budget, depth and hash flooding.

long PeakRssKiB() { return static_cast<long>(test_util::PeakResidentKiB()); }

// PROTO 4, an empty list, MARK, n Nones, APPENDS, STOP: [None] * n.
std::string ListOfNones(int n) {
  std::string p = "\x80\x04](";
  p.append(static_cast<std::size_t>(n), 'N');
  p += "e.";
  return p;
}

TEST(PickleSafetyTest, FourKilobytesCannotAskForGigabytes) {
  const std::string pickle = ListOfNones(4093);
  ASSERT_EQ(pickle.size(), 4099u);
  // The same message is fine for a small element type.
  absl::StatusOr<std::vector<std::optional<int>>> small =
      Decode<std::vector<std::optional<int>>>(pickle);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->size(), 4093u);

  // Each element is 1 MiB + 1 byte: 4 GiB for 4,099 bytes received.
  using Huge = std::vector<std::optional<std::array<char, 1 << 20>>>;
  const long rss_before = PeakRssKiB();
  const absl::Time start = absl::Now();
  absl::StatusOr<Huge> huge = Decode<Huge>(pickle);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted)
      << huge.status();
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_LT(PeakRssKiB() - rss_before, 64 * 1024) << "KiB of peak RSS";

  // Through a Connection too.
  auto [ours, theirs] = Pipe().value();
  ASSERT_TRUE(theirs.SendBytes(pickle).ok());
  EXPECT_EQ(ours.Recv<Huge>().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_LT(PeakRssKiB() - rss_before, 64 * 1024) << "KiB of peak RSS";
}

// The bucket count libstdc++ (or whichever library) picks for `reserve`.
std::size_t BucketCountAfterReserve(std::size_t n) {
  std::unordered_map<int64_t, int> m;
  m.reserve(n);
  return m.bucket_count();
}

// {k * buckets: k for k in range(n)}: every key in bucket 0 of a table
// with that many buckets (std::hash<int64_t> is the identity).
std::map<int64_t, int> CollidingKeys(std::size_t buckets, int n) {
  std::map<int64_t, int> keys;
  for (int k = 0; k < n; ++k) {
    keys.emplace(static_cast<int64_t>(k) * static_cast<int64_t>(buckets), k);
  }
  return keys;
}

TEST(PickleSafetyTest, CraftedKeysCannotFloodAnUnorderedMap) {
  constexpr int kKeys = 40000;
  // The codec may reserve the number of pairs, or of keys and values: craft
  // keys for both tables; the one the codec uses must be refused, and
  // neither may take long.
  int refused = 0;
  for (std::size_t reserve : {std::size_t{kKeys}, std::size_t{2 * kKeys}}) {
    const std::size_t buckets = BucketCountAfterReserve(reserve);
    const std::map<int64_t, int> keys = CollidingKeys(buckets, kKeys);
    std::string pickle;
    ASSERT_TRUE(Encode(keys, &pickle).ok());
    SCOPED_TRACE(absl::StrCat(pickle.size(), "-byte pickle, keys collide in ",
                              buckets, " buckets"));

    absl::Time start = absl::Now();
    absl::StatusOr<std::unordered_map<int64_t, int>> flooded =
        Decode<std::unordered_map<int64_t, int>>(pickle);
    absl::Duration took = absl::Now() - start;
    EXPECT_LT(took, absl::Seconds(3)) << "the old codec took 80 s";
    std::printf("keys crafted for %zu buckets: %s in %s\n", buckets,
                flooded.ok()
                    ? "decoded"
                    : flooded.status().ToString().substr(0, 60).c_str(),
                absl::FormatDuration(took).c_str());
    if (flooded.ok()) {
      EXPECT_EQ(flooded->size(), keys.size());
      const std::map<int64_t, int> got(flooded->begin(), flooded->end());
      EXPECT_TRUE(got == keys);
    } else {
      EXPECT_EQ(flooded.status().code(), absl::StatusCode::kInvalidArgument)
          << flooded.status();
      EXPECT_TRUE(absl::StrContains(flooded.status().message(), "bucket"))
          << flooded.status();
      ++refused;
    }

    // A set of the same keys.
    start = absl::Now();
    std::set<int64_t> key_set;
    for (const auto& [k, v] : keys) key_set.insert(k);
    std::string set_pickle;
    ASSERT_TRUE(Encode(key_set, &set_pickle).ok());
    absl::StatusOr<std::unordered_set<int64_t>> set_flooded =
        Decode<std::unordered_set<int64_t>>(set_pickle);
    EXPECT_LT(absl::Now() - start, absl::Seconds(3));
    if (set_flooded.ok()) {
      EXPECT_EQ(set_flooded->size(), key_set.size());
    }

    // The same keys into a std::map decode fine.
    absl::StatusOr<std::map<int64_t, int>> ordered =
        Decode<std::map<int64_t, int>>(pickle);
    ASSERT_TRUE(ordered.ok()) << ordered.status();
    EXPECT_TRUE(*ordered == keys);
  }
  EXPECT_GE(refused, 1) << "no crafted key set collided in the codec's table";
}

// Level 0 is [], level i is [level i-1, level i-1] through the memo: 30
// levels are 2^30 references in a few hundred bytes.
std::string BillionLaughs(int levels) {
  std::string p =
      "\x80\x04]\x94"
      "0";  // [] memoized as 0, popped
  for (int i = 1; i <= levels; ++i) {
    p += "](h";
    p += static_cast<char>(i - 1);
    p += 'h';
    p += static_cast<char>(i - 1);
    p += "e\x94";              // APPENDS, MEMOIZE as i
    if (i < levels) p += '0';  // POP: only the last level stays
  }
  p += '.';
  return p;
}

TEST(PickleSafetyTest, SharedReferencesCannotExpand) {
  // Small: fine, and the references are followed.
  absl::StatusOr<PyValue> small = Decode<PyValue>(BillionLaughs(2));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->Repr(), "[[[], []], [[], []]]");

  const std::string pickle = BillionLaughs(30);
  EXPECT_LT(pickle.size(), 300u);
  const long rss_before = PeakRssKiB();
  const absl::Time start = absl::Now();
  EXPECT_EQ(Decode<PyValue>(pickle).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Decode<Tree>(pickle).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Decode<std::vector<std::vector<std::vector<PyValue>>>>(pickle)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_LT(PeakRssKiB() - rss_before, 64 * 1024) << "KiB of peak RSS";
}

// n empty lists, then n - 1 APPENDs: [[[...]]] n deep.
std::string NestedLists(int n) {
  std::string p = "\x80\x04";
  p.append(static_cast<std::size_t>(n), ']');
  p.append(static_cast<std::size_t>(n - 1), 'a');
  p += '.';
  return p;
}

TEST(PickleSafetyTest, DeepNestingIsRefusedWithoutOverflowingTheStack) {
  absl::StatusOr<Tree> shallow = Decode<Tree>(NestedLists(50));
  ASSERT_TRUE(shallow.ok()) << shallow.status();
  int depth = 1;
  for (const Tree* t = &*shallow; !t->children.empty(); t = &t->children[0]) {
    ++depth;
  }
  EXPECT_EQ(depth, 50);

  const std::string deep = NestedLists(100000);
  // On a thread: a stack overflow would crash the test, as 100,000
  // recursive frames exceed its 8 MiB.
  absl::Status tree;
  absl::Status any;
  std::thread decoder([&] {
    tree = Decode<Tree>(deep).status();
    any = Decode<PyValue>(deep).status();
  });
  decoder.join();
  EXPECT_EQ(tree.code(), absl::StatusCode::kResourceExhausted) << tree;
  EXPECT_EQ(any.code(), absl::StatusCode::kResourceExhausted) << any;

  // 100,000 nested tuples as a set element: the hashability check nests too.
  // EMPTY_SET, MARK, EMPTY_TUPLE, TUPLE1 100,000 times, ADDITEMS, STOP.
  std::string key = "\x80\x04\x8f()";
  key.append(100000, '\x85');
  key += "\x90.";
  EXPECT_EQ(Decode<PyValue>(key).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(PickleSafetyTest, LyingLengthsAreDataLossWithoutAllocating) {
  const std::vector<std::string> liars = {
      // LONG4 claiming 2 GiB - 1 of digits.
      B("\x80\x04\x8b\xff\xff\xff\x7f\x01\x02."),
      // BINBYTES8 claiming 1 TiB.
      B("\x80\x04\x8e\x00\x00\x00\x00\x00\x01\x00\x00"
        "ab."),
      // BINUNICODE8 claiming 2^63.
      B("\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x80"
        "ab."),
      // BINBYTES and BINUNICODE claiming 4 GiB - 1.
      B("\x80\x04"
        "B\xff\xff\xff\xff"
        "ab."),
      B("\x80\x04X\xff\xff\xff\xff"
        "ab."),
      // BYTEARRAY8 claiming 2^56.
      B("\x80\x05\x96\x00\x00\x00\x00\x00\x00\x00\x01"
        "ab."),
      // A FRAME claiming 2^60 bytes.
      B("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x10N."),
  };
  for (const std::string& liar : liars) {
    g_max_alloc = 0;
    g_tracking = true;
    const absl::Status any = Decode<PyValue>(liar).status();
    const absl::Status bytes = Decode<Bytes>(liar).status();
    const absl::Status big = Decode<absl::int128>(liar).status();
    g_tracking = false;
    EXPECT_EQ(any.code(), absl::StatusCode::kDataLoss) << any;
    EXPECT_EQ(bytes.code(), absl::StatusCode::kDataLoss) << bytes;
    EXPECT_EQ(big.code(), absl::StatusCode::kDataLoss) << big;
    EXPECT_LT(g_max_alloc.load(), std::size_t{1} << 20)
        << "bytes in one allocation";
  }
}

}  // namespace
}  // namespace mp
