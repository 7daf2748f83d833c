#include "policy_relay/mime/message_scanner.hpp"

#include <algorithm>

#include "decoded_size.hpp"
#include "policy_relay/mime/header_fields.hpp"

namespace policy_relay::mime {
namespace {

std::string ascii_lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return lower;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// RFC 5322 2.2 field name: printable ASCII but ":" (and, obsolete 4.5, spaces before the colon).
std::string_view field_name(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return {};
  }
  std::string_view name = text.substr(0, colon);
  while (!name.empty() && is_space(name.back())) {
    name.remove_suffix(1);
  }
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > 32 && static_cast<unsigned char>(c) < 127;
  });
  return printable ? name : std::string_view{};
}

// The fields the analysis keeps: the MIME ones of every entity, the address ones of the message.
bool kept_field(std::string_view name, unsigned depth) {
  if (name == "content-type" || name == "content-disposition" ||
      name == "content-transfer-encoding") {
    return true;
  }
  return depth == 0 && (name == "from" || name == "to" || name == "cc");
}

}  // namespace

MessageScanner::MessageScanner() : MessageScanner(Limits{}) {}

MessageScanner::MessageScanner(Limits limits) : limits_(limits) {
  line_.reserve(256);
}

MessageScanner::~MessageScanner() = default;

void MessageScanner::feed(std::string_view octets) {
  while (!octets.empty()) {
    if (state_ == State::body && open_.empty() && line_.empty() && !long_line_ && body_ &&
        body_->identity()) {
      // A single-part body with an identity encoding: no boundary can end it (only an
      // enclosing multipart has one, RFC 2046 5.1.1), so its lines need no looking at. A
      // plain 25 MiB message costs no line scan.
      body_->rest_of_message(octets);
      analysis_.size += octets.size();
      return;
    }
    const std::size_t newline = octets.find('\n');
    std::string_view piece = octets.substr(0, newline);
    const std::size_t consumed = newline == std::string_view::npos ? octets.size() : newline + 1;
    analysis_.size += consumed;
    octets.remove_prefix(consumed);
    if (!long_line_ && line_.size() + piece.size() > limits_.max_line) {
      // The line outgrows the bound: its first max_line octets decide what it is, the rest
      // streams through without being held.
      const std::size_t room = limits_.max_line - line_.size();
      line_.append(piece.substr(0, room));
      piece.remove_prefix(room);
      long_line_ = true;
      long_line_checked_ = false;
      long_line_piece(line_);  // piece is not empty: a CR at its end is text
      line_.clear();
    }
    if (long_line_) {
      // A CR is held back until the next octet shows whether it ends the line.
      if (!line_.empty() && !piece.empty()) {
        long_line_piece(line_);
        line_.clear();
      }
      if (piece.ends_with('\r')) {
        piece.remove_suffix(1);
        long_line_piece(piece);
        line_ = "\r";
      } else {
        long_line_piece(piece);
      }
      if (newline != std::string_view::npos) {
        long_line_end(line_.empty() ? 1 : 2);
        line_.clear();
        long_line_ = false;
      }
      continue;
    }
    line_.append(piece);
    if (newline == std::string_view::npos) {
      break;
    }
    std::size_t eol = 1;
    std::string_view text = line_;
    if (text.ends_with('\r')) {
      text.remove_suffix(1);
      eol = 2;
    }
    line(text, eol);
    line_.clear();
  }
}

void MessageScanner::line(std::string_view text, std::size_t eol) {
  if (state_ == State::headers) {
    header_line(text, eol);
    return;
  }
  if (!open_.empty() && text.starts_with("--") && boundary_line(text)) {
    return;
  }
  if (state_ == State::body) {
    body_content(text);
    body_line_end(eol);
  }
}

