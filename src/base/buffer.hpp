// Packet buffers for the data path.
//
// A PacketBuffer owns one fixed block of memory and a window [head, head + size) inside it. The
// space before the window (headroom) lets a layer prepend its framing in place: WireGuard's 16-byte
// data header, then TURN's 4-byte ChannelData header. The space after it (tailroom) takes the
// 16-byte AEAD tag. So a packet read from the TUN device is encrypted and framed without a copy.
//
// A BufferPool recycles buffers so that the steady state allocates nothing per packet: the
// runtime acquires a buffer, moves it through the sans-IO core (which takes buffers by value and
// hands them back in its outputs) and releases it after the syscall. Pools are not thread-safe;
// each thread that moves packets owns its pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/bytes.hpp"

namespace fz {

class PacketBuffer {
 public:
  PacketBuffer(std::size_t capacity, std::size_t headroom);

  PacketBuffer(const PacketBuffer&) = delete;
  PacketBuffer& operator=(const PacketBuffer&) = delete;
  PacketBuffer(PacketBuffer&&) noexcept = default;
  PacketBuffer& operator=(PacketBuffer&&) noexcept = default;

  std::uint8_t* data() { return storage_.get() + head_; }
  const std::uint8_t* data() const { return storage_.get() + head_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  MutBytes span() { return {data(), size_}; }
  Bytes span() const { return {data(), size_}; }

  std::size_t capacity() const { return capacity_; }
  std::size_t headroom() const { return head_; }
  std::size_t tailroom() const { return capacity_ - head_ - size_; }

  // Grows the window by n bytes at the front and returns them. Returns an empty span (and changes
  // nothing) when the headroom is too small.
  MutBytes prepend(std::size_t n);
  // Grows the window by n bytes at the end and returns them; empty span when there is no room.
  MutBytes append(std::size_t n);
  // Drops n bytes from the front (clamped to the size).
  void consume_front(std::size_t n);
  // Shrinks the window to n bytes (no-op if already shorter).
  void truncate(std::size_t n);
  // Sets the window to n bytes, keeping the current head; false if n exceeds the room after head.
  bool resize(std::size_t n);
  // Empties the window and places its start at `headroom` bytes into the block.
  void reset(std::size_t headroom);
  // Replaces the contents with a copy of `bytes`, placed after `headroom`; false if it does not
  // fit.
  bool assign(Bytes bytes, std::size_t headroom);

 private:
  std::unique_ptr<std::uint8_t[]> storage_;
  std::size_t capacity_;
  std::size_t head_;
  std::size_t size_ = 0;
};

class BufferPool {
 public:
  // Buffers hold `capacity` bytes and start with `headroom` bytes of headroom. At most `max_cached`
  // released buffers are kept for reuse; more are freed.
  BufferPool(std::size_t capacity, std::size_t headroom, std::size_t max_cached = 1024);

  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // An empty buffer with the pool's default headroom: a recycled one when there is one.
  PacketBuffer acquire();
  // Hands a buffer back for reuse. Buffers smaller than the pool's capacity (e.g. made
  // elsewhere) and buffers beyond the cache limit are freed.
  void release(PacketBuffer buffer);

  std::size_t buffer_capacity() const { return capacity_; }
  std::size_t default_headroom() const { return headroom_; }
  std::size_t cached() const { return free_.size(); }
  // How many buffers acquire() had to allocate so far.
  std::size_t allocations() const { return allocations_; }

 private:
  std::size_t capacity_;
  std::size_t headroom_;
  std::size_t max_cached_;
  std::size_t allocations_ = 0;
  std::vector<PacketBuffer> free_;
};

}  // namespace fz
