#pragma once
// A list of strings shared by its copies. Layer specs are copied into every job, and a paths
// layer may name thousands of files (a Python interpreter and its packages): copying that list
// and turning it into a memo key for each of thousands of jobs cost more than the jobs. Reads
// see a vector; a change copies it first when another copy shares it. Its digest, the list's
// identity in keys, is computed once per list.
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mael {

class SharedStrings {
 public:
  SharedStrings() : SharedStrings(std::vector<std::string>{}) {}
  SharedStrings(std::vector<std::string> items);  // NOLINT: implicit, as the vector it stands for
  SharedStrings(std::initializer_list<std::string> items) : SharedStrings(std::vector<std::string>(items)) {}

  const std::vector<std::string>& items() const { return block_->items; }
  operator const std::vector<std::string>&() const { return items(); }  // NOLINT: reads as a vector
  auto begin() const { return items().begin(); }
  auto end() const { return items().end(); }
  size_t size() const { return items().size(); }
  bool empty() const { return items().empty(); }
  const std::string& operator[](size_t i) const { return items()[i]; }

  // The list to change, this copy's own from now on.
  std::vector<std::string>& mutate();
  void push_back(std::string s) { mutate().push_back(std::move(s)); }

  // SHA-256 (hex) of the length-prefixed strings: equal exactly for equal lists.
  const std::string& digest() const;

  bool operator==(const SharedStrings& other) const {
    return block_ == other.block_ || items() == other.items();
  }

 private:
  struct Block {
    std::vector<std::string> items;
    std::mutex mu;       // guards digest
    std::string digest;  // empty until asked for
  };
  std::shared_ptr<Block> block_;
};

}  // namespace mael
