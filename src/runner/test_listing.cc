#include "runner/test_listing.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <system_error>

#include "base/atomic_file.h"
#include "base/error.h"
#include "spec/toml_spec.h"
#include "spec/value.h"

namespace mael {

namespace {

constexpr const char* kFileName = "test-listing.toml";

bool is_bare_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string toml_key(std::string_view k) {
  return is_bare_key(k) ? std::string(k) : toml_string(k);
}

// Seconds as the shortest decimal that reads back to the same double, never in exponent form.
std::string seconds(std::chrono::nanoseconds d) {
  double s = static_cast<double>(d.count()) / 1e9;
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, s, std::chars_format::fixed);
  std::string out(buf, r.ptr);
  if (out.find('.') == std::string::npos) out += ".0";
  return out;
}

std::chrono::nanoseconds mean(const std::vector<std::chrono::nanoseconds>& ts) {
  auto sum = std::accumulate(ts.begin(), ts.end(), std::chrono::nanoseconds(0));
  return sum / static_cast<int64_t>(ts.size());
}

CaseData parse_case(const Value& v, const SpecContext& ctx) {
  if (!v.is_table()) ctx.fail(v.pos, "a test case entry must be a table, found " + v.describe());
  CaseData c;
  std::optional<CaseOutcome> outcome;
  const Value* timings = nullptr;
  for (const auto& f : v.fields) {
    if (f.key == "timings") {
      timings = &f.value;
    } else if (f.key == "outcome") {
      if (f.value.kind != Value::Kind::String) ctx.fail(f.value.pos, "`outcome` must be a string");
      const std::string& o = f.value.string;
      if (o == "success") {
        outcome = CaseOutcome::Success;
      } else if (o == "failure" || o == "new") {  // "new" with timings should not happen; count it as failed
        outcome = CaseOutcome::Failure;
      } else {
        ctx.fail(f.value.pos, "unknown outcome \"" + o + "\", expected \"success\", \"failure\" or \"new\"");
      }
    } else if (f.value.kind == Value::Kind::String) {
      c.metadata.push_back({f.key, f.value.string});
    } else if (f.value.kind == Value::Kind::Array) {
      std::vector<std::string> items;
      for (const Value& i : f.value.items) {
        if (i.kind != Value::Kind::String) ctx.fail(i.pos, "`" + f.key + "` must be a list of strings");
        items.push_back(i.string);
      }
      c.metadata.push_back({f.key, std::move(items)});
    } else {
      ctx.fail(f.key_pos, "unexpected field `" + f.key + "`");
    }
  }
  if (!timings) ctx.fail(v.pos, "missing field `timings`");
  if (timings->kind != Value::Kind::Array) ctx.fail(timings->pos, "`timings` must be a list of seconds");
  CaseRecord rec;
  rec.outcome = outcome.value_or(CaseOutcome::Success);
  for (const Value& t : timings->items) {
    double secs;
    if (t.kind == Value::Kind::Float) {
      secs = t.number;
    } else if (t.kind == Value::Kind::Int) {
      secs = static_cast<double>(t.integer);
    } else {
      ctx.fail(t.pos, "`timings` must be a list of seconds, found " + t.describe());
    }
    if (!(secs >= 0) || !std::isfinite(secs))
      ctx.fail(t.pos, "a timing must be a non-negative number of seconds");
    rec.timings.push_back(std::chrono::nanoseconds(std::llround(secs * 1e9)));
  }
  if (!rec.timings.empty()) c.when_read = std::move(rec);
  return c;
}

void append_case(std::string& out, const std::string& header, const CaseData& c) {
  out += "\n[" + header + "]\n";
  const CaseRecord* rec = c.this_run ? &*c.this_run : c.when_read ? &*c.when_read : nullptr;
  out += "timings = [";
  if (rec) {
    for (size_t i = 0; i < rec->timings.size(); ++i) out += (i ? ", " : "") + seconds(rec->timings[i]);
  }
  out += "]\n";
  for (const CaseMetadataField& f : c.metadata) {
    out += toml_key(f.key) + " = ";
    if (const auto* s = std::get_if<std::string>(&f.value)) {
      out += toml_string(*s);
    } else {
      const auto& list = std::get<std::vector<std::string>>(f.value);
      out += "[";
      for (size_t i = 0; i < list.size(); ++i) out += (i ? ", " : "") + toml_string(list[i]);
      out += "]";
    }
    out += "\n";
  }
  const char* outcome = !rec ? "new" : rec->outcome == CaseOutcome::Success ? "success" : "failure";
  out += std::string("outcome = \"") + outcome + "\"\n";
}

}  // namespace

std::filesystem::path test_listing_path(const std::filesystem::path& state_dir) {
  return state_dir / kFileName;
}

