#include "pytest/warm_batches.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/error.h"
#include "base/log.h"
#include "pytest/warm_script.h"

namespace mael {

namespace {

JobOutput output_of(const nlohmann::json& rec, const char* key) {
  JobOutput o;
  if (auto it = rec.find(key); it != rec.end() && it->is_string()) o.first = base64_decode(it->get<std::string>());
  std::string lost = std::string(key) + "_lost";
  if (auto it = rec.find(lost); it != rec.end() && it->is_number_unsigned()) o.truncated = it->get<uint64_t>();
  return o;
}

// The fresh job without its item (the last argument), and without what the run loop sets per
// job: what jobs of one batch share.
JobSpec group_key(const JobSpec& spec) {
  JobSpec k = spec;
  if (!k.arguments.empty()) k.arguments.pop_back();
  k.priority = 0;
  k.estimated_duration.reset();
  return k;
}

}  // namespace

WarmOutput parse_warm_output(std::string_view text) {
  WarmOutput w;
  size_t pos = 0;
  while ((pos = text.find(kWarmRecordPrefix, pos)) != std::string_view::npos) {
    size_t start = pos + kWarmRecordPrefix.size();
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) break;  // cut at the inline limit
    pos = end;
    nlohmann::json rec = nlohmann::json::parse(text.substr(start, end - start), nullptr, false);
    if (rec.is_discarded() || !rec.is_object()) continue;
    if (auto it = rec.find("isolation"); it != rec.end()) {
      w.isolation_problem = it->is_string() ? it->get<std::string>() : "unknown";
      continue;
    }
    if (auto it = rec.find("collection"); it != rec.end()) {
      w.collection_failed = it->is_number_integer() ? it->get<int>() : -1;
      continue;
    }
    auto item = rec.find("item");
    if (item == rec.end() || !item->is_string() || rec.contains("missing")) continue;
    JobOutcome o;
    if (rec.value("timeout", false)) {
      o.result = TimedOut{};
    } else if (auto s = rec.find("signal"); s != rec.end() && s->is_number_integer()) {
      o.result = Signaled{s->get<int>()};
    } else if (auto e = rec.find("exit"); e != rec.end() && e->is_number_integer()) {
      o.result = Exited{e->get<int>()};
    } else {
      continue;
    }
    o.effects.stdout_ = output_of(rec, "out");
    o.effects.stderr_ = output_of(rec, "err");
    if (auto ns = rec.find("ns"); ns != rec.end() && ns->is_number_unsigned())
      o.effects.duration = std::chrono::nanoseconds(ns->get<uint64_t>());
    w.outcomes[item->get<std::string>()].push_back(std::move(o));
  }
  return w;
}

WarmBatcher::WarmBatcher(JobSubmitter inner, WarmPlan plan)
    : inner_(std::move(inner)), plan_(std::move(plan)), flusher_([this] { flush_loop(); }) {}

