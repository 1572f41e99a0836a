// summarize(): median, nearest-rank p99, max, mean, min on vectors whose
// answers are known by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "stats/ledger.h"
#include "stats/ledger_json.h"

namespace zc::stats {
namespace {

TEST(Summarize, EmptyIsAllZero) {
  const Summary s = summarize({});
  EXPECT_EQ(s.n, 0u);
  EXPECT_EQ(s.median, 0);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(s.max, 0);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.min, 0);
}

TEST(Summarize, SingleValue) {
  const Summary s = summarize({7.5});
  EXPECT_EQ(s.n, 1u);
  EXPECT_EQ(s.median, 7.5);
  EXPECT_EQ(s.p99, 7.5);
  EXPECT_EQ(s.min, 7.5);
  EXPECT_EQ(s.max, 7.5);
  EXPECT_EQ(s.mean, 7.5);
}

TEST(Summarize, OddCountMedianIsMiddleOfSorted) {
  const Summary s = summarize({9, 1, 5, 3, 7});  // unsorted on purpose
  EXPECT_EQ(s.n, 5u);
  EXPECT_EQ(s.median, 5);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 9);
  EXPECT_EQ(s.mean, 5);
  EXPECT_EQ(s.p99, 9);  // rank ceil(4.95) = 5
}

TEST(Summarize, EvenCountMedianIsMeanOfMiddleTwo) {
  const Summary s = summarize({4, 1, 3, 2});
  EXPECT_EQ(s.n, 4u);
  EXPECT_EQ(s.median, 2.5);
  EXPECT_EQ(s.mean, 2.5);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 4);
}

std::vector<double> shuffled_1_to(int n) {
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 1.0);
  std::shuffle(v.begin(), v.end(), std::mt19937(42));
  return v;
}

TEST(Summarize, P99NearestRankOf100) {
  // 1..100: rank ceil(0.99 * 100) = 99 -> value 99 (an interpolating p99
  // would give 99.01; nearest rank always returns a value that occurred).
  const Summary s = summarize(shuffled_1_to(100));
  EXPECT_EQ(s.n, 100u);
  EXPECT_EQ(s.p99, 99);
  EXPECT_EQ(s.median, 50.5);
  EXPECT_EQ(s.mean, 50.5);
  EXPECT_EQ(s.max, 100);
  EXPECT_EQ(s.min, 1);
}

TEST(Summarize, P99NearestRankOf1000) {
  const Summary s = summarize(shuffled_1_to(1000));  // rank 990
  EXPECT_EQ(s.p99, 990);
  EXPECT_EQ(s.median, 500.5);
  EXPECT_EQ(s.max, 1000);
}

TEST(Summarize, P99OfSmallSetIsTheMax) {
  // With fewer than 100 values, the 99th percentile by nearest rank is the
  // largest one: a run of 50 frames cannot hide its worst frame.
  std::vector<double> v(50, 1.0);
  v[17] = 30.0;
  EXPECT_EQ(summarize(v).p99, 30.0);
}

TEST(Summarize, NaNIsIgnored) {
  const Summary s = summarize({1, std::nan(""), 3});
  EXPECT_EQ(s.n, 2u);
  EXPECT_EQ(s.median, 2);
}

TEST(Summarize, ToJsonHasEveryField) {
  const nlohmann::json j = to_json(summarize({1, 2, 3}));
  EXPECT_EQ(j.at("median"), 2.0);
  EXPECT_EQ(j.at("p99"), 3.0);
  EXPECT_EQ(j.at("max"), 3.0);
  EXPECT_EQ(j.at("mean"), 2.0);
  EXPECT_EQ(j.at("min"), 1.0);
  EXPECT_EQ(j.at("n"), 3u);
}

}  // namespace
}  // namespace zc::stats
