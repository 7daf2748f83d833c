// Typed, validated reads of TOML nodes; every error names file, line, column and key.
#include "reader.hpp"

#include <limits>
#include <stdexcept>

#include "policy_relay/version.hpp"

namespace policy_relay::config::detail {
namespace {

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

}  // namespace

std::string Reader::locate(toml::source_position where, std::string_view what) const {
  if (!where) {
    where = {1, 1};
  }
  std::string text = source_name_;
  text += ':';
  text += std::to_string(where.line);
  text += ':';
  text += std::to_string(where.column);
  text += ": ";
  text += what;
  return text;
}

void Reader::fail_at(toml::source_position where, std::string_view key,
                     std::string_view what) const {
  std::string text = "key '";
  text += key;
  text += "': ";
  text += what;
  throw ConfigError(locate(where, text));
}

void Reader::fail(const toml::node& node, std::string_view key, std::string_view what) const {
  fail_at(node.source().begin, key, what);
}

void Reader::reserved(const toml::node& node, std::string_view key) const {
  fail(node, key,
       "not supported by this version of policy-relay (" + std::string(version()) +
           "): remove it; it would not be enforced");
}

void Reader::unknown(const toml::node& node, std::string_view key) const {
  fail(node, key, "unknown key");
}

void Reader::note(const toml::node& node, std::string_view key) {
  positions_.insert_or_assign(std::string(key), node.source().begin);
}

toml::source_position Reader::position_of(std::string_view key,
                                          std::initializer_list<std::string_view> fallbacks) const {
  if (auto found = positions_.find(key); found != positions_.end()) {
    return found->second;
  }
  for (std::string_view fallback : fallbacks) {
    if (auto found = positions_.find(fallback); found != positions_.end()) {
      return found->second;
    }
  }
  return {1, 1};
}

const toml::table& Reader::table(const toml::node& node, std::string_view key) {
  note(node, key);
  const toml::table* value = node.as_table();
  if (value == nullptr) {
    fail(node, key, "expected a table, found " + std::string(type_name(node)));
  }
  return *value;
}

const toml::array& Reader::array(const toml::node& node, std::string_view key) {
  note(node, key);
  const toml::array* value = node.as_array();
  if (value == nullptr) {
    fail(node, key, "expected an array, found " + std::string(type_name(node)));
  }
  return *value;
}

std::string Reader::string(const toml::node& node, std::string_view key) {
  note(node, key);
  const auto* value = node.as_string();
  if (value == nullptr) {
    fail(node, key, "expected a string, found " + std::string(type_name(node)));
  }
  return value->get();
}

std::string Reader::non_empty_string(const toml::node& node, std::string_view key) {
  std::string value = string(node, key);
  if (value.empty()) {
    fail(node, key, "must not be empty");
  }
  return value;
}

bool Reader::boolean(const toml::node& node, std::string_view key) {
  note(node, key);
  const auto* value = node.as_boolean();
  if (value == nullptr) {
    fail(node, key, "expected true or false, found " + std::string(type_name(node)));
  }
  return value->get();
}

std::uint64_t Reader::size(const toml::node& node, std::string_view key, bool allow_zero) {
  note(node, key);
  std::uint64_t bytes = 0;
  if (const auto* integer = node.as_integer()) {
    if (integer->get() < 0) {
      fail(node, key, "a size cannot be negative");
    }
    bytes = static_cast<std::uint64_t>(integer->get());
  } else if (const auto* text = node.as_string()) {
    try {
      bytes = parse_size(text->get());
    } catch (const std::invalid_argument& error) {
      fail(node, key, error.what());
    }
  } else {
    fail(node, key, "expected a size such as \"25MiB\", found " + std::string(type_name(node)));
  }
  if (bytes == 0 && !allow_zero) {
    fail(node, key, "must be greater than zero");
  }
  return bytes;
}

Duration Reader::positive_duration(const toml::node& node, std::string_view key) {
  note(node, key);
  const auto* text = node.as_string();
  if (text == nullptr) {
    fail(node, key,
         "expected a duration such as \"90s\" or \"5m\", found " + std::string(type_name(node)));
  }
  Duration value{};
  try {
    value = parse_duration(text->get());
  } catch (const std::invalid_argument& error) {
    fail(node, key, error.what());
  }
  if (value <= Duration::zero()) {
    fail(node, key, "must be greater than zero");
  }
  return value;
}

std::uint32_t Reader::count(const toml::node& node, std::string_view key, std::uint32_t max,
                            bool allow_zero) {
  note(node, key);
  const auto* integer = node.as_integer();
  if (integer == nullptr) {
    fail(node, key, "expected an integer, found " + std::string(type_name(node)));
  }
  const std::int64_t lowest = allow_zero ? 0 : 1;
  if (integer->get() < lowest || integer->get() > static_cast<std::int64_t>(max)) {
    fail(node, key,
         std::to_string(integer->get()) + " is out of range (" + std::to_string(lowest) + ".." +
             std::to_string(max) + ")");
  }
  return static_cast<std::uint32_t>(integer->get());
}

std::uint16_t Reader::port(const toml::node& node, std::string_view key) {
  return static_cast<std::uint16_t>(count(node, key, 65535));
}

std::size_t Reader::choice(const toml::node& node, std::string_view key,
                           std::initializer_list<std::string_view> choices) {
  const std::string value = string(node, key);
  std::size_t index = 0;
  std::string expected;
  for (std::string_view candidate : choices) {
    if (value == candidate) {
      return index;
    }
    expected += index == 0 ? "" : (index + 1 == choices.size() ? " or " : ", ");
    expected += '"';
    expected += candidate;
    expected += '"';
    ++index;
  }
  fail(node, key, "'" + value + "' is not one of " + expected);
}

std::string Reader::host_name(const toml::node& node, std::string_view key) {
  std::string value = non_empty_string(node, key);
  if (value.size() > 253) {
    fail(node, key, "a host name has at most 253 characters");
  }
  std::size_t label_length = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    const char c = i < value.size() ? value[i] : '.';
    if (c == '.') {
      if (label_length == 0 || label_length > 63 || value[i - 1] == '-' ||
          value[i - label_length] == '-') {
        fail(node, key, "'" + value + "' is not a valid host name");
      }
      label_length = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-') {
      ++label_length;
    } else {
      fail(node, key, "'" + value + "' is not a valid host name (letters, digits, '-' and '.')");
    }
  }
  return value;
}

std::vector<ListenAddress> Reader::listen_addresses(const toml::node& node, std::string_view key) {
  std::vector<ListenAddress> addresses;
  for (const toml::node& element : array(node, key)) {
    const auto* text = element.as_string();
    if (text == nullptr) {
      fail(element, key,
           "expected strings such as \"127.0.0.1:2525\", found " + std::string(type_name(element)));
    }
    ListenAddress address{};
    if (std::string error = parse_listen_address(text->get(), address); !error.empty()) {
      fail(element, key, error);
    }
    addresses.push_back(std::move(address));
  }
  return addresses;
}

std::vector<std::string> Reader::networks(const toml::node& node, std::string_view key) {
  std::vector<std::string> networks;
  for (const toml::node& element : array(node, key)) {
    const auto* text = element.as_string();
    if (text == nullptr) {
      fail(element, key,
           "expected strings such as \"10.0.0.0/8\", found " + std::string(type_name(element)));
    }
    if (std::string error = check_network(text->get()); !error.empty()) {
      fail(element, key, error);
    }
    networks.push_back(text->get());
  }
  return networks;
}

}  // namespace policy_relay::config::detail
