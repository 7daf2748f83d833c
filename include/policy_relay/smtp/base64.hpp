#pragma once

#include <optional>
#include <string>
#include <string_view>

// RFC 4648 section 4 base64, as SMTP AUTH uses it (RFC 4954 4): canonical padding, no line
// breaks, no characters outside the alphabet.
namespace policy_relay::smtp {

std::string base64_encode(std::string_view octets);
// nullopt for anything that is not canonical base64 (bad characters, wrong padding, a length
// that is not a multiple of 4). "" decodes to "".
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace policy_relay::smtp
