#include "ipc/codec.h"

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
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ipc/testdata/codec_test.pb.h"

// Allocation tracking for the tests that check the decoder does not allocate
// in proportion to a lying count, and that the hot path does not allocate.
namespace {
std::atomic<bool> g_tracking{false};
std::atomic<std::size_t> g_alloc_count{0};
std::atomic<std::size_t> g_max_alloc{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    g_alloc_count.fetch_add(1, std::memory_order_relaxed);
    std::size_t max = g_max_alloc.load(std::memory_order_relaxed);
    while (n > max && !g_max_alloc.compare_exchange_weak(max, n)) {
    }
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

// A user type with its own Codec: a 3-tuple on the wire.
struct Point {
  int x = 0;
  int y = 0;
  std::string label;
  bool operator==(const Point& o) const {
    return x == o.x && y == o.y && label == o.label;
  }
  bool operator<(const Point& o) const {
    return std::tie(x, y, label) < std::tie(o.x, o.y, o.label);
  }
};

// A recursive user type: its nesting depth comes from the input.
struct Tree {
  std::vector<Tree> children;
};

namespace mp {
template <>
struct Codec<Point> {
  static void Encode(const Point& p, Encoder& e) {
    e.EncodeTuple(p.x, p.y, p.label);
  }
  static absl::Status Decode(Decoder& d, Point* p) {
    return d.DecodeTuple(&p->x, &p->y, &p->label);
  }
};
template <>
struct Codec<Tree> {
  static void Encode(const Tree& t, Encoder& e) { e.Encode(t.children); }
  static absl::Status Decode(Decoder& d, Tree* t) {
    return d.Decode(&t->children);
  }
};
}  // namespace mp

namespace mp {
namespace {

using ::mp::codec_test::Inner;
using ::mp::codec_test::OtherMessage;
using ::mp::codec_test::Sample;

template <typename T>
std::string Enc(const T& v) {
  std::string s;
  Encode(v, &s);
  return s;
}

template <typename T>
T RoundTrip(const T& v) {
  absl::StatusOr<T> r = Decode<T>(Enc(v));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : T{};
}

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

Sample MakeSample() {
  Sample m;
  m.set_name("sample");
  m.set_id(-42);
  m.add_values(1.5);
  m.add_values(-2.25);
  m.mutable_inner()->set_label("inner");
  m.set_blob(std::string("a\0b", 3));
  return m;
}

TEST(CodecTest, Bool) {
  EXPECT_EQ(RoundTrip(true), true);
  EXPECT_EQ(RoundTrip(false), false);
  EXPECT_EQ(Enc(true), Bytes({0x02, 0x01}));
  EXPECT_EQ(Enc(false), Bytes({0x02, 0x00}));
}

template <typename T>
void CheckIntegerLimits() {
  SCOPED_TRACE(typeid(T).name());
  EXPECT_EQ(RoundTrip(std::numeric_limits<T>::min()),
            std::numeric_limits<T>::min());
  EXPECT_EQ(RoundTrip(std::numeric_limits<T>::max()),
            std::numeric_limits<T>::max());
  EXPECT_EQ(RoundTrip(T{0}), T{0});
  EXPECT_EQ(RoundTrip(T{1}), T{1});
  EXPECT_EQ(RoundTrip(static_cast<T>(std::numeric_limits<T>::max() - 1)),
            static_cast<T>(std::numeric_limits<T>::max() - 1));
}

TEST(CodecTest, IntegerLimitsRoundTrip) {
  CheckIntegerLimits<int8_t>();
  CheckIntegerLimits<int16_t>();
  CheckIntegerLimits<int32_t>();
  CheckIntegerLimits<int64_t>();
  CheckIntegerLimits<uint8_t>();
  CheckIntegerLimits<uint16_t>();
  CheckIntegerLimits<uint32_t>();
  CheckIntegerLimits<uint64_t>();
  CheckIntegerLimits<char>();
  CheckIntegerLimits<signed char>();
  CheckIntegerLimits<unsigned char>();
  CheckIntegerLimits<wchar_t>();
  CheckIntegerLimits<char16_t>();
  CheckIntegerLimits<char32_t>();
  CheckIntegerLimits<long long>();           // NOLINT(runtime/int)
  CheckIntegerLimits<unsigned long long>();  // NOLINT(runtime/int)
  EXPECT_EQ(RoundTrip(int64_t{-1}), -1);
  EXPECT_EQ(RoundTrip(std::numeric_limits<int64_t>::min()),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(RoundTrip(std::numeric_limits<uint64_t>::max()),
            std::numeric_limits<uint64_t>::max());
}

TEST(CodecTest, IntegerWireFormat) {
  EXPECT_EQ(Enc(0), Bytes({0x03, 0x00}));
  EXPECT_EQ(Enc(-1), Bytes({0x03, 0x01}));
  EXPECT_EQ(Enc(1), Bytes({0x03, 0x02}));
  EXPECT_EQ(Enc(int64_t{-64}), Bytes({0x03, 0x7f}));
  EXPECT_EQ(Enc(int8_t{64}), Bytes({0x03, 0x80, 0x01}));
  EXPECT_EQ(Enc(300u), Bytes({0x04, 0xac, 0x02}));
  EXPECT_EQ(Enc(std::numeric_limits<uint64_t>::max()),
            Bytes({0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                   0x01}));
  // Same value, different width: same bytes.
  EXPECT_EQ(Enc(int8_t{-5}), Enc(int64_t{-5}));
  EXPECT_EQ(Enc(uint8_t{200}), Enc(uint64_t{200}));
}

TEST(CodecTest, IntegersWidenAndNarrowWithinRange) {
  EXPECT_EQ(*Decode<int64_t>(Enc(int32_t{-7})), -7);
  EXPECT_EQ(*Decode<int32_t>(Enc(int64_t{123456})), 123456);
  EXPECT_EQ(*Decode<uint8_t>(Enc(255)), 255);
  EXPECT_EQ(*Decode<int8_t>(Enc(-128)), -128);
  EXPECT_EQ(*Decode<int64_t>(Enc(uint64_t{1} << 62)), int64_t{1} << 62);
  EXPECT_EQ(*Decode<uint16_t>(Enc(int64_t{65535})), 65535);
  EXPECT_EQ(*Decode<char>(Enc(65)), 'A');
  EXPECT_EQ(*Decode<int>(Enc('A')), 65);
}

TEST(CodecTest, NarrowingOutOfRangeFails) {
  auto expect_out_of_range = [](const absl::Status& s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("out of range"), absl::string_view::npos) << s;
  };
  expect_out_of_range(Decode<uint8_t>(Enc(300)).status());
  expect_out_of_range(Decode<uint32_t>(Enc(-1)).status());
  expect_out_of_range(Decode<uint64_t>(Enc(int64_t{-1})).status());
  expect_out_of_range(Decode<int8_t>(Enc(128)).status());
  expect_out_of_range(Decode<int8_t>(Enc(-129)).status());
  expect_out_of_range(
      Decode<int32_t>(Enc(std::numeric_limits<int64_t>::min())).status());
  expect_out_of_range(
      Decode<int64_t>(Enc(std::numeric_limits<uint64_t>::max())).status());
  expect_out_of_range(Decode<int8_t>(Enc(uint8_t{200})).status());
  expect_out_of_range(Decode<char16_t>(Enc(70000)).status());
}

TEST(CodecTest, Floats) {
  EXPECT_EQ(RoundTrip(1.5), 1.5);
  EXPECT_EQ(RoundTrip(0.1), 0.1);
  EXPECT_EQ(RoundTrip(std::numeric_limits<double>::max()),
            std::numeric_limits<double>::max());
  EXPECT_EQ(RoundTrip(std::numeric_limits<double>::denorm_min()),
            std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(RoundTrip(std::numeric_limits<double>::infinity()),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(RoundTrip(-std::numeric_limits<double>::infinity()),
            -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(RoundTrip(std::numeric_limits<double>::quiet_NaN())));
  const double negative_zero = RoundTrip(-0.0);
  EXPECT_EQ(negative_zero, 0.0);
  EXPECT_TRUE(std::signbit(negative_zero));
  EXPECT_FALSE(std::signbit(RoundTrip(0.0)));
  EXPECT_EQ(RoundTrip(0.1f), 0.1f);
  EXPECT_TRUE(std::signbit(RoundTrip(-0.0f)));
  EXPECT_TRUE(std::isnan(RoundTrip(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(RoundTrip(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
}

TEST(CodecTest, FloatWireFormatIsLittleEndianDouble) {
  EXPECT_EQ(Enc(1.0), Bytes({0x05, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}));
  EXPECT_EQ(Enc(1.0f), Enc(1.0));
  EXPECT_EQ(Enc(-2.0), Bytes({0x05, 0, 0, 0, 0, 0, 0, 0x00, 0xc0}));
}

TEST(CodecTest, DoubleIntoFloat) {
  EXPECT_EQ(*Decode<float>(Enc(0.1)), 0.1f);
  EXPECT_EQ(*Decode<float>(Enc(-3.5)), -3.5f);
  EXPECT_TRUE(std::isinf(*Decode<float>(Enc(HUGE_VAL))));
  EXPECT_EQ(Decode<float>(Enc(1e300)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode<float>(Enc(-1e300)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, Strings) {
  EXPECT_EQ(RoundTrip(std::string()), "");
  const std::string with_nuls("a\0b\0\0c", 6);
  EXPECT_EQ(RoundTrip(with_nuls), with_nuls);
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 7 + (i >> 9));
  }
  EXPECT_EQ(RoundTrip(big), big);
  EXPECT_EQ(Enc(std::string("x")), Bytes({0x06, 0x01, 'x'}));
}

TEST(CodecTest, EncodeOnlyStringForms) {
  const std::string expected = Enc(std::string("hello"));
  EXPECT_EQ(Enc(absl::string_view("hello")), expected);
  EXPECT_EQ(Enc(std::string_view("hello")), expected);
  const char* c_string = "hello";
  EXPECT_EQ(Enc(c_string), expected);
  EXPECT_EQ(Enc("hello"), expected);
  char buffer[8] = {'h', 'e', 'l', 'l', 'o', '\0', 'z', 'z'};
  EXPECT_EQ(Enc(buffer), expected);
  char unterminated[3] = {'a', 'b', 'c'};
  EXPECT_EQ(Enc(unterminated), Enc(std::string("abc")));
  const char* null_string = nullptr;
  EXPECT_EQ(*Decode<std::optional<std::string>>(Enc(null_string)),
            std::nullopt);
}

TEST(CodecTest, Bytes) {
  const std::vector<uint8_t> bytes = {0, 1, 2, 255, 128};
  EXPECT_EQ(RoundTrip(bytes), bytes);
  EXPECT_EQ(Enc(bytes), Bytes({0x07, 0x05, 0, 1, 2, 255, 128}));
  const std::vector<char> chars = {'a', '\0', 'b'};
  EXPECT_EQ(RoundTrip(chars), chars);
  EXPECT_EQ(RoundTrip(std::vector<uint8_t>()), std::vector<uint8_t>());
  // string and bytes are interchangeable byte sequences.
  EXPECT_EQ(*Decode<std::string>(Enc(chars)), std::string("a\0b", 3));
  EXPECT_EQ(*Decode<std::vector<uint8_t>>(Enc(std::string("ab"))),
            (std::vector<uint8_t>{'a', 'b'}));
  // Other element types are lists.
  EXPECT_EQ(Decode<std::vector<int>>(Enc(bytes)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, Containers) {
  EXPECT_EQ(RoundTrip(std::vector<int>{1, -2, 3}),
            (std::vector<int>{1, -2, 3}));
  EXPECT_EQ(RoundTrip(std::vector<int>{}), std::vector<int>{});
  EXPECT_EQ(RoundTrip(std::vector<bool>{true, false, true}),
            (std::vector<bool>{true, false, true}));
  EXPECT_EQ(RoundTrip(std::vector<std::string>{"a", "", "ccc"}),
            (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(RoundTrip(std::array<int16_t, 3>{1, -1, 300}),
            (std::array<int16_t, 3>{1, -1, 300}));
  EXPECT_EQ(RoundTrip(std::set<std::string>{"b", "a"}),
            (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(RoundTrip(std::unordered_set<int>{5, 6, 7}),
            (std::unordered_set<int>{5, 6, 7}));
  EXPECT_EQ(RoundTrip(std::map<int, std::string>{{1, "one"}, {2, "two"}}),
            (std::map<int, std::string>{{1, "one"}, {2, "two"}}));
  EXPECT_EQ(RoundTrip(std::map<std::string, int>{}),
            (std::map<std::string, int>{}));
  EXPECT_EQ(
      RoundTrip(std::unordered_map<std::string, double>{{"a", 1}, {"b", 2}}),
      (std::unordered_map<std::string, double>{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(RoundTrip(std::make_pair(7, std::string("x"))),
            std::make_pair(7, std::string("x")));
  EXPECT_EQ(RoundTrip(std::tuple<>()), std::tuple<>());
  EXPECT_EQ(RoundTrip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(RoundTrip(std::optional<int>(0)), std::optional<int>(0));
  EXPECT_EQ(RoundTrip(std::monostate()), std::monostate());
}

TEST(CodecTest, UnorderedAndOrderedMapsShareTheWireShape) {
  const std::map<std::string, int> ordered = {{"a", 1}, {"b", 2}};
  auto unordered =
      Decode<std::unordered_map<std::string, int64_t>>(Enc(ordered));
  ASSERT_TRUE(unordered.ok()) << unordered.status();
  EXPECT_EQ(unordered->size(), 2u);
  EXPECT_EQ(unordered->at("b"), 2);
}

TEST(CodecTest, OptionalIsNoneOrTheValue) {
  EXPECT_EQ(Enc(std::optional<int>(5)), Enc(5));
  EXPECT_EQ(Enc(std::optional<int>()), Bytes({0x01}));
  EXPECT_EQ(*Decode<std::optional<int64_t>>(Enc(5)), 5);
  // Decoding into an engaged optional overwrites it.
  EXPECT_EQ(Decode<int>(Enc(std::optional<int>())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, PairWireFormat) {
  EXPECT_EQ(Enc(std::make_pair(1, std::string("x"))),
            Bytes({0x09, 0x02, 0x03, 0x02, 0x06, 0x01, 'x'}));
  // A pair is a 2-tuple.
  auto t = Decode<std::tuple<int64_t, std::string>>(
      Enc(std::make_pair(1, std::string("x"))));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, std::make_tuple(int64_t{1}, std::string("x")));
}

using Nested = std::vector<
    std::map<std::string, std::pair<int64_t, std::optional<double>>>>;

Nested MakeNested() {
  return {
      {{"a", {std::numeric_limits<int64_t>::min(), 1.25}},
       {"", {0, std::nullopt}}},
      {},
      {{std::string("\0z", 2), {std::numeric_limits<int64_t>::max(), -0.0}}},
  };
}

TEST(CodecTest, NestedRoundTrip) {
  const Nested nested = MakeNested();
  EXPECT_EQ(RoundTrip(nested), nested);

  using V = std::variant<int, std::string, std::vector<int>>;
  EXPECT_EQ(RoundTrip(V(-3)), V(-3));
  EXPECT_EQ(RoundTrip(V(std::string("s"))), V(std::string("s")));
  EXPECT_EQ(RoundTrip(V(std::vector<int>{1, 2})), V(std::vector<int>{1, 2}));
  EXPECT_EQ(RoundTrip(V(std::vector<int>{1, 2})).index(), 2u);
  // Same alternative type twice: the index is kept.
  using Twice = std::variant<int, int>;
  EXPECT_EQ(RoundTrip(Twice(std::in_place_index<1>, 4)).index(), 1u);

  using Mixed = std::tuple<int, std::string, double, bool, std::vector<uint8_t>,
                           std::optional<int>, uint64_t>;
  const Mixed mixed(-1, "two", 3.0, true, {4}, std::nullopt,
                    std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(RoundTrip(mixed), mixed);
}

TEST(CodecTest, VariantIndexOutOfRangeFails) {
  using Wide = std::variant<int, std::string, double>;
  using Narrow = std::variant<int, std::string>;
  EXPECT_EQ(Decode<Narrow>(Enc(Wide(1.0))).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*Decode<Wide>(Enc(Narrow(std::string("q")))),
            Wide(std::string("q")));
  // Hand-made: index 2^40.
  EXPECT_EQ(Decode<Narrow>(
                Bytes({0x0c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x03, 0x00}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Right index, wrong value type.
  EXPECT_EQ(Decode<Narrow>(Bytes({0x0c, 0x00, 0x06, 0x00})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, Protobuf) {
  const Sample m = MakeSample();
  absl::StatusOr<Sample> back = Decode<Sample>(Enc(m));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), m.SerializeAsString());
  EXPECT_EQ(back->name(), "sample");
  EXPECT_EQ(back->inner().label(), "inner");
  EXPECT_EQ(back->blob(), std::string("a\0b", 3));

  EXPECT_EQ(RoundTrip(Sample()).SerializeAsString(), "");

  const std::string enc = Enc(m);
  ASSERT_GE(enc.size(), 2u);
  EXPECT_EQ(enc[0], '\x0d');
  EXPECT_EQ(enc.substr(2, Sample().GetTypeName().size()),
            "mp.codec_test.Sample");

  // Messages inside containers.
  std::map<std::string, Sample> by_name = {{"m", m}, {"empty", Sample()}};
  auto map_back = Decode<std::map<std::string, Sample>>(Enc(by_name));
  ASSERT_TRUE(map_back.ok()) << map_back.status();
  EXPECT_EQ(map_back->at("m").id(), -42);
  EXPECT_EQ(map_back->at("empty").id(), 0);
}

TEST(CodecTest, ProtobufWrongMessageTypeFails) {
  Inner inner;
  inner.set_label("same layout");
  absl::Status s = Decode<OtherMessage>(Enc(inner)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("mp.codec_test.Inner"), absl::string_view::npos)
      << s;
  EXPECT_EQ(Decode<Sample>(Enc(inner)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode<Inner>(Enc(std::string("x"))).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode<std::string>(Enc(inner)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodecTest, ProtobufMalformedPayloadFails) {
  std::string enc;
  Encoder e(&enc);
  e.WriteTypedBytes(WireType::kProtobuf, Inner().GetTypeName());
  e.WriteLengthPrefixed(Bytes({0x0a, 0x05, 'a'}));  // field 1 claims 5 bytes
  absl::Status s = Decode<Inner>(enc).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST(CodecTest, WrongTypeFails) {
  absl::Status s = Decode<int>(Enc(std::string("x"))).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "codec: expected integer, got string");

  s = Decode<std::string>(Enc(5)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "codec: expected string, got integer");

  s = Decode<bool>(Enc(1)).status();
  EXPECT_EQ(s.message(), "codec: expected bool, got integer");
  s = Decode<int>(Enc(true)).status();
  EXPECT_EQ(s.message(), "codec: expected integer, got bool");
  s = Decode<double>(Enc(1)).status();
  EXPECT_EQ(s.message(), "codec: expected float, got integer");
  s = Decode<int>(Enc(1.0)).status();
  EXPECT_EQ(s.message(), "codec: expected integer, got float");
  s = Decode<std::vector<int>>(Enc(std::set<int>{1})).status();
  EXPECT_EQ(s.message(), "codec: expected list, got set");
  s = Decode<std::map<int, int>>(Enc(std::vector<int>{1})).status();
  EXPECT_EQ(s.message(), "codec: expected dict, got list");
  s = Decode<std::pair<int, int>>(Enc(std::vector<int>{1, 2})).status();
  EXPECT_EQ(s.message(), "codec: expected tuple, got list");
  s = Decode<std::variant<int>>(Enc(1)).status();
  EXPECT_EQ(s.message(), "codec: expected variant, got integer");
  s = Decode<std::monostate>(Enc(1)).status();
  EXPECT_EQ(s.message(), "codec: expected none, got integer");

  // Shape mismatches inside the right type.
  s = Decode<std::tuple<int, int>>(Enc(std::make_tuple(1, 2, 3))).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = Decode<std::array<int, 3>>(Enc(std::vector<int>{1, 2})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = Decode<std::vector<std::string>>(Enc(std::vector<int>{1})).status();
  EXPECT_EQ(s.message(), "codec: expected string, got integer");
  s = Decode<std::pair<int, std::string>>(Enc(std::make_pair(1, 2))).status();
  EXPECT_EQ(s.message(), "codec: expected string, got integer");
}

// A complex value used by the prefix and mutation tests.
using Complex =
    std::tuple<Nested, std::variant<int, std::string, std::vector<int>>, Sample,
               Point, std::set<int>, std::vector<uint8_t>, bool,
               std::array<int16_t, 2>, std::optional<std::string>, float>;

Complex MakeComplex() {
  return Complex(MakeNested(), std::vector<int>{7, -8, 9}, MakeSample(),
                 Point{3, -4, "p"}, {1, 100, 10000}, {0, 255}, true, {-1, 1},
                 std::string("opt"), 2.5f);
}

TEST(CodecTest, ComplexRoundTrip) {
  const Complex c = MakeComplex();
  absl::StatusOr<Complex> back = Decode<Complex>(Enc(c));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(std::get<0>(*back), std::get<0>(c));
  EXPECT_EQ(std::get<1>(*back), std::get<1>(c));
  EXPECT_EQ(std::get<2>(*back).SerializeAsString(),
            std::get<2>(c).SerializeAsString());
  EXPECT_EQ(std::get<3>(*back), std::get<3>(c));
  EXPECT_EQ(std::get<4>(*back), std::get<4>(c));
  EXPECT_EQ(std::get<5>(*back), std::get<5>(c));
  EXPECT_EQ(std::get<6>(*back), std::get<6>(c));
  EXPECT_EQ(std::get<7>(*back), std::get<7>(c));
  EXPECT_EQ(std::get<8>(*back), std::get<8>(c));
  EXPECT_EQ(std::get<9>(*back), std::get<9>(c));
}

TEST(CodecTest, EveryStrictPrefixFails) {
  const std::string enc = Enc(MakeComplex());
  ASSERT_GT(enc.size(), 100u);
  ASSERT_TRUE(Decode<Complex>(enc).ok());
  for (std::size_t n = 0; n < enc.size(); ++n) {
    absl::Status s = Decode<Complex>(absl::string_view(enc.data(), n)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "prefix " << n << s;
  }
}

TEST(CodecTest, TrailingBytesFail) {
  std::string enc = Enc(std::make_pair(1, std::string("x")));
  enc.push_back('\0');
  absl::Status s = Decode<std::pair<int, std::string>>(enc).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "codec: 1 trailing bytes after the value");

  std::string two = Enc(1) + Enc(2);
  EXPECT_EQ(Decode<int>(two).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decode<int>("").status().code(), absl::StatusCode::kDataLoss);
}

TEST(CodecTest, LyingCountFailsFastWithoutAllocating) {
  // 2^60 as a varint.
  const std::string huge =
      Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10});
  const std::string tail = Bytes({0x03, 0x02, 0x03});
  struct Case {
    const char* name;
    std::string data;
    absl::Status (*decode)(absl::string_view);
  };
  const Case cases[] = {
      {"list", Bytes({0x08}) + huge + tail,
       [](absl::string_view d) {
         return Decode<std::vector<int64_t>>(d).status();
       }},
      {"list of strings", Bytes({0x08}) + huge + tail,
       [](absl::string_view d) {
         return Decode<std::vector<std::string>>(d).status();
       }},
      {"dict", Bytes({0x0a}) + huge + tail,
       [](absl::string_view d) {
         return Decode<std::unordered_map<int, int>>(d).status();
       }},
      {"set", Bytes({0x0b}) + huge + tail,
       [](absl::string_view d) {
         return Decode<std::unordered_set<int>>(d).status();
       }},
      {"string", Bytes({0x06}) + huge + tail,
       [](absl::string_view d) { return Decode<std::string>(d).status(); }},
      {"bytes", Bytes({0x07}) + huge + tail,
       [](absl::string_view d) {
         return Decode<std::vector<uint8_t>>(d).status();
       }},
      {"tuple", Bytes({0x09}) + huge + tail,
       [](absl::string_view d) {
         return Decode<std::pair<int, int>>(d).status();
       }},
      {"protobuf", Bytes({0x0d}) + huge + tail,
       [](absl::string_view d) { return Decode<Sample>(d).status(); }},
      // A count that fits the input but not its elements: 3 elements
      // claimed, but the third is missing.
      {"short list", Bytes({0x08, 0x03, 0x03, 0x02, 0x03}),
       [](absl::string_view d) {
         return Decode<std::vector<int>>(d).status();
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::Time start = absl::Now();
    g_max_alloc = 0;
    g_tracking = true;
    absl::Status s = c.decode(c.data);
    g_tracking = false;
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
    EXPECT_TRUE(s.code() == absl::StatusCode::kDataLoss ||
                s.code() == absl::StatusCode::kInvalidArgument)
        << s;
    // Error messages allocate a little; nothing proportional to 2^60.
    EXPECT_LT(g_max_alloc.load(), 1024u);
  }
}

TEST(CodecTest, LargeElementsDoNotAmplifyACount) {
  // 4000 elements of 8000 bytes claimed; the input holds 4000 bytes.
  std::string data = Bytes({0x08, 0xa0, 0x1f});
  data.append(4000, '\x01');
  g_max_alloc = 0;
  g_tracking = true;
  absl::Status s =
      Decode<std::vector<std::array<int64_t, 1000>>>(data).status();
  g_tracking = false;
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_LT(g_max_alloc.load(), std::size_t{64} << 10);
}

TEST(CodecTest, HotPathDoesNotAllocate) {
  const std::pair<int, std::string> value(1, "x");
  std::string buf;
  buf.reserve(64);
  g_alloc_count = 0;
  g_tracking = true;
  Encode(value, &buf);
  absl::StatusOr<std::pair<int, std::string>> back =
      Decode<std::pair<int, std::string>>(buf);
  g_tracking = false;
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, value);
  EXPECT_EQ(g_alloc_count.load(), 0u);
}

TEST(CodecTest, BadVarintsFail) {
  // 11 bytes.
  EXPECT_EQ(Decode<uint64_t>(Bytes({0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0x01}))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  // 10 bytes overflowing 64 bits.
  EXPECT_EQ(Decode<uint64_t>(Bytes({0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0x02}))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  // Non-canonical (redundant zero group).
  EXPECT_EQ(Decode<int>(Bytes({0x03, 0x82, 0x00})).status().code(),
            absl::StatusCode::kDataLoss);
  // Truncated.
  EXPECT_EQ(Decode<int>(Bytes({0x03, 0x82})).status().code(),
            absl::StatusCode::kDataLoss);
  // Over-long length of a string.
  EXPECT_EQ(Decode<std::string>(Bytes({0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff}))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(CodecTest, CorruptValuesFail) {
  EXPECT_EQ(Decode<int>(Bytes({0x00, 0x00})).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decode<int>(Bytes({0x0e, 0x00})).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decode<int>(Bytes({0xff})).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decode<bool>(Bytes({0x02, 0x02})).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decode<double>(Bytes({0x05, 0, 0, 0})).status().code(),
            absl::StatusCode::kDataLoss);
  // Duplicate key / element.
  absl::Status s =
      Decode<std::map<int, int>>(
          Bytes({0x0a, 0x02, 0x03, 0x02, 0x03, 0x04, 0x03, 0x02, 0x03, 0x06}))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  s = Decode<std::set<int>>(Bytes({0x0b, 0x02, 0x03, 0x02, 0x03, 0x02}))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  s = Decode<std::unordered_map<int, int>>(
          Bytes({0x0a, 0x02, 0x03, 0x02, 0x03, 0x04, 0x03, 0x02, 0x03, 0x06}))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

TEST(CodecTest, EncodingIsDeterministic) {
  std::map<std::string, int> a;
  a["z"] = 1;
  a["a"] = 2;
  std::map<std::string, int> b;
  b["a"] = 2;
  b["z"] = 1;
  EXPECT_EQ(Enc(a), Enc(b));
  EXPECT_EQ(Enc(MakeNested()), Enc(MakeNested()));
  // Appends rather than overwrites.
  std::string out = "prefix";
  Encode(1, &out);
  EXPECT_EQ(out, "prefix" + Enc(1));
}

TEST(CodecTest, UserTypeThroughCodecSpecialisation) {
  const Point p{1, -2, "origin"};
  EXPECT_EQ(RoundTrip(p), p);
  // It is a 3-tuple on the wire.
  auto as_tuple = Decode<std::tuple<int64_t, int64_t, std::string>>(Enc(p));
  ASSERT_TRUE(as_tuple.ok()) << as_tuple.status();
  EXPECT_EQ(*as_tuple, std::make_tuple(int64_t{1}, int64_t{-2}, "origin"));
  EXPECT_EQ(Decode<Point>(Enc(std::make_pair(1, 2))).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Inside containers.
  const std::map<Point, std::vector<Point>> m = {{p, {p, Point{}}}};
  EXPECT_EQ(RoundTrip(m), m);
  const std::optional<Point> op = p;
  EXPECT_EQ(RoundTrip(op), op);
}

TEST(CodecTest, RecursiveUserTypeDepthIsBounded) {
  Tree shallow;
  shallow.children.resize(2);
  shallow.children[0].children.resize(1);
  absl::StatusOr<Tree> back = Decode<Tree>(Enc(shallow));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->children.size(), 2u);
  EXPECT_EQ(back->children[0].children.size(), 1u);

  // 100000 nested one-element lists: must not overflow the stack.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += Bytes({0x08, 0x01});
  deep += Bytes({0x08, 0x00});
  absl::Status s = Decode<Tree>(deep).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
}

// Decodes `data` as several types; each must succeed or fail with one of the
// two codec error codes.
void DecodeAsManyTypes(absl::string_view data) {
  auto check = [&](const absl::Status& s) {
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kDataLoss ||
                s.code() == absl::StatusCode::kInvalidArgument)
        << s;
  };
  check(Decode<int>(data).status());
  check(Decode<uint64_t>(data).status());
  check(Decode<double>(data).status());
  check(Decode<float>(data).status());
  check(Decode<bool>(data).status());
  check(Decode<std::string>(data).status());
  check(Decode<std::vector<uint8_t>>(data).status());
  check(Decode<std::vector<int>>(data).status());
  check(Decode<std::vector<bool>>(data).status());
  check(Decode<std::map<std::string, std::vector<int>>>(data).status());
  check(Decode<std::unordered_map<int, std::string>>(data).status());
  check(Decode<std::set<int64_t>>(data).status());
  check(
      Decode<std::variant<int, std::string, std::vector<int>>>(data).status());
  check(Decode<std::optional<std::pair<int, std::string>>>(data).status());
  check(Decode<std::array<int8_t, 2>>(data).status());
  check(Decode<Nested>(data).status());
  check(Decode<Sample>(data).status());
  check(Decode<Point>(data).status());
  check(Decode<Tree>(data).status());
  check(Decode<Complex>(data).status());
}

TEST(CodecTest, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    const std::size_t len = rng() % 48;
    std::string data(len, '\0');
    for (char& c : data) {
      // Mostly small bytes, so valid tags and short counts are common.
      c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : rng() % 16);
    }
    DecodeAsManyTypes(data);
  }
}

TEST(CodecTest, MutatedEncodingsNeverCrash) {
  std::mt19937 rng(777);
  const std::string valid = Enc(MakeComplex());
  for (int i = 0; i < 2000; ++i) {
    std::string data = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      data[rng() % data.size()] = static_cast<char>(rng() % 256);
    }
    if (rng() % 3 == 0) data.resize(rng() % data.size());
    DecodeAsManyTypes(data);
  }
}

}  // namespace
}  // namespace mp
