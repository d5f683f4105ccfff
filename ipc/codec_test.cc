// The pickle codec on its own. CPython's side of the format is checked two
// ways: pickles CPython wrote (byte literals below, made with python3's
// pickle.dumps) decode here, and tests/pickle_interop_test.cc has a live
// python3 load what we write and write what we load.
#include "multiprocessing/ipc/codec.h"

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec_protobuf.h"
#include "multiprocessing/ipc/py_value.h"
#include "multiprocessing/ipc/testdata/codec_test.pb.h"
#include "multiprocessing/ipc/testdata/codec_test_types.h"

// Allocation counting for the hot-path tests.
namespace {
std::atomic<bool> g_tracking{false};
std::atomic<std::size_t> g_alloc_count{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    g_alloc_count.fetch_add(1, std::memory_order_relaxed);
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace mp {
namespace {

template <typename T>
std::string Pickle(const T& value) {
  std::string out;
  absl::Status s = Encode(value, &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

template <typename T>
T RoundTrip(const T& value) {
  absl::StatusOr<T> back = Decode<T>(Pickle(value));
  EXPECT_TRUE(back.ok()) << back.status();
  return back.ok() ? *back : T{};
}

// A string literal with its embedded NULs.
template <std::size_t N>
std::string Bytes_(const char (&s)[N]) {
  return std::string(s, N - 1);
}

template <typename T>
absl::StatusCode DecodeCode(absl::string_view bytes) {
  return Decode<T>(bytes).status().code();
}

// Pickles python3 wrote (pickle.dumps(value, protocol=p)).
// (1, 'x') with protocol 2 (no frame, BINUNICODE, BINPUT) and 4 (FRAME,
// SHORT_BINUNICODE, MEMOIZE).
constexpr char kPy2TupleIntStr[] =
    "\x80\x02\x4b\x01\x58\x01\x00\x00\x00\x78\x71\x00\x86\x71\x01\x2e";
constexpr char kPy4TupleIntStr[] =
    "\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00\x4b\x01\x8c\x01\x78\x94\x86"
    "\x94\x2e";
// {'a': [1, 2.5, None, True], 'b': (b'\x00\xff', frozenset({3})),
//  'c': {7, 8}}, protocol 4.
constexpr char kPy4Nested[] =
    "\x80\x04\x95\x36\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01\x61\x94"
    "\x5d\x94\x28\x4b\x01\x47\x40\x04\x00\x00\x00\x00\x00\x00\x4e\x88\x65\x8c"
    "\x01\x62\x94\x43\x02\x00\xff\x94\x28\x4b\x03\x91\x94\x86\x94\x8c\x01\x63"
    "\x94\x8f\x94\x28\x4b\x08\x4b\x07\x90\x75\x2e";
// [2**63-1, -2**63, 2**64-1, -2**100, 2**127-1, 255, 256, 65535, 65536, -1,
//  2**31-1, -2**31], protocol 4.
constexpr char kPy4Ints[] =
    "\x80\x04\x95\x61\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x8a\x08\xff\xff"
    "\xff\xff\xff\xff\xff\x7f\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80\x8a\x09"
    "\xff\xff\xff\xff\xff\xff\xff\xff\x00\x8a\x0d\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\xf0\x8a\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    "\xff\xff\xff\xff\xff\x7f\x4b\xff\x4d\x00\x01\x4d\xff\xff\x4a\x00\x00\x01"
    "\x00\x4a\xff\xff\xff\xff\x4a\xff\xff\xff\x7f\x4a\x00\x00\x00\x80\x65\x2e";
// l = [1, 2]; (l, l, 'héllo ✓'), protocol 4: the second l is a memo GET.
constexpr char kPy4Shared[] =
    "\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x4b\x01\x4b\x02"
    "\x65\x68\x00\x8c\x0a\x68\xc3\xa9\x6c\x6c\x6f\x20\xe2\x9c\x93\x94\x87\x94"
    "\x2e";

TEST(CodecTest, DecodesWhatCPythonWrites) {
  using P = std::pair<int64_t, std::string>;
  EXPECT_EQ(Decode<P>(Bytes_(kPy2TupleIntStr)).value(), P(1, "x"));
  EXPECT_EQ(Decode<P>(Bytes_(kPy4TupleIntStr)).value(), P(1, "x"));

  using Nested = std::map<std::string, PyValue>;
  absl::StatusOr<Nested> nested = Decode<Nested>(Bytes_(kPy4Nested));
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ((nested->at("a")
                 .As<std::tuple<int, double, std::optional<int>, bool>>()
                 .value()),
            std::make_tuple(1, 2.5, std::optional<int>(), true));
  EXPECT_EQ((nested->at("b").As<std::pair<Bytes, std::set<int>>>().value()),
            std::make_pair(Bytes(Bytes_("\x00\xff")), std::set<int>{3}));
  EXPECT_EQ(nested->at("c").As<std::set<int>>().value(), (std::set<int>{7, 8}));

  absl::StatusOr<std::vector<absl::int128>> ints =
      Decode<std::vector<absl::int128>>(Bytes_(kPy4Ints));
  ASSERT_TRUE(ints.ok()) << ints.status();
  const absl::int128 one = 1;
  EXPECT_EQ(*ints, (std::vector<absl::int128>{
                       std::numeric_limits<int64_t>::max(),
                       std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<uint64_t>::max(), -(one << 100),
                       std::numeric_limits<absl::int128>::max(), 255, 256,
                       65535, 65536, -1, 2147483647, -2147483647 - 1}));

  using Shared = std::tuple<std::vector<int>, std::vector<int>, std::string>;
  EXPECT_EQ(Decode<Shared>(Bytes_(kPy4Shared)).value(),
            Shared({1, 2}, {1, 2}, "h\xc3\xa9llo \xe2\x9c\x93"));
}

TEST(CodecTest, WritesProtocol4WithCPythonsIntegerOpcodes) {
  // PROTO 4, the value, STOP; ints in the shortest form CPython uses.
  EXPECT_EQ(Pickle(0), Bytes_("\x80\x04K\x00."));
  EXPECT_EQ(Pickle(300), Bytes_("\x80\x04M\x2c\x01."));
  EXPECT_EQ(Pickle(-1), Bytes_("\x80\x04J\xff\xff\xff\xff."));
  EXPECT_EQ(Pickle(int64_t{1} << 40),
            Bytes_("\x80\x04\x8a\x06\x00\x00\x00\x00\x00\x01."));
  EXPECT_EQ(Pickle(std::numeric_limits<uint64_t>::max()),
            Bytes_("\x80\x04\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00."));
  EXPECT_EQ(Pickle(std::make_pair(1, std::string("x"))),
            Bytes_("\x80\x04K\x01\x8c\x01x\x86."));
}

TEST(CodecTest, Integers) {
  EXPECT_EQ(RoundTrip(std::numeric_limits<int64_t>::min()),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(RoundTrip(std::numeric_limits<uint64_t>::max()),
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(RoundTrip<int8_t>(-128), -128);
  EXPECT_EQ(RoundTrip<uint16_t>(65535), 65535);
  EXPECT_EQ(RoundTrip<char>('a'), 'a');
  EXPECT_EQ(RoundTrip(std::numeric_limits<absl::int128>::min()),
            std::numeric_limits<absl::int128>::min());
  // Any integer type into any other that holds the value.
  EXPECT_EQ(Decode<int64_t>(Pickle(uint8_t{200})).value(), 200);
  EXPECT_EQ(Decode<uint8_t>(Pickle(int64_t{255})).value(), 255);
  EXPECT_EQ(DecodeCode<uint8_t>(Pickle(256)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCode<uint32_t>(Pickle(-1)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCode<int64_t>(Pickle(std::numeric_limits<uint64_t>::max())),
            absl::StatusCode::kInvalidArgument);
  // Beyond 128 bits: a clear error, into any type.
  const std::string big =
      Bytes_("\x80\x04\x8a\x11") + std::string(16, '\0') + Bytes_("\x01.");
  absl::Status s = Decode<absl::int128>(big).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "beyond 128 bits")) << s;
  EXPECT_EQ(DecodeCode<PyValue>(big), absl::StatusCode::kInvalidArgument);
  // bool is not an int, nor an int a bool.
  EXPECT_EQ(DecodeCode<int>(Pickle(true)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCode<bool>(Pickle(1)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RoundTrip(true), true);
  EXPECT_EQ(RoundTrip(false), false);
}

TEST(CodecTest, Floats) {
  EXPECT_EQ(RoundTrip(1.5), 1.5);
  EXPECT_EQ(RoundTrip(-0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(RoundTrip(-0.0)));
  EXPECT_TRUE(std::isnan(RoundTrip(std::nan(""))));
  EXPECT_EQ(RoundTrip(std::numeric_limits<double>::infinity()),
            std::numeric_limits<double>::infinity());
  // BINFLOAT is big-endian.
  EXPECT_EQ(Pickle(1.0), Bytes_("\x80\x04G\x3f\xf0\x00\x00\x00\x00\x00\x00."));
  // An int that a double holds exactly; not one that it does not.
  EXPECT_EQ(Decode<double>(Pickle(3)).value(), 3.0);
  EXPECT_EQ(DecodeCode<double>(Pickle((int64_t{1} << 60) + 1)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCode<float>(Pickle(1e300)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCode<double>(Pickle(std::string("1"))),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, StringsAndBytes) {
  const std::string utf8 = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80";
  EXPECT_EQ(RoundTrip(utf8), utf8);
  EXPECT_EQ(RoundTrip(std::string(300, 'x')), std::string(300, 'x'));
  EXPECT_EQ(Pickle(std::string("ab")), Bytes_("\x80\x04\x8c\x02"
                                              "ab."));
  EXPECT_EQ(Pickle(Bytes("ab")), Bytes_("\x80\x04"
                                        "C\x02"
                                        "ab."));
  // str must be UTF-8 on the way out; bytes are anything.
  std::string out = "kept";
  absl::Status s = Encode(std::string("\xff"), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "kept");
  const Bytes binary(Bytes_("\x00\xff\x80"));
  EXPECT_EQ(RoundTrip(binary), binary);
  const std::vector<char> chars = {'\0', 'a', '\xff'};
  EXPECT_EQ(RoundTrip(chars), chars);
  const std::vector<unsigned char> uchars = {0, 200};
  EXPECT_EQ(RoundTrip(uchars), uchars);
  // str and bytes decode into any byte string.
  EXPECT_EQ(Decode<std::string>(Pickle(binary)).value(), binary);
  EXPECT_EQ(Decode<Bytes>(Pickle(std::string("x"))).value(), Bytes("x"));
  // Encode-only forms.
  EXPECT_EQ(Decode<std::string>(Pickle("literal")).value(), "literal");
  EXPECT_EQ(Decode<std::string>(Pickle(absl::string_view("view"))).value(),
            "view");
  const char* null = nullptr;
  EXPECT_TRUE(Decode<PyValue>(Pickle(null)).value().is_none());
  // A str that is not UTF-8 in a pickle is corrupt.
  EXPECT_EQ(DecodeCode<std::string>(Bytes_("\x80\x04\x8c\x01\xff.")),
            absl::StatusCode::kDataLoss);
  // 16 MiB of bytes.
  const Bytes large(std::string(16 << 20, '\x5a'));
  EXPECT_EQ(RoundTrip(large), large);
}

TEST(CodecTest, Containers) {
  const std::vector<int> v = {1, 2, 3};
  EXPECT_EQ(RoundTrip(v), v);
  EXPECT_EQ(RoundTrip(std::vector<int>()), std::vector<int>());
  EXPECT_EQ(RoundTrip(std::vector<bool>{true, false}),
            (std::vector<bool>{true, false}));
  EXPECT_EQ(RoundTrip(std::array<int, 2>{4, 5}), (std::array<int, 2>{4, 5}));
  const std::map<std::string, std::vector<double>> m = {{"a", {1.5}},
                                                        {"b", {}}};
  EXPECT_EQ(RoundTrip(m), m);
  const std::unordered_map<int, std::string> um = {{1, "x"}, {2, "y"}};
  EXPECT_EQ(RoundTrip(um), um);
  EXPECT_EQ(RoundTrip(std::set<int>{3, 1}), (std::set<int>{1, 3}));
  EXPECT_EQ(RoundTrip(std::unordered_set<std::string>{"a", "b"}),
            (std::unordered_set<std::string>{"a", "b"}));
  EXPECT_EQ(RoundTrip(std::set<int>()), std::set<int>());
  EXPECT_EQ(RoundTrip(std::map<int, int>()), (std::map<int, int>()));
  using T = std::tuple<int, std::string, std::optional<double>, bool>;
  EXPECT_EQ(RoundTrip(T(1, "a", std::nullopt, true)),
            T(1, "a", std::nullopt, true));
  EXPECT_EQ(RoundTrip(std::tuple<>()), std::tuple<>());
  EXPECT_EQ(RoundTrip(Point{1, -2, "p"}), (Point{1, -2, "p"}));
  // Same shape, different maps.
  EXPECT_EQ((Decode<std::map<int, std::string>>(Pickle(um)).value()),
            (std::map<int, std::string>{{1, "x"}, {2, "y"}}));
}

TEST(CodecTest, ListAndTupleAreInterchangeableOnDecode) {
  EXPECT_EQ((Decode<std::vector<int>>(Pickle(std::make_tuple(1, 2))).value()),
            (std::vector<int>{1, 2}));
  EXPECT_EQ(
      (Decode<std::pair<int, int>>(Pickle(std::vector<int>{1, 2})).value()),
      std::make_pair(1, 2));
  // But the length must match.
  EXPECT_EQ((DecodeCode<std::pair<int, int>>(Pickle(std::vector<int>{1}))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((DecodeCode<std::array<int, 3>>(Pickle(std::vector<int>{1}))),
            absl::StatusCode::kInvalidArgument);
  // A dict is no sequence; a set is no list.
  EXPECT_EQ(DecodeCode<std::vector<int>>(Pickle(std::set<int>{1})),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, KeysThatPythonCannotHashGoAsTuplesAndFrozensets) {
  // Python cannot load {[1, 2]} or {{1}: 0}: these are written as
  // {(1, 2)} and {frozenset({1}): 0}.
  const std::set<std::vector<int>> s = {{1, 2}, {}};
  EXPECT_EQ(RoundTrip(s), s);
  PyValue v = Decode<PyValue>(Pickle(s)).value();
  EXPECT_EQ(v.Repr(), "{(), (1, 2)}");
  const std::map<std::set<int>, std::vector<int>> m = {{{1}, {2}}};
  EXPECT_EQ(RoundTrip(m), m);
  EXPECT_EQ(Decode<PyValue>(Pickle(m)).value().Repr(), "{frozenset({1}): [2]}");
  // And a pickle with an unhashable key is refused, as Python refuses it.
  const std::string list_key = Bytes_("\x80\x04}(]K\x01u.");  // { []: 1 }
  EXPECT_EQ(DecodeCode<PyValue>(list_key), absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, RepeatedKeysMergeAsInPython) {
  // {1: 'a', 1: 'b'} and {1, 1} written by hand.
  const std::string dict = Bytes_(
      "\x80\x04}(K\x01\x8c\x01"
      "aK\x01\x8c\x01"
      "bu.");
  EXPECT_EQ((Decode<std::map<int, std::string>>(dict).value()),
            (std::map<int, std::string>{{1, "b"}}));
  EXPECT_EQ((Decode<std::unordered_map<int, std::string>>(dict).value()),
            (std::unordered_map<int, std::string>{{1, "b"}}));
  EXPECT_EQ(Decode<PyValue>(dict).value().Repr(), "{1: 'b'}");
  const std::string set = Bytes_("\x80\x04\x8f(K\x01K\x01\x90.");
  EXPECT_EQ(Decode<std::set<int>>(set).value(), std::set<int>{1});
  EXPECT_EQ(Decode<PyValue>(set).value().size(), 1u);
}

TEST(CodecTest, OptionalAndVariant) {
  EXPECT_EQ(RoundTrip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(RoundTrip(std::optional<int>(4)), 4);
  EXPECT_EQ(DecodeCode<int>(Pickle(std::optional<int>())),
            absl::StatusCode::kInvalidArgument);
  // The alternative itself on the wire; the first that accepts it on decode.
  using V = std::variant<std::monostate, int64_t, std::string>;
  EXPECT_EQ(RoundTrip(V("s")), V("s"));
  EXPECT_EQ(RoundTrip(V(int64_t{7})), V(int64_t{7}));
  EXPECT_EQ(RoundTrip(V()), V());
  EXPECT_EQ(Pickle(V(int64_t{7})), Pickle(7));
  EXPECT_EQ(DecodeCode<V>(Pickle(1.5)), absl::StatusCode::kInvalidArgument);
  using W = std::variant<int, double>;
  EXPECT_EQ(Decode<W>(Pickle(1.5)).value(), W(1.5));
  EXPECT_EQ(Decode<W>(Pickle(2)).value(), W(2));
}

TEST(CodecTest, Protobuf) {
  codec_test::Sample sample;
  sample.set_name("n");
  sample.set_id(-5);
  sample.add_values(1.5);
  sample.mutable_inner()->set_label("in");
  sample.set_blob(Bytes_("\0\1"));
  // Bytes on the wire: what Python's Sample.FromString reads.
  EXPECT_EQ(Decode<Bytes>(Pickle(sample)).value(), sample.SerializeAsString());
  codec_test::Sample back = Decode<codec_test::Sample>(Pickle(sample)).value();
  EXPECT_EQ(back.SerializeAsString(), sample.SerializeAsString());
  EXPECT_EQ(DecodeCode<codec_test::Sample>(Pickle(Bytes("\xff\xff"))),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCode<codec_test::Sample>(Pickle(std::string("x"))),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, WrongTypesAreInvalidArgumentNamingBoth) {
  absl::Status s = Decode<int>(Pickle(std::string("x"))).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "codec: expected int, got str");
  EXPECT_EQ(DecodeCode<std::string>(Pickle(1)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((DecodeCode<std::map<int, int>>(Pickle(std::vector<int>{}))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCode<Point>(Pickle(std::make_tuple(1, 2))),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, CodeRunningOpcodesAreRefusedByName) {
  // Each would import or call in Python. Refused whatever type is asked for.
  const std::pair<absl::string_view, absl::string_view> cases[] = {
      {"c", "GLOBAL"},    {"\x93", "STACK_GLOBAL"},
      {"R", "REDUCE"},    {"b", "BUILD"},
      {"i", "INST"},      {"o", "OBJ"},
      {"\x81", "NEWOBJ"}, {"\x92", "NEWOBJ_EX"},
      {"P", "PERSID"},    {"Q", "BINPERSID"},
      {"\x82", "EXT1"},   {"\x83", "EXT2"},
      {"\x84", "EXT4"},
  };
  for (const auto& [opcode, name] : cases) {
    const std::string pickle = absl::StrCat("\x80\x04", opcode, "x\ny\n.");
    for (absl::Status s : {Decode<PyValue>(pickle).status(),
                           Decode<std::string>(pickle).status()}) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_TRUE(absl::StrContains(s.message(), name)) << s;
      EXPECT_TRUE(absl::StrContains(s.message(), "never runs code")) << s;
    }
  }
  // os.system('true') as pickle.dumps makes it, protocol 0.
  EXPECT_EQ(DecodeCode<PyValue>("cposix\nsystem\np0\n(Vtrue\np1\ntp2\nRp3\n."),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, MalformedPicklesAreDataLoss) {
  const std::string good =
      Pickle(std::make_tuple(1, std::string("abc"), std::vector<int>{1, 2}));
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(DecodeCode<PyValue>(good.substr(0, n)),
              absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_EQ(DecodeCode<PyValue>(good + "N"), absl::StatusCode::kDataLoss);
  for (absl::string_view bad : {
           absl::string_view("\x80\x04."),           // empty stack
           absl::string_view("\x80\x04NN."),         // two values
           absl::string_view("\x80\x04(N."),         // open mark
           absl::string_view("\x80\x04t."),          // no mark
           absl::string_view("\x80\x04N\x85\x86."),  // underflow
           absl::string_view("\x80\x04h\x05."),      // memo never set
           absl::string_view("\x80\x04Na."),         // APPEND to None
           absl::string_view("\x80\x04\xff."),       // unknown opcode
       }) {
    EXPECT_EQ(DecodeCode<PyValue>(bad), absl::StatusCode::kDataLoss)
        << absl::CEscape(bad);
  }
  EXPECT_EQ(DecodeCode<PyValue>("\x80\x06N."),
            absl::StatusCode::kInvalidArgument);  // protocol 6
}

TEST(CodecTest, LyingLengthsFailWithoutAllocating) {
  // BINBYTES8 claiming 2^40 bytes, LONG4 claiming 2^31-1, in a few bytes.
  const std::string bytes8 = Bytes_("\x80\x04\x8e") +
                             Bytes_("\x00\x00\x00\x00\x00\x01\x00\x00") + "ab.";
  const std::string long4 = Bytes_("\x80\x04\x8b\xff\xff\xff\x7f") + "ab.";
  g_alloc_count = 0;
  g_tracking = true;
  const absl::StatusCode a = DecodeCode<Bytes>(bytes8);
  const absl::StatusCode b = DecodeCode<absl::int128>(long4);
  g_tracking = false;
  EXPECT_EQ(a, absl::StatusCode::kDataLoss);
  EXPECT_EQ(b, absl::StatusCode::kDataLoss);
  EXPECT_LE(g_alloc_count.load(), 8u);  // error messages, no buffer
}

TEST(CodecTest, DecodingIsBoundedByABudgetTiedToTheMessage) {
  // 4,000 Nones as a list: 4 KB that would become 4 GB of
  // optional<array<char, 1 MiB>>.
  const std::vector<std::optional<int>> nones(4000);
  const std::string pickle = Pickle(nones);
  ASSERT_LT(pickle.size(), 8200u);
  absl::Status s =
      Decode<std::vector<std::optional<std::array<char, 1 << 20>>>>(pickle)
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  // The same message as a reasonable type decodes.
  EXPECT_TRUE(Decode<std::vector<std::optional<int64_t>>>(pickle).ok());

  // Shared references: level k is [level k-1, level k-1] through the memo,
  // so 30 levels in ~150 bytes would be 2^30 elements.
  std::string bomb = Bytes_("\x80\x04K\x00\x94");  // memo 0 = 0
  for (int level = 1; level <= 30; ++level) {
    const char prev = static_cast<char>(level - 1);
    bomb += Bytes_("0(h") + prev + "h" + prev + "l\x94";
  }
  bomb += ".";
  const absl::Time start = absl::Now();
  EXPECT_EQ(DecodeCode<PyValue>(bomb), absl::StatusCode::kResourceExhausted);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(CodecTest, NestingIsCapped) {
  // 100,000 nested lists: the parse is iterative; building values stops at
  // kMaxDepth instead of overflowing the stack.
  std::string deep("\x80\x04", 2);
  for (int i = 0; i < 100000; ++i) deep += "(";
  deep += "]";
  for (int i = 0; i < 100000; ++i) deep += "l";
  deep += ".";
  EXPECT_EQ(DecodeCode<PyValue>(deep), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(DecodeCode<Tree>(deep), absl::StatusCode::kResourceExhausted);
  // A list that contains itself (l = []; l.append(l)).
  const std::string cycle = Bytes_(
      "\x80\x04]\x94h\x00"
      "a.");
  EXPECT_EQ(DecodeCode<PyValue>(cycle), absl::StatusCode::kResourceExhausted);
  Tree shallow;
  shallow.children.resize(2);
  EXPECT_EQ(RoundTrip(shallow).children.size(), 2u);
}

TEST(CodecTest, CraftedHashCollisionsAreRefusedQuickly) {
  // Keys that all fall into bucket 0 of a std::unordered_map sized for them.
  std::unordered_map<int64_t, int> probe;
  probe.reserve(20000);
  const int64_t buckets = static_cast<int64_t>(probe.bucket_count());
  std::map<int64_t, int> crafted;
  for (int64_t i = 0; i < 20000; ++i) crafted[i * buckets] = 1;
  const std::string pickle = Pickle(crafted);
  const absl::Time start = absl::Now();
  absl::Status s = Decode<std::unordered_map<int64_t, int>>(pickle).status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // An ordered map takes them.
  EXPECT_EQ((Decode<std::map<int64_t, int>>(pickle).value().size()), 20000u);
  // Ordinary keys are fine.
  std::unordered_map<int64_t, int> plain;
  for (int i = 0; i < 20000; ++i) plain[i] = i;
  EXPECT_EQ(RoundTrip(plain), plain);
}

TEST(CodecTest, HotPathDoesNotAllocate) {
  const std::pair<int64_t, std::string> value(42, "x");
  std::string buffer;
  buffer.reserve(64);
  ASSERT_TRUE(Encode(value, &buffer).ok());  // warm up the thread's tape
  ASSERT_TRUE((Decode<std::pair<int64_t, std::string>>(buffer).ok()));
#if defined(__MINGW32__)
  // codec.cc keeps no per-thread tape under mingw-w64 (kReuseTape says
  // why), so there only encoding is free of allocations.
  constexpr bool kDecodeReusesTape = false;
#else
  constexpr bool kDecodeReusesTape = true;
#endif
  g_alloc_count = 0;
  g_tracking = true;
  for (int i = 0; i < 100; ++i) {
    buffer.clear();
    absl::Status e = Encode(value, &buffer);
    g_tracking = kDecodeReusesTape;
    absl::StatusOr<std::pair<int64_t, std::string>> d =
        Decode<std::pair<int64_t, std::string>>(buffer);
    g_tracking = true;
    if (!e.ok() || !d.ok()) break;
  }
  g_tracking = false;
  EXPECT_EQ(g_alloc_count.load(), 0u);
}

TEST(CodecTest, PyValue) {
  const PyValue v = PyValue::Tuple(
      {PyValue::Int(1), PyValue::Str("x'"), PyValue::Bytes(Bytes_("\0")),
       PyValue::List(
           {PyValue::Float(1.5), PyValue::None(), PyValue::Bool(true)}),
       PyValue::Dict({{PyValue::Str("k"), PyValue::Float(0.1)}}),
       PyValue::Set({}), PyValue::FrozenSet({PyValue::Int(2)}),
       PyValue::Tuple({PyValue::Float(2)})});
  EXPECT_EQ(v.Repr(),
            "(1, \"x'\", b'\\x00', [1.5, None, True], {'k': 0.1}, set(), "
            "frozenset({2}), (2.0,))");
  EXPECT_EQ(RoundTrip(v), v);
  EXPECT_NE(PyValue::Int(1), PyValue::Float(1));
  EXPECT_NE(PyValue::Int(1), PyValue::Bool(true));
  EXPECT_EQ(PyValue::Dict({{PyValue::Int(1), PyValue::Int(2)},
                           {PyValue::Int(3), PyValue::Int(4)}}),
            PyValue::Dict({{PyValue::Int(3), PyValue::Int(4)},
                           {PyValue::Int(1), PyValue::Int(2)}}));
  // Typed views of it, both ways.
  using T = std::tuple<int, std::string, Bytes, PyValue,
                       std::map<std::string, double>, std::set<int>,
                       std::set<int>, std::vector<double>>;
  absl::StatusOr<T> typed = v.As<T>();
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(std::get<1>(*typed), "x'");
  EXPECT_EQ(PyValue::From(*typed).value().As<T>().value(), *typed);
  EXPECT_EQ(v.As<int>().status().code(), absl::StatusCode::kInvalidArgument);
  const PyValue d = PyValue::From(std::map<std::string, int>{{"a", 1}}).value();
  ASSERT_NE(d.Find(PyValue::Str("a")), nullptr);
  EXPECT_EQ(*d.Find(PyValue::Str("a")), PyValue::Int(1));
  EXPECT_EQ(d.Find(PyValue::Str("b")), nullptr);
}

TEST(CodecTest, HandlesTravelOnlyWithATable) {
  HandleTable inherited = HandleTable::Inherited({});
  // A Connection-shaped tuple claims index 0 of an empty table: refused.
  EXPECT_EQ(inherited.Claim(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  Encoder e(nullptr);
  EXPECT_EQ(e.AddHandle(3), -1);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (i % 2 == 0 && bytes.size() > 2) bytes[0] = '\x80', bytes[1] = '\x04';
    (void)Decode<PyValue>(bytes);
    (void)Decode<std::tuple<int, std::string, std::vector<int>>>(bytes);
  }
}

TEST(CodecTest, MutatedPicklesNeverCrash) {
  const std::string base = Pickle(std::make_tuple(
      std::map<std::string, std::vector<int>>{{"a", {1, 2}}, {"b", {}}},
      std::set<int>{1, 2}, 1.5, Bytes("xy"), std::optional<int>()));
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = base;
    for (int k = 0; k < 3; ++k) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    absl::StatusOr<PyValue> v = Decode<PyValue>(bytes);
    if (v.ok()) {
      EXPECT_EQ(Decode<PyValue>(Pickle(*v)).value(), *v);
    }
  }
}

}  // namespace
}  // namespace mp
