// The message rules (issue 5): BCC advice (VI.11), attachment advice (VI.12), public-provider
// mass mail (VI.9), protected lists (VI.8) and From alignment (VII.1), each decision with its
// rule, clause and reply, on analyses of the corpus and on built ones.
#include <doctest/doctest.h>

#include "mime_test_support.hpp"
#include "policy_test_support.hpp"

using namespace test_support;
namespace mime = policy_relay::mime;

namespace {

constexpr const char* kSender = "jose.martinez@edomex.gob.mx";

mime::MessageAnalysis addressed_to(int to, int cc, const std::string& from = kSender) {
  mime::MessageAnalysis analysis;
  analysis.from.push_back({from, "", ""});
  for (int i = 0; i < to; ++i) {
    analysis.to.push_back({"to" + std::to_string(i) + "@edomex.gob.mx", "", ""});
  }
  for (int i = 0; i < cc; ++i) {
    analysis.cc.push_back({"cc" + std::to_string(i) + "@edomex.gob.mx", "", "Equipo"});
  }
  return analysis;
}

mime::MessageAnalysis with_attachment(const std::string& type, const std::string& name,
                                      std::uint64_t size, const std::string& disposition) {
  mime::MessageAnalysis analysis = addressed_to(1, 0);
  mime::Part top;
  top.content_type = "multipart/mixed";
  top.multipart = true;
  mime::Part part;
  part.depth = 1;
  part.content_type = type;
  part.filename = name;
  part.disposition = disposition;
  part.decoded_size = size;
  analysis.parts = {top, part};
  return analysis;
}

// MAIL and one RCPT for kSender, then on_message with `analysis`.
struct MessageRun {
  PolicyFixture& f;
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);

  policy::Verdict operator()(const mime::MessageAnalysis& analysis) {
    REQUIRE(f.mail(state, transaction).accepted());
    REQUIRE(f.rcpt(state, transaction, "someone@edomex.gob.mx").accepted());
    REQUIRE(f.data_end(state, transaction).accepted());
    return f.message(state, transaction, analysis);
  }
};

class OneAlias final : public policy::AliasDirectory {
 public:
  bool is_alias_of(std::string_view identity, std::string_view address) const override {
    return identity == kSender && address == "direccion.general@edomex.gob.mx";
  }
};

}  // namespace

TEST_CASE("BCC advice: six distinct visible addresses in header mode give the header value") {
  PolicyFixture f;
  f.build();
  CHECK(f.engine->needs_analysis());
  CHECK(f.engine->may_add_headers());
  MessageRun run{f};
  CHECK(run(addressed_to(4, 2)).accepted());
  REQUIRE(run.state.advice.size() == 1);
  const policy::Advice& advice = run.state.advice[0];
  CHECK(advice.rule == "bcc_advice");
  CHECK(advice.clause == "VI.11");
  CHECK(advice.action == config::AdviceAction::header);
  CHECK(advice.header == "bcc; visible-recipients=6; threshold=5");
}

TEST_CASE("BCC advice: five addresses, or duplicates in other case, are not advised") {
  PolicyFixture f;
  f.build();
  MessageRun run{f};
  mime::MessageAnalysis analysis = addressed_to(3, 2);
  analysis.cc.push_back({"TO0@EDOMEX.GOB.MX", "", ""});
  CHECK(run(analysis).accepted());
  CHECK(run.state.advice.empty());
}

TEST_CASE("BCC advice on the Outlook corpus message: 6 distinct of 7, advised in log mode") {
  PolicyFixture f;
  f.config.advice.bcc_action = config::AdviceAction::log;
  f.build();
  CHECK_FALSE(f.engine->may_add_headers());
  MessageRun run{f};
  CHECK(run(scan(corpus_message("outlook_mixed_related.eml"))).accepted());
  REQUIRE(run.state.advice.size() == 1);
  CHECK(run.state.advice[0].action == config::AdviceAction::log);
  CHECK(run.state.advice[0].fields[0] ==
        std::pair<std::string, std::string>{"visible_recipients", "6"});
}

TEST_CASE("BCC advice in reject mode refuses at the end of DATA with 550 5.7.1, in Spanish too") {
  PolicyFixture f;
  f.config.advice.bcc_action = config::AdviceAction::reject;
  f.config.messages.language = "es";
  f.build();
  MessageRun run{f};
  const policy::Verdict verdict = run(addressed_to(6, 0));
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
  CHECK(verdict.rule == "bcc_advice");
  CHECK(verdict.text ==
        "Demasiados destinatarios visibles (6 en Para y CC, maximo 5): use CCO (politica VI.11)");
  CHECK_FALSE(run.state.active());
}

