#pragma once

// Private to the policy library: the rules of the chain, one class per file (STYLE.md 2).
// Adding a rule: a class in policy/rules/, a factory here, one line in Engine's chain.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy_relay/policy/rule.hpp"

namespace policy_relay::policy::rules {

std::unique_ptr<Rule> make_sender_address();          // POLICY I.1
std::unique_ptr<Rule> make_message_size();            // POLICY VI.1
std::unique_ptr<Rule> make_recipients_per_message();  // POLICY VI.3, VI.4
std::unique_ptr<Rule> make_messages_per_minute();     // POLICY VI.4
std::unique_ptr<Rule> make_recipients_per_day();      // POLICY VI.4
std::unique_ptr<Rule> make_protected_lists();         // POLICY VI.8
std::unique_ptr<Rule> make_public_mass_mail();        // POLICY VI.9
std::unique_ptr<Rule> make_from_alignment();          // POLICY VII.1
std::unique_ptr<Rule> make_bcc_advice();              // POLICY VI.11
std::unique_ptr<Rule> make_attachment_advice();       // POLICY VI.12

// The refusal of a message that passed the sender's max_message_size (end of DATA).
Verdict message_too_big(const RuleContext& context);

// Records that the exception let `rule` accept what [limits] alone would have refused, so the
// accept event logs the exception's reference (POLICY VI.3: every decision it changes).
void note_exception(RuleContext& context, std::string_view rule);

// ASCII letters lower-cased, other octets kept.
std::string ascii_lower(std::string_view text);
// Whether the domain of `address` (after its last "@") is one of `domains` (lower-case) or a
// subdomain of one, ignoring ASCII case.
bool in_domains(std::string_view address, const std::vector<std::string>& domains);
// POLICY VI.12: a media type or file name extension of an already compressed format.
bool is_compressed_format(std::string_view content_type, std::string_view filename);

}  // namespace policy_relay::policy::rules
