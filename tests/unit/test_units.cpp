#include <doctest/doctest.h>

#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "policy_relay/config/loader.hpp"

using policy_relay::config::Duration;
using policy_relay::config::parse_duration;
using policy_relay::config::parse_size;
using namespace std::chrono_literals;

TEST_CASE("sizes are read with binary and decimal units, a bare number being bytes") {
  struct Case {
    std::string_view text;
    std::uint64_t bytes;
  };
  constexpr std::uint64_t KiB = 1024;
  const Case cases[] = {
      {"0", 0},
      {"1024", 1024},
      {"1B", 1},
      {"512KiB", 512 * KiB},
      {"25MiB", 25 * KiB * KiB},
      {"25 MiB", 25 * KiB * KiB},
      {"1GiB", KiB * KiB * KiB},
      {"2TiB", 2 * KiB * KiB * KiB * KiB},
      {"1kB", 1000},
      {"1KB", 1000},
      {"1MB", 1000 * 1000},
      {"3GB", 3ull * 1000 * 1000 * 1000},
      {"1TB", 1000ull * 1000 * 1000 * 1000},
      {"18446744073709551615", 18446744073709551615ull},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(parse_size(c.text) == c.bytes);
  }
}

TEST_CASE("sizes that are not whole numbers with a known unit are refused") {
  const std::string_view cases[] = {
      "",
      "MiB",
      "1.5GiB",
      "-1",
      "+1",
      "25mib",
      "25 MiB ",
      " 25MiB",
      "25  MiB",
      "1XB",
      "1 K",
      "0x10",
      "25MiB25",
      "18446744073709551616",
      "17179869184GiB",
  };
  for (std::string_view text : cases) {
    CAPTURE(text);
    CHECK_THROWS_AS(parse_size(text), std::invalid_argument);
  }
}

TEST_CASE("durations are read in milliseconds, seconds, minutes, hours and days") {
  struct Case {
    std::string_view text;
    Duration value;
  };
  const Case cases[] = {
      {"250ms", 250ms}, {"0s", 0ms},  {"90s", 90s}, {"5m", 5min},
      {"24h", 24h},     {"5d", 120h}, {"1 h", 1h},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(parse_duration(c.text) == c.value);
  }
}

TEST_CASE("durations without a unit or with an unknown one are refused") {
  const std::string_view cases[] = {
      "",   "90",    "s",    "5 days", "1.5h", "-5s",
      "5M", "5mins", "5min", "1w",     "5s ",  "99999999999999999d",
  };
  for (std::string_view text : cases) {
    CAPTURE(text);
    CHECK_THROWS_AS(parse_duration(text), std::invalid_argument);
  }
}

TEST_CASE("a duration error says what a valid duration looks like") {
  try {
    parse_duration("90");
    FAIL("expected an error");
  } catch (const std::invalid_argument& error) {
    CHECK(std::string_view(error.what()) == "'90' needs a unit (ms, s, m, h or d, e.g. \"90s\")");
  }
}
