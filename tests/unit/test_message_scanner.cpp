// The message analysis on the corpus (tests/corpus): structure, headers, file names and
// decoded sizes of real mailers' messages, fed in pieces of every awkward size.
#include <doctest/doctest.h>

#include <string>

#include "mime_test_support.hpp"
#include "policy_relay/mime/header_fields.hpp"

using policy_relay::mime::MessageAnalysis;
using policy_relay::mime::Part;
using test_support::corpus_message;
using test_support::scan;

namespace {

constexpr std::size_t kPieces[] = {1, 3, 77, 4096, 1 << 20};

}  // namespace

TEST_CASE("Outlook: mixed > related > alternative with an inline image and a PDF attachment") {
  const std::string message = corpus_message("outlook_mixed_related.eml");
  for (std::size_t piece : kPieces) {
    CAPTURE(piece);
    const MessageAnalysis analysis = scan(message, piece);
    CHECK(analysis.malformed == 0);
    CHECK(analysis.size == message.size());
    REQUIRE(analysis.parts.size() == 7);
    CHECK(analysis.part_count == 7);
    const std::vector<Part>& parts = analysis.parts;
    CHECK(parts[0].content_type == "multipart/mixed");
    CHECK(parts[0].multipart);
    CHECK(parts[1].content_type == "multipart/related");
    CHECK(parts[2].content_type == "multipart/alternative");
    CHECK(parts[2].depth == 2);
    CHECK(parts[3].content_type == "text/plain");
    CHECK(parts[3].depth == 3);
    CHECK(parts[3].transfer_encoding == "base64");
    CHECK(parts[3].decoded_size == 73);
    CHECK_FALSE(parts[3].is_attachment());
    CHECK(parts[4].content_type == "text/html");
    CHECK(parts[4].transfer_encoding == "quoted-printable");
    CHECK(parts[5].content_type == "image/png");
    CHECK(parts[5].disposition == "inline");
    CHECK(parts[5].filename == "image001.png");
    CHECK(parts[5].decoded_size == 3008);
    CHECK_FALSE(parts[5].is_attachment());
    CHECK(parts[6].content_type == "application/pdf");
    CHECK(parts[6].disposition == "attachment");
    CHECK(parts[6].filename == "Informe trimestral de operaci\xC3\xB3n.pdf");  // RFC 2047 in quotes
    CHECK(parts[6].decoded_size == 20009);
    CHECK(parts[6].depth == 1);
    CHECK(parts[6].is_attachment());
  }
}

TEST_CASE("Outlook: encoded-word and quoted display names, folded To and Cc, duplicates once") {
  const MessageAnalysis analysis = scan(corpus_message("outlook_mixed_related.eml"));
  REQUIRE(analysis.from.size() == 1);
  CHECK(analysis.from[0].address == "jose.martinez@edomex.gob.mx");
  CHECK(analysis.from[0].display_name == "Jos\xC3\xA9 Luis Mart\xC3\xADnez");
  REQUIRE(analysis.to.size() == 4);
  CHECK(analysis.to[0].display_name == "Perez, Ana");
  CHECK(analysis.to[1].address == "carlos.ruiz@edomex.gob.mx");
  CHECK(analysis.to[1].display_name == "Ruiz Gomez, Carlos");
  CHECK(analysis.to[3].display_name ==
        "Luc\xC3\xAD"
        "a Hern\xC3\xA1ndez");  // ISO-8859-1 Q
  REQUIRE(analysis.cc.size() == 3);
  CHECK(analysis.cc[2].display_name == "Ra\xC3\xBAl S\xC3\xA1nchez");
  // ana.perez appears in To and (upper-cased) in Cc: 7 addresses, 6 people.
  CHECK(analysis.visible_recipient_count() == 6);
}