// The first piece of a long line holds max_line octets: enough to know what the line is (a
// boundary line is never that long: 70 octets at most, RFC 2046 5.1.1).
void MessageScanner::long_line_piece(std::string_view text) {
  if (!long_line_checked_) {
    long_line_checked_ = true;
    if (state_ == State::headers) {
      const std::string_view name = field_name(text);
      if (!text.empty() && is_space(text.front())) {
        append_field(text);
        return;
      }
      if (!name.empty()) {
        start_field(name, text.substr(text.find(':') + 1));
        return;
      }
      analysis_.malformed |= malformed_header_line;
      end_headers();
    }
    if (state_ == State::body) {
      body_content(text);
    }
    return;
  }
  if (state_ == State::headers) {
    append_field(text);
  } else if (state_ == State::body) {
    body_content(text);
  }
}

void MessageScanner::long_line_end(std::size_t eol) {
  if (state_ == State::body) {
    body_line_end(eol);
  }
}

void MessageScanner::header_line(std::string_view text, std::size_t eol) {
  if (!open_.empty() && text.starts_with("--") && boundary_line(text)) {
    return;  // a part with headers only (RFC 2046 5.1.1 allows it)
  }
  if (text.empty()) {
    end_headers();
    return;
  }
  if (is_space(text.front())) {
    if (field_.name.empty() && !any_header_) {
      analysis_.malformed |= malformed_header_line;  // a continuation of nothing
    }
    append_field(text);
    return;
  }
  const std::string_view name = field_name(text);
  if (name.empty()) {
    // Not a field: the header section ends here and this line is the body's first.
    analysis_.malformed |= malformed_header_line;
    end_headers();
    line(text, eol);
    return;
  }
  start_field(name, text.substr(text.find(':') + 1));
}

bool MessageScanner::boundary_line(std::string_view text) {
  const std::string_view after_dashes = text.substr(2);
  for (std::size_t level = open_.size(); level-- > 0;) {
    const std::string& boundary = open_[level].boundary;
    if (!after_dashes.starts_with(boundary)) {
      continue;
    }
    std::string_view rest = after_dashes.substr(boundary.size());
    const bool close = rest.starts_with("--");
    if (close) {
      rest.remove_prefix(2);
    }
    if (!std::all_of(rest.begin(), rest.end(), is_space)) {
      continue;  // transport padding only (RFC 2046 5.1.1)
    }
    if (state_ == State::headers) {
      end_headers();  // may open a multipart, closed again just below
    }
    end_part();
    if (level + 1 < open_.size()) {
      analysis_.malformed |= malformed_unclosed_multipart;  // an outer boundary closes it
      open_.resize(level + 1);
    }
    if (close) {
      open_.pop_back();
      state_ = State::epilogue;
    } else {
      start_part(static_cast<unsigned>(open_.size()));
    }
    return true;
  }
  return false;
}

void MessageScanner::start_field(std::string_view name, std::string_view value) {
  end_field();
  any_header_ = true;
  const std::string lower = ascii_lower(name);
  if (kept_field(lower, depth_)) {
    field_.name = lower;
    append_field(value);
  }
}

void MessageScanner::append_field(std::string_view text) {
  if (field_.name.empty()) {
    return;
  }
  const std::size_t room = limits_.max_field - std::min(limits_.max_field, field_.value.size());
  if (text.size() > room) {
    analysis_.malformed |= malformed_header_too_long;
    text = text.substr(0, room);
  }
  field_.value.append(text);  // unfolding (RFC 5322 2.2.3): the line break goes, the WSP stays
}

void MessageScanner::end_field() {
  if (field_.name.empty()) {
    return;
  }
  const auto add_to_list = [this](std::string& list) {
    if (!list.empty()) {
      list += ", ";  // a repeated To or Cc (RFC 5322 allows one; count them all)
    }
    const std::size_t room = limits_.max_field - std::min(limits_.max_field, list.size());
    if (field_.value.size() > room) {
      analysis_.malformed |= malformed_header_too_long;
    }
    list.append(field_.value, 0, room);
  };
  if (field_.name == "content-type") {
    content_type_ = std::move(field_.value);
  } else if (field_.name == "content-disposition") {
    disposition_ = std::move(field_.value);
  } else if (field_.name == "content-transfer-encoding") {
    transfer_encoding_ = std::move(field_.value);
  } else if (field_.name == "from") {
    add_to_list(from_);
  } else if (field_.name == "to") {
    add_to_list(to_);
  } else if (field_.name == "cc") {
    add_to_list(cc_);
  }
  field_ = Field{};
}

