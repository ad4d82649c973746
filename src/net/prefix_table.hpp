// Longest-prefix-match table over IPv4 and IPv6 prefixes.
//
// A path-compressed binary trie per family in the style of WireGuard's allowedips.c: every node
// holds a prefix (key + length); a child extends its parent's prefix and sits on the side of the
// first bit after it. Nodes with a value are routes; nodes without one only exist where two routes
// diverge. A lookup walks at most one node per address bit, compares whole prefixes with two 64-bit
// operations and never allocates. Insert and erase allocate or free at most two nodes.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "net/ip_addr.hpp"

namespace fz::net {

template <class T>
class PrefixTable {
 public:
  PrefixTable() = default;
  PrefixTable(PrefixTable&&) noexcept = default;
  PrefixTable& operator=(PrefixTable&&) noexcept = default;
  PrefixTable(const PrefixTable& other)
      : v4_(clone(other.v4_)), v6_(clone(other.v6_)), size_(other.size_) {}
  PrefixTable& operator=(const PrefixTable& other) {
    if (this != &other) {
      PrefixTable copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  ~PrefixTable() = default;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    v4_.reset();
    v6_.reset();
    size_ = 0;
  }

  // Inserts or replaces the value for `prefix`. Returns true if the prefix was new.
  bool insert(const Cidr& prefix, T value) {
    const Key key = Key::from(prefix.network());
    const unsigned bits = prefix.prefix_len();
    std::unique_ptr<Node>* slot = &root(prefix.family());
    for (;;) {
      Node* node = slot->get();
      if (node == nullptr) {
        *slot = std::make_unique<Node>(key, bits, std::move(value));
        ++size_;
        return true;
      }
      const unsigned common = common_bits(node->key, key, std::min(node->bits, bits));
      if (common == node->bits) {
        if (node->bits == bits) {
          const bool was_new = !node->value.has_value();
          node->value = std::move(value);
          size_ += was_new ? 1 : 0;
          return was_new;
        }
        slot = &node->child[key.bit(node->bits)];
        continue;
      }
      // `node` does not cover the new prefix: a new node goes in its place.
      std::unique_ptr<Node> displaced = std::move(*slot);
      if (common == bits) {
        // The new prefix covers the displaced subtree.
        auto fresh = std::make_unique<Node>(key, bits, std::move(value));
        fresh->child[displaced->key.bit(bits)] = std::move(displaced);
        *slot = std::move(fresh);
      } else {
        // They diverge after `common` bits: an internal node without value joins them.
        auto joint = std::make_unique<Node>(key.masked(common), common);
        const int side = key.bit(common);
        joint->child[side] = std::make_unique<Node>(key, bits, std::move(value));
        joint->child[1 - side] = std::move(displaced);
        *slot = std::move(joint);
      }
      ++size_;
      return true;
    }
  }

  // Removes `prefix` (exact match). Returns true if it was present.
  bool erase(const Cidr& prefix) {
    if (!erase_in(root(prefix.family()), Key::from(prefix.network()), prefix.prefix_len())) {
      return false;
    }
    --size_;
    return true;
  }

  // The value stored for exactly `prefix`.
  T* find(const Cidr& prefix) { return const_cast<T*>(std::as_const(*this).find(prefix)); }
  const T* find(const Cidr& prefix) const {
    const Key key = Key::from(prefix.network());
    const unsigned bits = prefix.prefix_len();
    const Node* node = root(prefix.family()).get();
    while (node != nullptr && node->bits <= bits) {
      if (common_bits(node->key, key, node->bits) != node->bits) return nullptr;
      if (node->bits == bits) return node->value ? &*node->value : nullptr;
      node = node->child[key.bit(node->bits)].get();
    }
    return nullptr;
  }
  bool contains(const Cidr& prefix) const { return find(prefix) != nullptr; }

  // The value of the longest prefix containing `address`, or nullptr.
  T* longest_match(const IpAddr& address) {
    const Node* node = match_node(address);
    return node ? const_cast<T*>(&*node->value) : nullptr;
  }
  const T* longest_match(const IpAddr& address) const {
    const Node* node = match_node(address);
    return node ? &*node->value : nullptr;
  }
  // The matching prefix together with its value.
  std::optional<std::pair<Cidr, const T*>> longest_match_entry(const IpAddr& address) const {
    const Node* node = match_node(address);
    if (node == nullptr) return std::nullopt;
    return std::pair<Cidr, const T*>{node->prefix(address.family()), &*node->value};
  }

  // Calls fn(const Cidr&, T&) for every entry: IPv4 before IPv6, ordered by network address and
  // then by prefix length. `fn` must not modify the table's structure.
  template <class Fn>
  void for_each(Fn&& fn) {
    visit(v4_.get(), IpFamily::v4, fn);
    visit(v6_.get(), IpFamily::v6, fn);
  }
  template <class Fn>
  void for_each(Fn&& fn) const {
    visit(static_cast<const Node*>(v4_.get()), IpFamily::v4, fn);
    visit(static_cast<const Node*>(v6_.get()), IpFamily::v6, fn);
  }

 private:
  // A 128-bit key in two host-order halves so prefix comparisons are word operations.
  struct Key {
    std::uint64_t hi = 0, lo = 0;

    static Key from(const IpAddr& address) {
      const auto& raw = address.raw();
      return Key{load_be64(raw.data()), load_be64(raw.data() + 8)};
    }
    int bit(unsigned index) const {
      return index < 64 ? static_cast<int>((hi >> (63 - index)) & 1)
                        : static_cast<int>((lo >> (127 - index)) & 1);
    }
    Key masked(unsigned bits) const {
      Key out;
      out.hi = bits == 0 ? 0 : bits >= 64 ? hi : hi & (~std::uint64_t{0} << (64 - bits));
      out.lo = bits <= 64 ? 0 : bits >= 128 ? lo : lo & (~std::uint64_t{0} << (128 - bits));
      return out;
    }
    IpAddr to_ip(IpFamily family) const {
      std::array<std::uint8_t, 16> raw;
      store_be64(raw.data(), hi);
      store_be64(raw.data() + 8, lo);
      if (family == IpFamily::v4) return IpAddr::v4(raw[0], raw[1], raw[2], raw[3]);
      return IpAddr::v6(raw);
    }
  };

  struct Node {
    Node(const Key& k, unsigned b) : key(k.masked(b)), bits(b) {}
    Node(const Key& k, unsigned b, T v) : key(k.masked(b)), bits(b), value(std::move(v)) {}

    Cidr prefix(IpFamily family) const { return Cidr(key.to_ip(family), bits); }

    Key key;  // masked to `bits`
    unsigned bits;
    std::optional<T> value;
    std::unique_ptr<Node> child[2];
  };

  // Number of leading bits in which a and b agree, at most `limit`.
  static unsigned common_bits(const Key& a, const Key& b, unsigned limit) {
    const std::uint64_t diff_hi = a.hi ^ b.hi;
    unsigned same;
    if (diff_hi != 0) {
      same = static_cast<unsigned>(std::countl_zero(diff_hi));
    } else {
      same = 64 + static_cast<unsigned>(std::countl_zero(a.lo ^ b.lo));  // 128 if equal
    }
    return same < limit ? same : limit;
  }

  std::unique_ptr<Node>& root(IpFamily family) { return family == IpFamily::v4 ? v4_ : v6_; }
  const std::unique_ptr<Node>& root(IpFamily family) const {
    return family == IpFamily::v4 ? v4_ : v6_;
  }

  const Node* match_node(const IpAddr& address) const {
    const Key key = Key::from(address);
    const unsigned max_bits = address.max_prefix_len();
    const Node* best = nullptr;
    const Node* node = root(address.family()).get();
    while (node != nullptr) {
      if (common_bits(node->key, key, node->bits) != node->bits) break;
      if (node->value) best = node;
      if (node->bits >= max_bits) break;
      node = node->child[key.bit(node->bits)].get();
    }
    return best;
  }

  // Removes a route and collapses nodes that no longer join two subtrees.
  static bool erase_in(std::unique_ptr<Node>& slot, const Key& key, unsigned bits) {
    Node* node = slot.get();
    if (node == nullptr || node->bits > bits) return false;
    if (common_bits(node->key, key, node->bits) != node->bits) return false;
    if (node->bits == bits) {
      if (!node->value) return false;
      node->value.reset();
    } else if (!erase_in(node->child[key.bit(node->bits)], key, bits)) {
      return false;
    }
    if (!node->value) {
      if (!node->child[0] || !node->child[1]) {
        std::unique_ptr<Node> only = std::move(node->child[node->child[0] ? 0 : 1]);
        slot = std::move(only);  // frees `node`
      }
    }
    return true;
  }

  static std::unique_ptr<Node> clone(const std::unique_ptr<Node>& node) {
    if (!node) return nullptr;
    auto copy = std::make_unique<Node>(node->key, node->bits);
    copy->value = node->value;
    copy->child[0] = clone(node->child[0]);
    copy->child[1] = clone(node->child[1]);
    return copy;
  }

  template <class N, class Fn>
  static void visit(N* node, IpFamily family, Fn& fn) {
    if (node == nullptr) return;
    if (node->value) fn(node->prefix(family), *node->value);
    visit(static_cast<N*>(node->child[0].get()), family, fn);
    visit(static_cast<N*>(node->child[1].get()), family, fn);
  }

  std::unique_ptr<Node> v4_, v6_;
  std::size_t size_ = 0;
};

}  // namespace fz::net
