// Sizes and durations as operators write them in the config ("25MiB", "90s").
#include <array>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "policy_relay/config/loader.hpp"

namespace policy_relay::config {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

constexpr std::uint64_t kKi = 1024;
constexpr std::uint64_t kK = 1000;

// Binary (IEC) and decimal (SI) multiples; a bare number is bytes.
constexpr std::array<Unit, 10> kSizeUnits{{
    {"B", 1},
    {"KiB", kKi},
    {"MiB", kKi* kKi},
    {"GiB", kKi* kKi* kKi},
    {"TiB", kKi* kKi* kKi* kKi},
    {"kB", kK},
    {"KB", kK},
    {"MB", kK* kK},
    {"GB", kK* kK* kK},
    {"TB", kK* kK* kK* kK},
}};

constexpr std::array<Unit, 5> kDurationUnits{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {"d", 24 * 60 * 60 * 1000},
}};

struct NumberAndSuffix {
  std::uint64_t number;
  std::string_view suffix;
};

// Splits "25MiB" / "25 MiB" into 25 and "MiB". Only unsigned decimal integers: "1.5GiB" and
// "-1s" are errors, so nothing is silently rounded.
NumberAndSuffix split_number(std::string_view text, std::string_view what) {
  std::uint64_t number = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [rest, error] = std::from_chars(begin, end, number);
  if (rest == begin) {
    throw std::invalid_argument("'" + std::string(text) + "' is not a " + std::string(what) +
                                ": it must start with a whole number");
  }
  if (error == std::errc::result_out_of_range) {
    throw std::invalid_argument("'" + std::string(text) + "' is too large");
  }
  std::string_view suffix(rest, static_cast<std::size_t>(end - rest));
  if (!suffix.empty() && suffix.front() == ' ') {
    suffix.remove_prefix(1);
  }
  return {number, suffix};
}

std::uint64_t scale(std::string_view text, std::uint64_t number, std::uint64_t factor) {
  if (factor != 0 && number > std::numeric_limits<std::uint64_t>::max() / factor) {
    throw std::invalid_argument("'" + std::string(text) + "' is too large");
  }
  return number * factor;
}

}  // namespace

std::uint64_t parse_size(std::string_view text) {
  auto [number, suffix] = split_number(text, "size");
  if (suffix.empty()) {
    return number;
  }
  for (const Unit& unit : kSizeUnits) {
    if (suffix == unit.suffix) {
      return scale(text, number, unit.factor);
    }
  }
  throw std::invalid_argument("'" + std::string(text) +
                              "' has an unknown size unit (use B, KiB, MiB, GiB, TiB, KB, MB, "
                              "GB or TB, e.g. \"25MiB\")");
}

Duration parse_duration(std::string_view text) {
  auto [number, suffix] = split_number(text, "duration");
  if (suffix.empty()) {
    throw std::invalid_argument("'" + std::string(text) +
                                "' needs a unit (ms, s, m, h or d, e.g. \"90s\")");
  }
  for (const Unit& unit : kDurationUnits) {
    if (suffix == unit.suffix) {
      const std::uint64_t ms = scale(text, number, unit.factor);
      if (ms > static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max())) {
        throw std::invalid_argument("'" + std::string(text) + "' is too large");
      }
      return Duration(static_cast<Duration::rep>(ms));
    }
  }
  throw std::invalid_argument("'" + std::string(text) +
                              "' has an unknown duration unit (use ms, s, m, h or d)");
}

}  // namespace policy_relay::config
