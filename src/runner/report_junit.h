#pragma once
// JUnit XML test reports (beyond Maelstrom), in the shape CI systems read:
//   <testsuites name=PROGRAM tests failures errors skipped time>
//     <testsuite name=SUITE ...>            one per package/artifact, in first-seen order
//       <testcase classname name time>
//         <failure message type>output</failure>   FAIL and TIMEOUT
//         <error message type/>                    ERR
//         <skipped/>                               IGNORED
//         <system-out>cached: ...</system-out>     CACHED (a pass, not run this time)
//       a testsuite with cached tests has <properties><property name="cached" value="N"/>
// Text is XML-escaped; bytes that XML cannot carry (bad UTF-8, control characters) become U+FFFD.
#include <filesystem>
#include <string>
#include <vector>

#include "runner/report_result.h"

namespace mael {

struct JUnitCase {
  std::string suite;      // e.g. "package artifact"
  std::string classname;  // e.g. the package or module path
  std::string name;       // the test case
  TestResult result;
};

std::string junit_xml(const std::string& name, const std::vector<JUnitCase>& cases);
// Writes junit_xml atomically to `path`; throws UserError naming the file on failure.
void write_junit_xml(const std::filesystem::path& path, const std::string& name,
                     const std::vector<JUnitCase>& cases);

// Escapes for XML attribute values (attribute = true: tabs and newlines as character
// references) or text.
std::string xml_escape(std::string_view s, bool attribute = true);

}  // namespace mael