TEST_CASE("Thunderbird: RFC 2231 continued file names, 8bit text and a quoted-printable CSV") {
  for (std::size_t piece : kPieces) {
    CAPTURE(piece);
    const MessageAnalysis analysis = scan(corpus_message("thunderbird_mixed.eml"), piece);
    CHECK(analysis.malformed == 0);
    REQUIRE(analysis.parts.size() == 4);
    CHECK(analysis.parts[1].transfer_encoding == "8bit");
    CHECK(analysis.parts[1].decoded_size == 79);
    const Part& sheet = analysis.parts[2];
    CHECK(sheet.content_type ==
          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    CHECK(sheet.filename == "Presupuesto Direcci\xC3\xB3n General de Sistemas 2027.xlsx");
    CHECK(sheet.decoded_size == 5000);
    CHECK(sheet.is_attachment());
    const Part& csv = analysis.parts[3];
    CHECK(csv.filename == "gastos.csv");
    CHECK(csv.transfer_encoding == "quoted-printable");
    CHECK(csv.decoded_size == 688);  // 29 lines: 659 octets and CRLF line breaks
    CHECK(csv.is_attachment());
  }
  const MessageAnalysis analysis = scan(corpus_message("thunderbird_mixed.eml"));
  CHECK(analysis.from[0].display_name == "Ana P\xC3\xA9rez");
  CHECK(analysis.visible_recipient_count() == 2);
}

TEST_CASE("Apple Mail: alternative > related, soft line breaks, unquoted inline file name") {
  for (std::size_t piece : kPieces) {
    CAPTURE(piece);
    const MessageAnalysis analysis = scan(corpus_message("apple_mail.eml"), piece);
    CHECK(analysis.malformed == 0);
    REQUIRE(analysis.parts.size() == 5);
    CHECK(analysis.parts[0].content_type == "multipart/alternative");
    // "Les env\xC3\xADo las fotos del evento de ayer. " CRLF CRLF "Roberto" (soft break):
    // 41 + 2 + 2 + 7 octets.
    CHECK(analysis.parts[1].decoded_size == 52);
    CHECK(analysis.parts[3].content_type == "text/html");
    CHECK(analysis.parts[3].decoded_size == 83);
    const Part& image = analysis.parts[4];
    CHECK(image.content_type == "image/jpeg");
    CHECK(image.filename == "IMG_0412.jpeg");
    CHECK(image.disposition == "inline");
    CHECK(image.decoded_size == 8000);
    CHECK_FALSE(image.is_attachment());
  }
}

TEST_CASE("groups are expanded, empty groups add nothing, quoted-pairs and comments are handled") {
  const MessageAnalysis analysis = scan(corpus_message("groups_and_names.eml"));
  CHECK(analysis.malformed == 0);
  REQUIRE(analysis.to.size() == 2);
  CHECK(analysis.to[0].group == "Directores");
  CHECK(analysis.to[0].display_name == "Diaz, Roberto");
  CHECK(analysis.to[1].display_name == "M\xC3\xB3nica R\xC3\xADos");
  REQUIRE(analysis.cc.size() == 3);
  CHECK(analysis.cc[0].display_name == "Comite \"Tecnico\"");
  CHECK(analysis.cc[2].address == "soporte@edomex.gob.mx");
  CHECK(analysis.from[0].display_name == "Ochoa, Laura (DGSEI)");
  CHECK(analysis.visible_recipient_count() == 4);  // Roberto twice, in two cases
}

TEST_CASE("a multipart without boundary is read as one body and reported malformed") {
  const MessageAnalysis analysis = scan(corpus_message("missing_boundary.eml"));
  CHECK(analysis.malformation_names() == "missing_boundary");
  REQUIRE(analysis.parts.size() == 1);
  CHECK_FALSE(analysis.parts[0].multipart);
  CHECK(analysis.parts[0].decoded_size == 51);
  CHECK(analysis.to.size() == 1);
}

TEST_CASE("a truncated message keeps the parts seen so far and is reported unclosed") {
  const MessageAnalysis analysis = scan(corpus_message("truncated.eml"), 5);
  CHECK(analysis.malformation_names() == "unclosed_multipart");
  REQUIRE(analysis.parts.size() == 3);
  CHECK(analysis.parts[2].filename == "cortado.pdf");
  CHECK(analysis.parts[2].decoded_size == 1200);
}

TEST_CASE("a line that is no header field ends the header section (as in Postfix)") {
  const MessageAnalysis analysis = scan(corpus_message("broken_headers.eml"));
  CHECK(analysis.malformation_names() == "header_line");
  CHECK(analysis.to.size() == 2);
  CHECK(analysis.cc.empty());  // after the broken line: body
  REQUIRE(analysis.parts.size() == 1);
  CHECK(analysis.parts[0].decoded_size == 79);
}

TEST_CASE("50 nested multiparts: the first 32 levels are listed, the rest read as a body") {
  const MessageAnalysis analysis = scan(corpus_message("nested_50.eml"), 64);
  CHECK(analysis.malformation_names() == "too_deep");
  CHECK(analysis.parts.size() == 33);
  CHECK(analysis.parts.back().depth == 32);
  CHECK_FALSE(analysis.parts.back().multipart);
  CHECK(analysis.to.size() == 1);
}

TEST_CASE("a one-megabyte header field is cut at the bound and streamed, not held") {
  std::string message = "From: a@edomex.gob.mx\r\nSubject: " + std::string(1 << 20, 'x') +
                        "\r\nTo: " + std::string(1 << 20, ' ') + "b@edomex.gob.mx\r\n\r\nhi\r\n";
  const MessageAnalysis analysis = scan(message, 65536);
  CHECK(analysis.malformation_names() == "header_too_long");
  CHECK(analysis.from.size() == 1);
  CHECK(analysis.parts.size() == 1);
  CHECK(analysis.parts[0].decoded_size == 4);  // "hi" CRLF: the last line ending is the body's
  // A folded To of 60,000 addresses: what fits in the bound is counted.
  std::string long_to = "From: a@edomex.gob.mx\r\nTo: ";
  for (int i = 0; i < 60000; ++i) {
    long_to += "user" + std::to_string(i) + "@edomex.gob.mx,\r\n ";
  }
  long_to += "last@edomex.gob.mx\r\n\r\nbody\r\n";
  const MessageAnalysis cut = scan(long_to, 8192);
  CHECK(cut.malformation_names() == "header_too_long");
  CHECK(cut.to.size() > 5000);
  CHECK(cut.to.size() < 60000);
}

TEST_CASE("a message ending inside a part's headers, and an empty message, are analysed") {
  const MessageAnalysis empty = scan("");
  CHECK(empty.parts.size() == 1);
  CHECK(empty.malformed == 0);
  const MessageAnalysis cut =
      scan("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/pl");
  CHECK(cut.malformation_names() == "unclosed_multipart,truncated_headers");
  CHECK(cut.parts.size() == 2);
}

TEST_CASE("a single-part body is counted whole, boundary-like and long lines included") {
  const std::string body = "line one\r\n--b\r\n--b--\r\n" + std::string(5000, 'x') +
                           "\r\nbare\nlf\r\nlast line without its end";
  for (const std::string& headers : {std::string("From: a@edomex.gob.mx\r\nSubject: plain\r\n\r\n"),
                                     std::string("Content-Type: text/plain; charset=utf-8\r\n"
                                                 "Content-Transfer-Encoding: 8bit\r\n\r\n")}) {
    const std::string message = headers + body;
    for (const std::size_t piece : kPieces) {
      CAPTURE(piece);
      const MessageAnalysis analysis = scan(message, piece);
      CHECK(analysis.malformed == 0);
      CHECK(analysis.size == message.size());
      REQUIRE(analysis.parts.size() == 1);
      CHECK(analysis.parts[0].content_type == "text/plain");
      CHECK(analysis.parts[0].encoded_size == body.size());
      CHECK(analysis.parts[0].decoded_size == body.size());
    }
  }
}

TEST_CASE("only listed parts are kept: thousands of parts are counted, memory stays bounded") {
  std::string message = "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
  for (int i = 0; i < 3000; ++i) {
    message += "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  }
  message += "--b--\r\n";
  const MessageAnalysis analysis = scan(message);
  CHECK(analysis.parts.size() == 1000);
  CHECK(analysis.part_count == 3001);
  CHECK(analysis.malformation_names() == "too_many_parts");
}

TEST_CASE("address lists: the fast path for the common shapes reads what mimetic reads") {
  using policy_relay::mime::Address;
  using policy_relay::mime::parse_address_list;
  using policy_relay::mime::detail::parse_address_list_with_mimetic;
  // The shapes the fast path takes, and near misses it must leave to mimetic.
  const std::string_view values[] = {
      "",
      "   ",
      "ana@edomex.gob.mx",
      " ana@edomex.gob.mx ",
      "ana@edomex.gob.mx, carlos.ruiz@edomex.gob.mx,\tsoporte+it@example.org",
      "Ana Perez <ana@edomex.gob.mx>",
      "Ana Perez<ana@edomex.gob.mx>",
      "<ana@edomex.gob.mx>",
      "  Ana\tPerez   <ana@edomex.gob.mx> , Carlos <c@x.mx>",
      "Ana  Perez <ana@edomex.gob.mx>",
      "a.b.c@d.e.f, x!#$%&'*+-/=?^_`{|}~y@z.org",
      "\"Perez, Ana\" <ana@edomex.gob.mx>",
      "Ana (DGSEI) <ana@edomex.gob.mx>",
      "ana@edomex.gob.mx (Ana Perez)",
      "Directores: roberto@edomex.gob.mx, monica@edomex.gob.mx;",
      "=?UTF-8?Q?Ra=C3=BAl?= <raul@edomex.gob.mx>",
      "Ra\xC3\xBAl <raul@edomex.gob.mx>",
      "ana@edomex.gob.mx,,carlos@edomex.gob.mx",
      "ana@edomex.gob.mx,",
      "ana..b@edomex.gob.mx",
      ".ana@edomex.gob.mx",
      "ana@",
      "@edomex.gob.mx",
      "ana",
      "ana@edomex.gob.mx <carlos@edomex.gob.mx>",
      "Ana <ana@edomex.gob.mx",
      "Ana ana@edomex.gob.mx>",
      "Ana <ana@edomex.gob.mx> trailing",
      "Dr. Ana <ana@edomex.gob.mx>",
      "<@route.mx:ana@edomex.gob.mx>",
      "ana@[192.0.2.1]",
      "\"ana perez\"@edomex.gob.mx",
      "ana@edomex.gob.mx\r\n",
  };
  for (const std::string_view value : values) {
    CAPTURE(value);
    const std::vector<Address> fast = parse_address_list(value);
    const std::vector<Address> reference = parse_address_list_with_mimetic(value);
    REQUIRE(fast.size() == reference.size());
    for (std::size_t i = 0; i < fast.size(); ++i) {
      CAPTURE(i);
      CHECK(fast[i].address == reference[i].address);
      CHECK(fast[i].display_name == reference[i].display_name);
      CHECK(fast[i].group == reference[i].group);
    }
  }
  // What the fast path reads, spelled out.
  const std::vector<Address> two =
      parse_address_list("Ana Perez <ana@edomex.gob.mx>, carlos@edomex.gob.mx");
  REQUIRE(two.size() == 2);
  CHECK(two[0].address == "ana@edomex.gob.mx");
  CHECK(two[0].display_name == "Ana Perez");
  CHECK(two[1].address == "carlos@edomex.gob.mx");
  CHECK(two[1].display_name.empty());
}

TEST_CASE("visible recipients are counted once whatever their case, in short and long lists") {
  using policy_relay::mime::Address;
  for (const std::size_t listed : {0U, 1U, 2U, 31U, 32U, 33U, 200U}) {
    CAPTURE(listed);
    MessageAnalysis analysis;
    std::size_t expected = 0;
    for (std::size_t i = 0; i < listed; ++i) {
      // Every third address repeats an earlier one in upper case, across To and Cc.
      const bool repeat = i % 3 == 2;
      std::string address = "user" + std::to_string(repeat ? i - 1 : i) + "@edomex.gob.mx";
      if (repeat) {
        for (char& c : address) {
          c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
      } else {
        ++expected;
      }
      (i % 2 == 0 ? analysis.to : analysis.cc).push_back(Address{address, "", ""});
    }
    CHECK(analysis.visible_recipient_count() == expected);
  }
}
