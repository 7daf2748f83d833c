// POLICY VI.12: files larger than 1 MB should be compressed. An attachment (RFC 2183
// disposition "attachment", or a file name on a part not shown inline) whose decoded size is
// over advice.attachment_threshold and whose type is not already compressed is advised on.
//
// Already compressed (by media type or by file name extension; README "Attachment advice"):
//   archives   zip gz tgz 7z rar bz2 tbz2 xz txz zst lz lzma cab
//   images     jpeg png gif webp heic avif
//   audio      mp3 m4a aac ogg opus flac
//   video      every video/* type; mp4 m4v mov mkv webm avi wmv
//   documents  OOXML (docx xlsx pptx and their macro forms), OpenDocument (odt ods odp),
//              epub, jar, apk: ZIP containers
// PDF is not on the list: its internal compression is optional, and scans are often raw.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

constexpr std::array<std::string_view, 28> kCompressedTypes{
    "application/zip",
    "application/x-zip-compressed",
    "application/gzip",
    "application/x-gzip",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/vnd.rar",
    "application/x-rar",
    "application/x-bzip2",
    "application/x-xz",
    "application/zstd",
    "application/x-compress",
    "application/x-lzma",
    "application/vnd.ms-cab-compressed",
    "image/jpeg",
    "image/pjpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/avif",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/opus",
    "audio/flac",
    "application/epub+zip",
};

constexpr std::array<std::string_view, 9> kCompressedTypePrefixes{
    "video/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.ms-word.document.macroenabled",
    "application/vnd.ms-excel.sheet.macroenabled",
    "application/vnd.ms-powerpoint.presentation.macroenabled",
    "application/vnd.oasis.opendocument.",
    "application/java-archive",
    "application/vnd.android.package-archive",
    "audio/x-m4a",
};

constexpr std::array<std::string_view, 44> kCompressedExtensions{
    "zip",  "gz",   "tgz",  "7z",   "rar",  "bz2",  "tbz2", "xz",   "txz",  "zst",  "lz",
    "lzma", "cab",  "jpg",  "jpeg", "png",  "gif",  "webp", "heic", "avif", "mp3",  "m4a",
    "aac",  "ogg",  "opus", "flac", "mp4",  "m4v",  "mov",  "mkv",  "webm", "avi",  "wmv",
    "docx", "xlsx", "pptx", "docm", "xlsm", "pptm", "odt",  "ods",  "odp",  "epub", "jar",
};

std::string extension_of(std::string_view filename) {
  const std::size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos) {
    return "";
  }
  std::string extension(filename.substr(dot + 1));
  std::transform(extension.begin(), extension.end(), extension.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return extension;
}

}  // namespace

bool is_compressed_format(std::string_view content_type, std::string_view filename) {
  if (std::find(kCompressedTypes.begin(), kCompressedTypes.end(), content_type) !=
      kCompressedTypes.end()) {
    return true;
  }
  for (std::string_view prefix : kCompressedTypePrefixes) {
    if (content_type.starts_with(prefix)) {
      return true;
    }
  }
  const std::string extension = extension_of(filename);
  return !extension.empty() && std::find(kCompressedExtensions.begin(), kCompressedExtensions.end(),
                                         extension) != kCompressedExtensions.end();
}

namespace {

class AttachmentAdvice final : public Rule {
 public:
  std::string_view name() const override { return "attachment_advice"; }
  std::string_view clause() const override { return "VI.12"; }
  unsigned stages() const override { return stage_message; }
  bool enabled(const config::Config& config) const override {
    return config.advice.attachment_action != config::AdviceAction::off;
  }

  Verdict check_message(RuleContext& context, const mime::MessageAnalysis& analysis) override {
    const config::AdviceConfig& advice = context.config.advice;
    if (advice.attachment_action == config::AdviceAction::off) {
      return Verdict::accept();
    }
    const mime::Part* largest = nullptr;
    std::size_t count = 0;
    for (const mime::Part& part : analysis.parts) {
      if (part.is_attachment() && part.decoded_size > advice.attachment_threshold &&
          !is_compressed_format(part.content_type, part.filename)) {
        ++count;
        if (largest == nullptr || part.decoded_size > largest->decoded_size) {
          largest = &part;
        }
      }
    }
    if (largest == nullptr) {
      return Verdict::accept();
    }
    if (advice.attachment_action == config::AdviceAction::reject) {
      return refuse(Decision::reject, 550, "5.7.1",
                    context.catalog.uncompressed_attachment(advice.attachment_threshold));
    }
    Advice note;
    note.rule = name();
    note.clause = clause();
    note.action = advice.attachment_action;
    note.header = fmt::format("attachment; uncompressed-attachments={}; largest={}; threshold={}",
                              count, largest->decoded_size, advice.attachment_threshold);
    note.fields = {{"attachments", std::to_string(count)},
                   {"largest", std::to_string(largest->decoded_size)},
                   {"type", largest->content_type},
                   {"threshold", std::to_string(advice.attachment_threshold)}};
    note.notice = context.catalog.attachment_notice(largest->filename, largest->decoded_size,
                                                    advice.attachment_threshold);
    context.state.advice.push_back(std::move(note));
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_attachment_advice() {
  return std::make_unique<AttachmentAdvice>();
}

}  // namespace policy_relay::policy::rules
