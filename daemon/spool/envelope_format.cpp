#include "policy_relay/spool/envelope_format.hpp"

#include <algorithm>
#include <charconv>

namespace policy_relay::spool {

namespace {

bool is_clean(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool append_field(std::string& out, std::string_view key, std::string_view value) {
  if (!is_clean(value)) {
    return false;
  }
  out.append(key).append(" ").append(value).append("\n");
  return true;
}

std::error_code invalid() {
  return std::make_error_code(std::errc::invalid_argument);
}

}  // namespace

std::error_code fill_reserved_record(const std::vector<std::string>& headers, std::size_t size,
                                     std::string& out) {
  std::string records;
  for (const auto& header : headers) {
    if (!append_field(records, "header", header)) {
      return invalid();
    }
  }
  if (records.size() + min_reserved_record > size) {
    return std::make_error_code(std::errc::message_size);
  }
  const std::size_t spaces = size - records.size() - min_reserved_record;
  records.append("pad ").append(spaces, ' ').append("\n");
  out = std::move(records);
  return {};
}

std::string format_length(std::uint64_t length) {
  std::string digits = std::to_string(length);
  return std::string(length_digits - std::min(length_digits, digits.size()), '0') + digits;
}

std::error_code serialize_envelope(const Envelope& envelope, std::string& out,
                                   std::size_t reserve) {
  std::size_t ignored = 0;
  return serialize_envelope(envelope, out, reserve, ignored);
}

std::error_code serialize_envelope(const Envelope& envelope, std::string& out, std::size_t reserve,
                                   std::size_t& length_offset) {
  std::string block;
  block.append(spool_magic).append("\n");
  bool ok =
      append_field(block, "id", envelope.id) && append_field(block, "sender", envelope.sender);
  for (const auto& recipient : envelope.recipients) {
    ok = ok && append_field(block, "rcpt", recipient);
  }
  ok = ok && append_field(block, "body", envelope.body_type) &&
       append_field(block, "smtputf8", envelope.smtputf8 ? "1" : "0") &&
       append_field(block, "client", envelope.client_address) &&
       append_field(block, "helo", envelope.helo) &&
       append_field(block, "auth", envelope.auth_user);
  block.append("length ");
  length_offset = out.size() + block.size();
  block.append(format_length(0)).append("\n");
  ok = ok && append_field(block, "received", std::to_string(envelope.received_at));
  for (const auto& header : envelope.added_headers) {
    ok = ok && append_field(block, "header", header);
  }
  if (!ok || envelope.recipients.empty()) {
    return invalid();
  }
  if (reserve > 0) {
    std::string pad;
    if (auto ec = fill_reserved_record({}, std::max(reserve, min_reserved_record), pad)) {
      return ec;
    }
    block.append(pad);
  }
  block.append("\n");
  out.append(block);
  return {};
}

std::error_code parse_envelope(std::string_view block, Envelope& out) {
  std::optional<std::uint64_t> ignored;
  return parse_envelope(block, out, ignored);
}

std::error_code parse_envelope(std::string_view block, Envelope& out,
                               std::optional<std::uint64_t>& length) {
  Envelope envelope;
  std::optional<std::uint64_t> recorded_length;
  bool seen_magic = false;
  bool seen_end = false;
  while (!block.empty()) {
    const auto newline = block.find('\n');
    if (newline == std::string_view::npos) {
      return invalid();
    }
    const std::string_view line = block.substr(0, newline);
    block.remove_prefix(newline + 1);
    if (!seen_magic) {
      if (line != spool_magic) {
        return invalid();
      }
      seen_magic = true;
      continue;
    }
    if (line.empty()) {
      seen_end = true;
      break;
    }
    const auto space = line.find(' ');
    if (space == std::string_view::npos) {
      return invalid();
    }
    const std::string_view key = line.substr(0, space);
    const std::string_view value = line.substr(space + 1);
    if (key == "id") {
      envelope.id = value;
    } else if (key == "sender") {
      envelope.sender = value;
    } else if (key == "rcpt") {
      envelope.recipients.emplace_back(value);
    } else if (key == "body") {
      envelope.body_type = value;
    } else if (key == "smtputf8") {
      envelope.smtputf8 = value == "1";
    } else if (key == "client") {
      envelope.client_address = value;
    } else if (key == "helo") {
      envelope.helo = value;
    } else if (key == "auth") {
      envelope.auth_user = value;
    } else if (key == "header") {
      envelope.added_headers.emplace_back(value);
    } else if (key == "length") {
      std::uint64_t value_length = 0;
      const auto result = std::from_chars(value.data(), value.data() + value.size(), value_length);
      if (value.size() != length_digits || result.ec != std::errc{} ||
          result.ptr != value.data() + value.size()) {
        return invalid();
      }
      recorded_length = value_length;
    } else if (key == "received") {
      const auto result =
          std::from_chars(value.data(), value.data() + value.size(), envelope.received_at);
      if (result.ec != std::errc{}) {
        return invalid();
      }
    }
    // Unknown keys are skipped: a newer version may add fields ("pad": a reserved record).
  }
  if (!seen_end || envelope.id.empty() || envelope.recipients.empty()) {
    return invalid();
  }
  out = std::move(envelope);
  length = recorded_length;
  return {};
}

}  // namespace policy_relay::spool
