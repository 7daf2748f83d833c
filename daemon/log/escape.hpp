#pragma once

// Private to the log module: the escaping behind log::escape_kv / log::escape_json, appending to
// the line being built so that an event costs one string.

#include <string>
#include <string_view>

namespace policy_relay::log::detail {

// Appends `value` as a kv value: bare when it is non-empty printable text without space, '"',
// '=' or '\'; otherwise in double quotes with '"' and '\' backslash-escaped and every control
// byte (C0, DEL, the UTF-8 encoded C1 controls) and every byte of invalid UTF-8 as \xHH.
void append_kv_value(std::string& out, std::string_view value);

// Appends a kv key: keys come from code, but anything outside [A-Za-z0-9_.-] becomes '_' so
// that no key can forge a field.
void append_kv_key(std::string& out, std::string_view key);

// Appends the inside of a JSON string (RFC 8259 section 7): '"', '\' and control characters
// escaped, invalid UTF-8 bytes as \u00XX of the byte, U+2028/U+2029 escaped for JavaScript.
void append_json_string(std::string& out, std::string_view value);

}  // namespace policy_relay::log::detail
