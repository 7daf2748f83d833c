#pragma once

#include <string>
#include <string_view>

namespace policy_relay::policy {

enum class Decision {
  accept,
  defer,   // 4xx: the client may try again later
  reject,  // 5xx: it must not
};

// One rule's answer to one stage of a transaction (STYLE.md 2). A refusal carries the reply the
// client sees (basic code, RFC 3463 enhanced code, text from the Catalog) and the reason the
// log gets: `rule=`, `clause=` (POLICY.md clause ID) and `reference=` when an [[exceptions]]
// entry applied to the decision. The views point into the Engine's configuration and the
// rules' static names: use a Verdict before the Engine goes away.
struct Verdict {
  Decision decision = Decision::accept;
  int code = 0;
  std::string enhanced;
  std::string text;
  std::string_view rule;
  std::string_view clause;
  std::string_view reference;

  bool accepted() const { return decision == Decision::accept; }
  static Verdict accept() { return {}; }
};

}  // namespace policy_relay::policy
