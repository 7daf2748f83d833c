#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace policy_relay::util {

// std::hash of the characters, for maps keyed by std::string that are looked up with a
// std::string_view (C++20 heterogeneous lookup): no temporary string per lookup.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept {
    return std::hash<std::string_view>{}(key);
  }
};

// A map from std::string whose find() and contains() take a std::string_view.
template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

}  // namespace policy_relay::util