WarmBatcher::~WarmBatcher() {
  {
    std::lock_guard lk(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  flusher_.join();
}

std::optional<uint64_t> WarmBatcher::submit(const JobSpec& spec, std::function<void(JobState)> on_state,
                                            std::function<void(JobOutcome)> on_done, const JobAdmit& admit) {
  std::optional<std::string> item = plan_.item_of(spec);
  if (!item) return inner_(spec, std::move(on_state), std::move(on_done), admit);
  if (admit) {
    // Resolve the item's own job (layers are memoized: cheap) only to ask; it never runs as such.
    bool runs = true;
    inner_(spec, [](JobState) {}, [](JobOutcome) {}, [&](const ResolvedJob& r) {
      runs = admit(r);
      return false;
    });
    if (!runs) return std::nullopt;
  }
  JobSpec key = group_key(spec);
  std::lock_guard lk(mu_);
  auto g = std::find_if(groups_.begin(), groups_.end(), [&](const Group& x) { return x.key == key; });
  if (g == groups_.end()) {
    groups_.push_back(Group{std::move(key), {}, {}});
    g = groups_.end() - 1;
  }
  g->members.push_back(Member{std::move(*item), spec, std::move(on_state), std::move(on_done)});
  g->last_added = std::chrono::steady_clock::now();
  if (spec.estimated_duration) g->known += *spec.estimated_duration;
  if (g->members.size() >= plan_.batch || g->known >= plan_.batch_time) {
    // Full: a batch of its own now (the group starts again empty), so that large suites stream.
    Group full{g->key, std::move(g->members), g->last_added, g->known};
    groups_.erase(g);
    full_.push_back(std::move(full));
  }
  cv_.notify_all();
  // Ids the client never gave out: cancelling one (only dropped holds do) finds no job.
  return (uint64_t{1} << 61) | ++next_id_;
}

void WarmBatcher::flush_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    if (!again_.empty()) {
      std::vector<Member> again = std::move(again_);
      again_.clear();
      lk.unlock();
      for (const auto& m : again) run_fresh(m);
      lk.lock();
      continue;
    }
    if (!full_.empty()) {
      std::vector<Group> full = std::move(full_);
      full_.clear();
      lk.unlock();
      for (auto& g : full) launch_chunk(g.key, std::move(g.members));
      lk.lock();
      continue;
    }
    if (groups_.empty()) {
      if (closing_) return;
      cv_.wait(lk);
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    std::vector<Group> ready;
    for (auto it = groups_.begin(); it != groups_.end();) {
      if (closing_ || now - it->last_added >= plan_.gather) {
        ready.push_back(std::move(*it));
        it = groups_.erase(it);
      } else {
        ++it;
      }
    }
    if (ready.empty()) {
      cv_.wait_for(lk, plan_.gather);
      continue;
    }
    lk.unlock();
    for (auto& g : ready) launch(std::move(g));
    lk.lock();
  }
}

void WarmBatcher::launch(Group g) {
  // What is left of a group when its items stop coming (fewer than a batch): spread over the
  // slots when there are enough to share, in chunks of nearly equal size.
  size_t n = g.members.size();
  size_t slots = std::max<size_t>(plan_.slots, 1);
  size_t chunk = std::max<size_t>((n + slots - 1) / slots, std::min<size_t>(n, 4));
  size_t k = (n + chunk - 1) / chunk;
  size_t at = 0;
  for (size_t i = 0; i < k; ++i) {
    size_t size = n / k + (i < n % k ? 1 : 0);
    std::vector<Member> part(std::make_move_iterator(g.members.begin() + static_cast<ptrdiff_t>(at)),
                             std::make_move_iterator(g.members.begin() + static_cast<ptrdiff_t>(at + size)));
    at += size;
    launch_chunk(g.key, std::move(part));
  }
}

void WarmBatcher::launch_chunk(const JobSpec& key, std::vector<Member> members) {
  if (members.size() == 1) {  // nothing to share: the fresh job as it is
    run_fresh(members.front());
    return;
  }
  std::vector<std::string> items;
  int32_t priority = members.front().spec.priority;
  std::optional<std::chrono::milliseconds> estimate;
  for (const auto& m : members) {
    items.push_back(m.item);
    priority = std::max(priority, m.spec.priority);
    if (m.spec.estimated_duration) estimate = estimate.value_or(std::chrono::milliseconds(0)) + *m.spec.estimated_duration;
  }
  JobSpec batch = plan_.batch_job(members.front().spec, items);
  batch.priority = priority;
  batch.estimated_duration = estimate;
  if (key.timeout) batch.timeout = *key.timeout * static_cast<int64_t>(members.size() + 1);
  else batch.timeout.reset();
  auto shared = std::make_shared<std::vector<Member>>(std::move(members));
  try {
    inner_(
        batch,
        [shared](JobState s) {
          if (s == JobState::Completed) return;  // each member's own outcome says so
          for (const auto& m : *shared) m.on_state(s);
        },
        [this, shared](JobOutcome o) { finish(*shared, o); }, nullptr);
  } catch (const UserError& e) {
    for (const auto& m : *shared) m.on_done(JobOutcome{JobError{JobErrorKind::System, e.what()}, {}});
  }
}

void WarmBatcher::finish(const std::vector<Member>& members, const JobOutcome& outcome) {
  if (std::holds_alternative<JobError>(outcome.result)) {
    // The batch could not run (a layer, the container): a fresh job would fail the same way.
    for (const auto& m : members) m.on_done(outcome);
    return;
  }
  WarmOutput w = parse_warm_output(outcome.effects.stdout_.first);
  if (w.isolation_problem) log::warn("warm pytest processes cannot isolate their tests here ({}): each test runs in "
                                     "a fresh interpreter", *w.isolation_problem);
  std::map<std::string, size_t> used;
  size_t fresh = 0;
  for (const auto& m : members) {
    auto it = w.outcomes.find(m.item);
    size_t& u = used[m.item];
    if (!w.isolation_problem && it != w.outcomes.end() && u < it->second.size()) {
      m.on_state(JobState::Completed);
      m.on_done(it->second[u++]);
    } else {
      // Submitted from the gathering thread, not from within the client's callback.
      ++fresh;
      std::lock_guard lk(mu_);
      again_.push_back(m);
    }
  }
  if (fresh) cv_.notify_all();
  if (fresh && !w.isolation_problem)
    log::debug("{} of {} items of a warm batch run again fresh", fresh, members.size());
}

void WarmBatcher::run_fresh(const Member& m) {
  try {
    inner_(m.spec, m.on_state, m.on_done, nullptr);
  } catch (const UserError& e) {
    m.on_done(JobOutcome{JobError{JobErrorKind::System, e.what()}, {}});
  }
}

}  // namespace mael