TestListing TestListing::parse(std::string_view text, const std::string& source, std::string* note) {
  SpecContext ctx(source);
  Value doc = toml_to_value(parse_toml_text(text, source));
  const Value* version = doc.find("version");
  if (!version) ctx.fail({}, "missing `version`; delete the file to start afresh");
  if (version->kind != Value::Kind::Int)
    ctx.fail(version->pos, "`version` is not an integer; delete the file to start afresh");
  TestListing out;
  if (version->integer != kVersion) {
    if (note)
      *note = source + ": version " + std::to_string(version->integer) + " is not " +
              std::to_string(kVersion) + "; starting with an empty test listing";
    return out;
  }
  for (const auto& p : doc.fields) {
    if (p.key == "version") continue;
    if (!p.value.is_table()) ctx.fail(p.key_pos, "package `" + p.key + "` must be a table");
    Package& pkg = out.packages_[p.key];
    for (const auto& a : p.value.fields) {
      if (!a.value.is_table()) ctx.fail(a.key_pos, "artifact `" + a.key + "` must be a table");
      Artifact& art = pkg[a.key];
      for (const auto& c : a.value.fields) art[c.key] = parse_case(c.value, ctx);
    }
  }
  return out;
}

TestListing TestListing::load(const std::filesystem::path& file, std::string* note) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec) && !ec) return {};
    throw UserError(file.string() + ": cannot read the test listing; check its permissions");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), file.string(), note);
}

std::string TestListing::to_toml() const {
  std::string out = "version = " + std::to_string(kVersion) + "\n";
  for (const auto& [pname, pkg] : packages_) {
    if (pkg.empty()) out += "\n[" + toml_key(pname) + "]\n";
    for (const auto& [aname, art] : pkg) {
      std::string prefix = toml_key(pname) + "." + toml_key(aname);
      if (art.empty()) out += "\n[" + prefix + "]\n";
      for (const auto& [cname, c] : art) append_case(out, prefix + "." + toml_key(cname), c);
    }
  }
  return out;
}

void TestListing::save(const std::filesystem::path& file) const {
  auto fail = [&](const std::string& what, int err) {
    throw UserError(file.string() + ": cannot save the test listing: " + what + ": " + std::strerror(err));
  };
  std::error_code ec;
  if (file.has_parent_path()) {
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) fail("creating " + file.parent_path().string(), ec.value());
  }
  std::string text = to_toml();
  try {
    write_file_atomically(file, text, /*durable=*/true);
  } catch (const std::system_error& e) {
    throw UserError(file.string() + ": cannot save the test listing: " + e.what());
  }
}

void TestListing::update_artifact_cases(const std::string& package, const std::string& artifact,
                                        const std::vector<std::pair<std::string, CaseMetadata>>& cases) {
  Artifact& art = packages_[package][artifact];
  Artifact next;
  for (const auto& [name, metadata] : cases) {
    auto it = art.find(name);
    CaseData d = it == art.end() ? CaseData{} : std::move(it->second);
    d.metadata = metadata;
    next[name] = std::move(d);
  }
  art = std::move(next);
}

void TestListing::retain_packages_and_artifacts(const std::map<std::string, std::set<std::string>>& keep) {
  for (auto p = packages_.begin(); p != packages_.end();) {
    auto k = keep.find(p->first);
    if (k == keep.end()) {
      p = packages_.erase(p);
      continue;
    }
    std::erase_if(p->second, [&](const auto& a) { return !k->second.contains(a.first); });
    ++p;
  }
}

void TestListing::update_case(const std::string& package, const std::string& artifact,
                              const std::string& case_name, bool failed, std::chrono::nanoseconds duration) {
  CaseData& c = packages_[package][artifact][case_name];
  CaseOutcome outcome = failed ? CaseOutcome::Failure : CaseOutcome::Success;
  if (!c.this_run) {
    c.this_run =
        CaseRecord{outcome, c.when_read ? c.when_read->timings : std::vector<std::chrono::nanoseconds>{}};
  } else if (failed) {
    c.this_run->outcome = CaseOutcome::Failure;
  }
  auto& ts = c.this_run->timings;
  ts.push_back(duration);
  if (ts.size() > kMaxTimings) ts.erase(ts.begin(), ts.end() - kMaxTimings);
}

std::optional<std::pair<CaseOutcome, std::chrono::nanoseconds>> TestListing::get_case(
    const std::string& package, const std::string& artifact, const std::string& case_name) const {
  auto p = packages_.find(package);
  if (p == packages_.end()) return std::nullopt;
  auto a = p->second.find(artifact);
  if (a == p->second.end()) return std::nullopt;
  auto c = a->second.find(case_name);
  if (c == a->second.end() || !c->second.when_read) return std::nullopt;
  return std::pair(c->second.when_read->outcome, mean(c->second.when_read->timings));
}

ScheduleHint TestListing::schedule_hint(const std::string& package, const std::string& artifact,
                                        const std::string& case_name) const {
  auto c = get_case(package, artifact, case_name);
  if (!c) return {1, std::nullopt};
  return {c->first == CaseOutcome::Success ? 0 : 1, c->second};
}

std::vector<size_t> schedule_order(const std::vector<ScheduleHint>& hints) {
  std::vector<size_t> order(hints.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const ScheduleHint& x = hints[a];
    const ScheduleHint& y = hints[b];
    if (x.priority != y.priority) return x.priority > y.priority;
    return x.estimated_duration > y.estimated_duration;  // nullopt compares below any duration
  });
  return order;
}

}  // namespace mael