TEST_CASE("BCC advice in notify mode carries the notice in the configured language") {
  PolicyFixture f;
  f.config.advice.bcc_action = config::AdviceAction::notify;
  f.build();
  MessageRun run{f};
  CHECK(run(addressed_to(10, 0)).accepted());
  REQUIRE(run.state.advice.size() == 1);
  CHECK(run.state.advice[0].notice.find("sent to 10 addresses") != std::string::npos);
  CHECK(run.state.advice[0].notice.find("VI.11") != std::string::npos);
}

TEST_CASE("with every message rule off the message is not analysed at all") {
  PolicyFixture f;
  f.config.advice.bcc_action = config::AdviceAction::off;
  f.config.advice.attachment_action = config::AdviceAction::off;
  f.config.senders.from_mismatch_action = config::FromMismatchAction::off;
  f.build();
  CHECK_FALSE(f.engine->needs_analysis());
  CHECK_FALSE(f.engine->may_add_headers());
  f.config.limits.enabled = false;
  f.config.advice.bcc_action = config::AdviceAction::reject;
  f.build();
  CHECK_FALSE(f.engine->needs_analysis());
}

TEST_CASE("attachment advice: an uncompressed attachment over the threshold, by decoded size") {
  PolicyFixture f;
  f.config.advice.attachment_action = config::AdviceAction::header;
  f.build();
  MessageRun run{f};
  CHECK(run(with_attachment("application/pdf", "informe.pdf", 3'000'000, "attachment")).accepted());
  REQUIRE(run.state.advice.size() == 1);
  CHECK(run.state.advice[0].rule == "attachment_advice");
  CHECK(run.state.advice[0].clause == "VI.12");
  CHECK(run.state.advice[0].header ==
        "attachment; uncompressed-attachments=1; largest=3000000; threshold=1048576");
}

