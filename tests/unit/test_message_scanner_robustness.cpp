// Malformed input never crashes or hangs the analysis (issue 5): every corpus message cut,
// corrupted and fed in random pieces; run under ASan/UBSan by scripts/test.sh.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "mime_test_support.hpp"

using policy_relay::mime::MessageAnalysis;
using policy_relay::mime::MessageScanner;
using test_support::corpus_message;

TEST_CASE("corrupted, truncated corpus messages fed in random pieces are always analysed") {
  const char* names[] = {"outlook_mixed_related.eml", "thunderbird_mixed.eml", "apple_mail.eml",
                         "groups_and_names.eml",      "nested_50.eml",         "truncated.eml"};
  std::mt19937 random(20261130);  // fixed: a failure is reproducible
  const std::string noise = "\r\n\t :;\"<>@=?-*'%\\(),\x80\xff\0";
  for (const char* name : names) {
    const std::string original = corpus_message(name);
    for (int round = 0; round < 60; ++round) {
      std::string message = original.substr(0, random() % (original.size() + 1));
      for (int edit = random() % 20; edit > 0 && !message.empty(); --edit) {
        message[random() % message.size()] = noise[random() % noise.size()];
      }
      MessageScanner scanner;
      std::size_t at = 0;
      while (at < message.size()) {
        const std::size_t piece = 1 + random() % 300;
        scanner.feed(std::string_view(message).substr(at, piece));
        at += piece;
      }
      const MessageAnalysis analysis = scanner.finish();
      CAPTURE(name);
      CAPTURE(round);
      CHECK(analysis.size == message.size());
      CHECK(analysis.parts.size() >= 1);
      CHECK(analysis.parts.size() <= 1000);
    }
  }
}
