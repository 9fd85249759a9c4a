#include "runner/report_junit.h"

#include <cstdio>
#include <map>
#include <system_error>

#include "base/atomic_file.h"
#include "base/error.h"

namespace mael {

namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_len(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Overlong forms, surrogates, beyond Unicode, and U+FFFE/U+FFFF are not allowed in XML.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return 0;
  return n;
}

std::string seconds(const std::optional<std::chrono::nanoseconds>& d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", d ? std::chrono::duration<double>(*d).count() : 0.0);
  return buf;
}

struct Counts {
  size_t tests = 0, failures = 0, errors = 0, skipped = 0, cached = 0;
  std::chrono::nanoseconds time{0};
  void add(const TestResult& r) {
    ++tests;
    if (r.status == TestStatus::Failure || r.status == TestStatus::TimedOut) ++failures;
    if (r.status == TestStatus::Error) ++errors;
    if (r.status == TestStatus::Ignored) ++skipped;
    if (r.status == TestStatus::Cached) ++cached;
    if (r.duration) time += *r.duration;
  }
  std::string attrs() const {
    return " tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(failures) +
           "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
           "\" time=\"" + seconds(time) + "\"";
  }
};

std::string output_of(const TestResult& r) {
  std::string text;
  if (r.details) text += *r.details + "\n";
  for (const auto& l : r.stdout_lines) text += l + "\n";
  for (const auto& l : r.stderr_lines) text += l + "\n";
  return text;
}

}  // namespace

std::string xml_escape(std::string_view s, bool attribute) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_len(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (n == 1) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        case '\t': out += attribute ? "&#9;" : "\t"; break;
        case '\n': out += attribute ? "&#10;" : "\n"; break;
        case '\r': out += "&#13;"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += kReplacement;
          } else {
            out += static_cast<char>(c);
          }
      }
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string junit_xml(const std::string& name, const std::vector<JUnitCase>& cases) {
  std::vector<std::string> suite_order;
  std::map<std::string, std::vector<const JUnitCase*>> suites;
  Counts total;
  for (const JUnitCase& c : cases) {
    if (!suites.count(c.suite)) suite_order.push_back(c.suite);
    suites[c.suite].push_back(&c);
    total.add(c.result);
  }
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<testsuites name=\"" + xml_escape(name) + "\"" + total.attrs() + ">\n";
  for (const std::string& suite : suite_order) {
    Counts counts;
    for (const JUnitCase* c : suites[suite]) counts.add(c->result);
    x += "  <testsuite name=\"" + xml_escape(suite) + "\"" + counts.attrs() + ">\n";
    if (counts.cached > 0)
      x += "    <properties>\n      <property name=\"cached\" value=\"" + std::to_string(counts.cached) +
           "\"/>\n    </properties>\n";
    for (const JUnitCase* c : suites[suite]) {
      const TestResult& r = c->result;
      x += "    <testcase classname=\"" + xml_escape(c->classname) + "\" name=\"" + xml_escape(c->name) +
           "\" time=\"" + seconds(r.duration) + "\"";
      std::string type = test_status_word(r.status);
      // Failed attempts before this result, as nextest and Surefire write them: flakyFailure
      // under a test that passed at last, rerunFailure under one that never did.
      std::string earlier;
      for (const TestResult& e : r.earlier) {
        const char* tag = r.status == TestStatus::Flaky ? "flakyFailure" : "rerunFailure";
        earlier += std::string("      <") + tag + " message=\"" + xml_escape(e.reason) + "\" type=\"" +
                   test_status_word(e.status) + "\">" + xml_escape(output_of(e), false) + "</" + tag + ">\n";
      }
      switch (r.status) {
        case TestStatus::Ok: x += "/>\n"; continue;
        case TestStatus::Flaky: x += ">\n" + earlier; break;
        case TestStatus::Cached:
          x += ">\n      <system-out>cached: " + xml_escape(r.reason, false) + "</system-out>\n";
          break;
        case TestStatus::Ignored:
          x += ">\n      <skipped/>\n";
          if (r.from_cache) x += "      <system-out>cached: " + xml_escape(r.reason, false) + "</system-out>\n";
          break;
        case TestStatus::Failure:
        case TestStatus::TimedOut:
          x += ">\n      <failure message=\"" + xml_escape(r.reason) + "\" type=\"" + type + "\">" +
               xml_escape(output_of(r), false) + "</failure>\n" + earlier;
          break;
        case TestStatus::Error:
          x += ">\n      <error message=\"" + xml_escape(r.reason) + "\" type=\"" + type + "\">" +
               xml_escape(output_of(r), false) + "</error>\n";
          break;
      }
      x += "    </testcase>\n";
    }
    x += "  </testsuite>\n";
  }
  x += "</testsuites>\n";
  return x;
}

void write_junit_xml(const std::filesystem::path& path, const std::string& name,
                     const std::vector<JUnitCase>& cases) {
  std::string text = junit_xml(name, cases);
  try {
    write_file_atomically(path, text);
  } catch (const std::system_error& e) {
    throw UserError(path.string() + ": cannot write the JUnit report: " + e.code().message());
  }
}

}  // namespace mael