TEST_CASE("attachment advice: compressed formats, inline parts and small files are not advised") {
  PolicyFixture f;
  f.config.advice.attachment_action = config::AdviceAction::reject;
  f.build();
  const std::uint64_t big = 5'000'000;
  for (const auto& analysis :
       {with_attachment("application/zip", "datos.zip", big, "attachment"),
        with_attachment("application/octet-stream", "Fotos.JPG", big, "attachment"),
        with_attachment("image/png", "", big, "attachment"),
        with_attachment("video/quicktime", "clip.mov", big, "attachment"),
        with_attachment("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        "oficio.docx", big, "attachment"),
        with_attachment("application/pdf", "informe.pdf", big, "inline"),
        with_attachment("application/pdf", "informe.pdf", 1024 * 1024, "attachment")}) {
    MessageRun run{f};
    CHECK(run(analysis).accepted());
    CHECK(run.state.advice.empty());
  }
  MessageRun run{f};
  const policy::Verdict verdict =
      run(with_attachment("text/csv", "nomina.csv", big, ""));  // a file name: an attachment
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
  CHECK(verdict.text ==
        "Attachment over 1048576 bytes not compressed: compress it (zip) and send again (policy "
        "VI.12)");
}

TEST_CASE("public mass mail: the 21st recipient at a public provider is refused, others pass") {
  PolicyFixture f;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  for (int i = 0; i < 20; ++i) {
    const std::string domain = i % 3 == 0   ? "GMAIL.com"
                               : i % 3 == 1 ? "hotmail.com"
                                            : "mx.yahoo.com";
    REQUIRE(f.rcpt(state, transaction, "r" + std::to_string(i) + "@" + domain).accepted());
  }
  const policy::Verdict refused = f.rcpt(state, transaction, "last@gmail.com");
  CHECK(refused.code == 550);
  CHECK(refused.enhanced == "5.7.1");
  CHECK(refused.rule == "public_mass_mail");
  CHECK(refused.clause == "VI.9");
  CHECK(f.rcpt(state, transaction, "colleague@edomex.gob.mx").accepted());
  CHECK(f.rcpt(state, transaction, "someone@notgmail.com").accepted());
  CHECK(f.rcpt(state, transaction, "again@gmail.com.").code == 550);
}

TEST_CASE("public mass mail and protected lists: an exception's allowances let its sender pass") {
  PolicyFixture f;
  f.config.mass_mail.max_public_recipients = 2;
  f.config.mass_mail.protected_lists = {"todos@edomex.gob.mx"};
  config::SenderException authorised;
  authorised.sender = "comunicacion@edomex.gob.mx";
  authorised.reference = "DGSEI 7";
  authorised.allow_public_mass_mail = true;
  authorised.allow_protected_lists = true;
  f.config.exceptions.push_back(authorised);
  f.build();

  policy::TransactionState state;
  policy::Transaction other = transaction_from(kSender);
  REQUIRE(f.mail(state, other).accepted());
  const policy::Verdict list = f.rcpt(state, other, "Todos@edomex.gob.mx");
  CHECK(list.code == 550);
  CHECK(list.rule == "protected_lists");
  CHECK(list.clause == "VI.8");
  CHECK(list.text ==
        "Sending to this list needs the authorisation of the DGSEI head (policy VI.8)");

  policy::Transaction transaction = transaction_from("comunicacion@edomex.gob.mx");
  REQUIRE(f.mail(state, transaction).accepted());
  CHECK(f.rcpt(state, transaction, "todos@edomex.gob.mx").accepted());
  for (int i = 0; i < 5; ++i) {
    CHECK(f.rcpt(state, transaction, "r" + std::to_string(i) + "@gmail.com").accepted());
  }
  CHECK(state.exception_rules ==
        std::vector<std::string_view>{"protected_lists", "public_mass_mail"});
}

TEST_CASE("a recipient refused by a later rule does not count toward the public limit") {
  PolicyFixture f;
  f.config.mass_mail.max_public_recipients = 1;
  f.config.limits.max_recipients_per_message = 2;
  f.build();
  policy::TransactionState state;
  policy::Transaction transaction = transaction_from(kSender);
  REQUIRE(f.mail(state, transaction).accepted());
  REQUIRE(f.rcpt(state, transaction, "a@edomex.gob.mx").accepted());
  REQUIRE(f.rcpt(state, transaction, "b@edomex.gob.mx").accepted());
  CHECK(f.rcpt(state, transaction, "c@gmail.com").code == 452);  // recipients per message
  CHECK(state.public_recipients == 0);
}

TEST_CASE("From alignment: the identity and its aliases pass; another From is logged or refused") {
  PolicyFixture f;
  OneAlias aliases;
  f.aliases = &aliases;
  f.config.advice.bcc_action = config::AdviceAction::off;
  f.build();
  {
    MessageRun run{f};
    CHECK(run(addressed_to(1, 0, "Jose.Martinez@EDOMEX.gob.mx")).accepted());
    CHECK(run.state.advice.empty());
  }
  {
    MessageRun run{f};
    CHECK(run(addressed_to(1, 0, "direccion.general@edomex.gob.mx")).accepted());
    CHECK(run.state.advice.empty());
  }
  {
    MessageRun run{f};
    CHECK(run(addressed_to(1, 0, "jefe@edomex.gob.mx")).accepted());
    REQUIRE(run.state.advice.size() == 1);
    CHECK(run.state.advice[0].rule == "from_alignment");
    CHECK(run.state.advice[0].clause == "VII.1");
    CHECK(run.state.advice[0].action == config::AdviceAction::log);
    CHECK(run.state.advice[0].header.empty());
  }
  {
    // An authenticated user's aliases come from auth.users_file (transaction.auth_senders).
    MessageRun run{f};
    run.transaction.auth_user = "jmartinez";
    run.transaction.identity = "jmartinez";
    run.transaction.auth_senders = {kSender, "oficialia@edomex.gob.mx"};
    CHECK(run(addressed_to(1, 0, "Oficialia@edomex.gob.mx")).accepted());
    CHECK(run.state.advice.empty());
  }
  f.config.senders.from_mismatch_action = config::FromMismatchAction::reject;
  f.build();
  MessageRun run{f};
  const policy::Verdict verdict = run(addressed_to(1, 0, "jefe@edomex.gob.mx"));
  CHECK(verdict.code == 550);
  CHECK(verdict.enhanced == "5.7.1");
  CHECK(verdict.rule == "from_alignment");
  MessageRun none{f};
  mime::MessageAnalysis no_from = addressed_to(1, 0);
  no_from.from.clear();
  CHECK(none(no_from).code == 550);
}
