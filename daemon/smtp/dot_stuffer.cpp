#include "policy_relay/smtp/dot_stuffer.hpp"

namespace policy_relay::smtp {

void DotStuffer::encode(std::string_view octets, std::string& out) {
  if (octets.empty()) {
    return;
  }
  octets_in_ += octets.size();
  // Copy runs between line starts in one append; only a line-initial '.' needs an extra octet.
  std::size_t run_start = 0;
  std::size_t i = 0;
  while (i < octets.size()) {
    if (at_line_start_ && octets[i] == '.') {
      out.append(octets.substr(run_start, i - run_start));
      out.push_back('.');
      run_start = i;
    }
    const std::size_t newline = octets.find('\n', i);
    if (newline == std::string_view::npos) {
      at_line_start_ = false;
      ends_with_crlf_ = false;
      previous_ = octets.back();
      break;
    }
    ends_with_crlf_ = (newline > 0 ? octets[newline - 1] : previous_) == '\r';
    at_line_start_ = true;
    previous_ = '\n';
    i = newline + 1;
  }
  out.append(octets.substr(run_start));
}

void DotStuffer::finish(std::string& out) {
  if (octets_in_ > 0 && !ends_with_crlf_) {
    out.append("\r\n");
  }
  out.append(".\r\n");
  *this = DotStuffer();
}

}  // namespace policy_relay::smtp
