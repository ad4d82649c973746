#include "base/buffer.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace fz {

PacketBuffer::PacketBuffer(std::size_t capacity, std::size_t headroom)
    // for_overwrite: the block is written before it is read, so skip zeroing it.
    : storage_(std::make_unique_for_overwrite<std::uint8_t[]>(capacity)),
      capacity_(capacity),
      head_(std::min(headroom, capacity)) {}

MutBytes PacketBuffer::prepend(std::size_t n) {
  if (n > head_) return {};
  head_ -= n;
  size_ += n;
  return {data(), n};
}

MutBytes PacketBuffer::append(std::size_t n) {
  if (n > tailroom()) return {};
  std::uint8_t* start = data() + size_;
  size_ += n;
  return {start, n};
}

void PacketBuffer::consume_front(std::size_t n) {
  n = std::min(n, size_);
  head_ += n;
  size_ -= n;
}

void PacketBuffer::truncate(std::size_t n) {
  size_ = std::min(size_, n);
}

bool PacketBuffer::resize(std::size_t n) {
  if (n > capacity_ - head_) return false;
  size_ = n;
  return true;
}

void PacketBuffer::reset(std::size_t headroom) {
  head_ = std::min(headroom, capacity_);
  size_ = 0;
}

bool PacketBuffer::assign(Bytes bytes, std::size_t headroom) {
  if (headroom > capacity_ || bytes.size() > capacity_ - headroom) return false;
  head_ = headroom;
  size_ = bytes.size();
  if (!bytes.empty()) std::memcpy(data(), bytes.data(), bytes.size());
  return true;
}

BufferPool::BufferPool(std::size_t capacity, std::size_t headroom, std::size_t max_cached)
    : capacity_(capacity), headroom_(std::min(headroom, capacity)), max_cached_(max_cached) {
  free_.reserve(std::min<std::size_t>(max_cached_, 256));
}

PacketBuffer BufferPool::acquire() {
  if (free_.empty()) {
    ++allocations_;
    return PacketBuffer(capacity_, headroom_);
  }
  PacketBuffer buffer = std::move(free_.back());
  free_.pop_back();
  buffer.reset(headroom_);
  return buffer;
}

void BufferPool::release(PacketBuffer buffer) {
  if (free_.size() < max_cached_ && buffer.capacity() >= capacity_)
    free_.push_back(std::move(buffer));
}

}  // namespace fz