void MessageScanner::end_headers() {
  end_field();
  Part part;
  part.depth = depth_;
  const ContentTypeField type = parse_content_type(content_type_);
  part.content_type =
      !type.type.empty() ? type.type : (in_digest_ ? "message/rfc822" : "text/plain");
  if (!disposition_.empty()) {
    DispositionField disposition = parse_content_disposition(disposition_);
    part.disposition = std::move(disposition.disposition);
    part.filename = std::move(disposition.filename);
  }
  if (part.filename.empty()) {
    part.filename = type.name;
  }
  part.transfer_encoding =
      transfer_encoding_.empty() ? "7bit" : parse_transfer_encoding(transfer_encoding_);
  if (depth_ == 0) {
    analysis_.from = parse_address_list(from_);
    analysis_.to = parse_address_list(to_);
    analysis_.cc = parse_address_list(cc_);
    from_.clear();
    to_.clear();
    cc_.clear();
  }
  bool container = false;
  if (part.content_type.starts_with("multipart/")) {
    if (type.boundary.empty()) {
      analysis_.malformed |= malformed_missing_boundary;  // read as one opaque body
    } else if (open_.size() >= limits_.max_depth) {
      analysis_.malformed |= malformed_too_deep;
    } else {
      container = true;
      open_.push_back({type.boundary, part.content_type == "multipart/digest"});
    }
  }
  part.multipart = container;
  const auto encoding = detail::DecodedSize::from_name(part.transfer_encoding);
  ++analysis_.part_count;
  listed_ = analysis_.parts.size() < limits_.max_parts;
  if (listed_) {
    analysis_.parts.push_back(std::move(part));
  } else {
    analysis_.malformed |= malformed_too_many_parts;
  }
  content_type_.clear();
  disposition_.clear();
  transfer_encoding_.clear();
  if (container) {
    state_ = State::preamble;
    return;
  }
  body_ = std::make_unique<detail::DecodedSize>(encoding);
  state_ = State::body;
}

void MessageScanner::start_part(unsigned depth) {
  state_ = State::headers;
  depth_ = depth;
  in_digest_ = !open_.empty() && open_.back().digest;
  any_header_ = false;
  field_ = Field{};
}

void MessageScanner::end_part() {
  if (!body_) {
    return;
  }
  if (listed_) {
    analysis_.parts.back().encoded_size = body_->encoded();
    analysis_.parts.back().decoded_size = body_->decoded();
  }
  if (body_->bad_encoding()) {
    analysis_.malformed |= malformed_bad_encoding;
  }
  body_.reset();
}

void MessageScanner::body_content(std::string_view text) {
  if (body_) {
    body_->content(text);
  }
}

void MessageScanner::body_line_end(std::size_t eol) {
  if (body_) {
    body_->line_end(eol);
  }
}

MessageAnalysis MessageScanner::finish() {
  if (finished_) {
    return analysis_;
  }
  finished_ = true;
  if (long_line_) {
    if (!line_.empty()) {
      long_line_piece(line_);  // a held CR that no LF followed
    }
    long_line_end(0);
  } else if (!line_.empty()) {
    line(line_, 0);
  }
  line_.clear();
  if (state_ == State::headers) {
    if (depth_ > 0) {
      analysis_.malformed |= malformed_truncated_headers;
    }
    end_headers();
  }
  if (body_) {
    body_->end_of_message();  // no boundary follows: the last line ending is the body's
  }
  end_part();
  if (!open_.empty()) {
    analysis_.malformed |= malformed_unclosed_multipart;
  }
  open_.clear();
  return std::move(analysis_);
}

}  // namespace policy_relay::mime
