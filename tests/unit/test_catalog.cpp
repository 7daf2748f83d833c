// Reply texts in English and Spanish: ASCII only on the wire, one line each.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/policy/catalog.hpp"
#include "policy_test_support.hpp"

using policy_relay::policy::Catalog;
using policy_relay::policy::Language;
using test_support::kEpoch;

namespace {

std::vector<std::string> every_text(const Catalog& catalog) {
  return {catalog.message_too_big(26214400),
          catalog.too_many_recipients(500),
          catalog.too_many_messages(30, kEpoch + std::chrono::seconds(61)),
          catalog.backlog_full(300),
          catalog.daily_quota(10000, kEpoch + std::chrono::hours(24)),
          catalog.null_sender(),
          catalog.sender_domain_not_allowed({"edomex.gob.mx"}),
          catalog.sender_domain_not_allowed({std::string(200, 'a') + ".mx"}),
          catalog.local_part_too_long(20),
          catalog.counters_unavailable()};
}

}  // namespace

TEST_CASE("every reply text is printable ASCII on one line, in both languages") {
  for (Language language : {Language::en, Language::es}) {
    const Catalog catalog(language);
    for (const std::string& text : every_text(catalog)) {
      CAPTURE(text);
      CHECK_FALSE(text.empty());
      CHECK(text.size() < 200);
      for (char c : text) {
        CHECK((c >= 0x20 && c < 0x7f));
      }
    }
  }
}

TEST_CASE("the Spanish catalog says the same as the English one") {
  const Catalog en(Language::en);
  const Catalog es(Language::es);
  CHECK(en.message_too_big(1000) == "Message size exceeds fixed limit of 1000 bytes");
  CHECK(es.message_too_big(1000) == "El tamano del mensaje excede el limite de 1000 bytes");
  CHECK(es.too_many_recipients(500) == "Demasiados destinatarios: maximo 500 por mensaje");
  CHECK(es.too_many_messages(30, kEpoch + std::chrono::seconds(61)) ==
        "Demasiados mensajes: maximo 30 por minuto; intente de nuevo despues de 2026-11-29 "
        "00:01:01 UTC");
  CHECK(es.daily_quota(10000, kEpoch + std::chrono::hours(24)) ==
        "Cuota diaria de 10000 destinatarios alcanzada; se libera lo suficiente a las "
        "2026-11-30 00:00:00 UTC");
  CHECK(es.sender_domain_not_allowed({"edomex.gob.mx", "isem.gob.mx"}) ==
        "Direccion de remitente no permitida: el dominio debe ser edomex.gob.mx o isem.gob.mx");
  CHECK(es.null_sender() == "No se acepta el remitente vacio de los clientes");
  for (std::size_t i = 0; i < every_text(en).size(); ++i) {
    CHECK(every_text(en)[i] != every_text(es)[i]);
  }
  CHECK(policy_relay::policy::language_from_name("es") == Language::es);
  CHECK(policy_relay::policy::language_from_name("en") == Language::en);
}

TEST_CASE("reply times are UTC and rounded up to the second") {
  CHECK(Catalog::format_utc(kEpoch) == "2026-11-29 00:00:00 UTC");
  CHECK(Catalog::format_utc(kEpoch + std::chrono::milliseconds(1)) == "2026-11-29 00:00:01 UTC");
  CHECK(Catalog::format_utc(kEpoch + std::chrono::hours(23) + std::chrono::minutes(59) +
                            std::chrono::seconds(59)) == "2026-11-29 23:59:59 UTC");
}

TEST_CASE("a long domain list is left out of the reply rather than making it long") {
  const Catalog en(Language::en);
  CHECK(en.sender_domain_not_allowed({std::string(200, 'a') + ".mx"}) ==
        "Sender address not allowed: its domain is not an authorised one");
}
