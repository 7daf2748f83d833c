#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace policy_relay::policy {

enum class Language { en, es };

// "en" -> en, "es" -> es; anything else -> en (the loader admits only these two).
Language language_from_name(std::string_view name);

// The text of every policy reply, in the language of [messages] language (DESIGN.md "Replies").
// Only printable ASCII comes out, whatever the language (no accents on the wire: RFC 5321 4.2
// reply text), and no line break. Times are UTC ("2026-11-30 04:40:00 UTC"), rounded up to the
// second so "frees at" is never early.
class Catalog {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  explicit Catalog(Language language) : language_(language) {}
  Language language() const { return language_; }

  std::string message_too_big(std::uint64_t limit_bytes) const;                    // VI.1
  std::string too_many_recipients(std::uint32_t limit) const;                      // VI.3
  std::string too_many_messages(std::uint32_t per_minute, TimePoint retry) const;  // VI.4
  std::string backlog_full(std::uint32_t backlog) const;                           // VI.4
  std::string daily_quota(std::uint32_t per_day, TimePoint frees_at) const;        // VI.4
  std::string null_sender() const;                                                 // I.1
  // `allowed`: senders.domains; named in the text while they fit in one short line.
  std::string sender_domain_not_allowed(const std::vector<std::string>& allowed) const;  // I.1
  std::string local_part_too_long(std::uint32_t limit) const;                            // I.1
  std::string counters_unavailable() const;
  // POLICY VII.1: AUTH and the sender identity.
  std::string authentication_required() const;                // 530 5.7.0
  std::string authentication_succeeded() const;               // 235 2.7.0
  std::string authentication_failed() const;                  // 535 5.7.8
  std::string authentication_locked() const;                  // 421 4.7.0
  std::string sender_not_owned(std::string_view user) const;  // 550 5.7.1
  std::string account_disabled() const;                       // 550 5.7.1, III.1
  std::string sender_suspended() const;                       // 550 5.7.1, IV.2
  std::string too_many_visible_recipients(std::size_t visible,
                                          std::uint32_t threshold) const;    // VI.11
  std::string uncompressed_attachment(std::uint64_t threshold_bytes) const;  // VI.12
  std::string public_mass_mail(std::uint32_t limit) const;                   // VI.9
  std::string protected_list() const;                                        // VI.8
  std::string from_mismatch() const;                                         // VII.1

  // The advisory mail to a sender (advice action "notify"): its subject, and its body for each
  // rule, quoting the policy. Plain ASCII text, CRLF line ends, no trailing line end.
  std::string notice_subject() const;
  std::string bcc_notice(std::size_t visible, std::uint32_t threshold) const;
  std::string attachment_notice(std::string_view filename, std::uint64_t size,
                                std::uint64_t threshold_bytes) const;

  static std::string format_utc(TimePoint time);

 private:
  Language language_;
};

}  // namespace policy_relay::policy
