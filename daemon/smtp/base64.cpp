#include "policy_relay/smtp/base64.hpp"

#include <array>
#include <cstdint>

namespace policy_relay::smtp {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_values() {
  std::array<std::int8_t, 256> values{};
  for (auto& value : values) {
    value = -1;
  }
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return values;
}

constexpr std::array<std::int8_t, 256> kValues = make_values();

}  // namespace

std::string base64_encode(std::string_view octets) {
  std::string out;
  out.reserve((octets.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= octets.size(); i += 3) {
    const std::uint32_t n = static_cast<unsigned char>(octets[i]) << 16 |
                            static_cast<unsigned char>(octets[i + 1]) << 8 |
                            static_cast<unsigned char>(octets[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = octets.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(octets[i]) << 16;
    if (rest == 2) {
      n |= static_cast<unsigned char>(octets[i + 1]) << 8;
    }
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += rest == 2 ? kAlphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t padding = last ? (text[i + 3] == '=') + (text[i + 2] == '=') : 0;
    if (padding == 1 && text[i + 2] == '=') {
      return std::nullopt;  // "xx=x"
    }
    std::uint32_t n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      if (j >= 4 - padding) {
        n <<= 6;
        continue;
      }
      const std::int8_t value = kValues[static_cast<unsigned char>(text[i + j])];
      if (value < 0) {
        return std::nullopt;
      }
      n = n << 6 | static_cast<std::uint32_t>(value);
    }
    // Canonical form only: the bits that padding drops must be zero (RFC 4648 3.5).
    if ((padding == 1 && (n & 0xFF) != 0) || (padding == 2 && (n & 0xFFFF) != 0)) {
      return std::nullopt;
    }
    out += static_cast<char>(n >> 16 & 0xFF);
    if (padding < 2) {
      out += static_cast<char>(n >> 8 & 0xFF);
    }
    if (padding < 1) {
      out += static_cast<char>(n & 0xFF);
    }
  }
  return out;
}

}  // namespace policy_relay::smtp
