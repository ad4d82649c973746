#!/usr/bin/env python3
"""An independent WireGuard handshake, written from RFC 7748 (X25519), RFC 8439 (ChaCha20-Poly1305),
draft-irtf-cfrg-xchacha (XChaCha20) and the WireGuard paper (§5.4), in pure Python with only the
standard library (hashlib's BLAKE2s). It prints the known answers that kat_test.cpp checks our C++
engine against; run it and paste the output there when the inputs change:

    python3 tests/unit/wireguard/kat/wireguard_kat.py

Each primitive checks itself against its RFC test vector first.
"""
import hashlib
import hmac
import struct

# --- X25519 (RFC 7748 §5) ---------------------------------------------------------------------
P = 2**255 - 19


def x25519(scalar: bytes, u: bytes) -> bytes:
    k = bytearray(scalar)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = x2 + z2, x2 - z2
        aa, bb = a * a % P, b * b % P
        e = aa - bb
        c, d = x3 + z3, x3 - z3
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def public(scalar: bytes) -> bytes:
    return x25519(scalar, (9).to_bytes(32, "little"))


# --- ChaCha20, Poly1305, AEAD (RFC 8439) -------------------------------------------------------
def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _rounds(s):
    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)
    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)


_SIGMA = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]


def chacha20_block(key, counter, nonce):
    init = _SIGMA + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    s = init[:]
    _rounds(s)
    return struct.pack("<16I", *[(s[i] + init[i]) & 0xFFFFFFFF for i in range(16)])


def chacha20(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        block = chacha20_block(key, counter + i // 64, nonce)
        out += bytes(x ^ y for x, y in zip(data[i:i + 64], block))
    return bytes(out)


def hchacha20(key, nonce16):
    s = _SIGMA + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    _rounds(s)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    acc, p = 0, 2**130 - 5
    for i in range(0, len(msg), 16):
        acc = (acc + int.from_bytes(msg[i:i + 16] + b"\x01", "little")) * r % p
    return ((acc + s) & (2**128 - 1)).to_bytes(16, "little")


def _pad16(b):
    return b"\x00" * ((16 - len(b) % 16) % 16)


def aead_seal(key, nonce, plaintext, aad):
    otk = chacha20_block(key, 0, nonce)[:32]
    ct = chacha20(key, 1, nonce, plaintext)
    mac_data = aad + _pad16(aad) + ct + _pad16(ct) + struct.pack("<QQ", len(aad), len(ct))
    return ct + poly1305(otk, mac_data)


def xaead_seal(key, nonce24, plaintext, aad):
    return aead_seal(hchacha20(key, nonce24[:16]), b"\x00" * 4 + nonce24[16:], plaintext, aad)


def counter_nonce(n):
    return b"\x00" * 4 + struct.pack("<Q", n)


# --- Self tests against the RFC vectors --------------------------------------------------------
def _self_test():
    # RFC 7748 §5.2, first vector.
    k = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    assert x25519(k, u).hex() == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    # RFC 7748 §6.1 (Alice's public key).
    a = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    assert public(a).hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    # RFC 8439 §2.8.2.
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
          b"future, sunscreen would be it.")
    out = aead_seal(key, nonce, pt, aad)
    assert out[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert out[:16].hex() == "d31a8d34648e60db7b86afbc53ef7ec2"
    # draft-irtf-cfrg-xchacha-03 §2.2.1 (HChaCha20).
    hk = bytes(range(32))
    hn = bytes.fromhex("000000090000004a0000000031415927")
    assert hchacha20(hk, hn).hex() == (
        "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
    # RFC 8439 §2.5.2 (Poly1305).
    pk = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    assert poly1305(pk, b"Cryptographic Forum Research Group").hex() == (
        "a8061dc1305136c6c22b8baf0c0127a9")


# --- WireGuard (the paper, §5.4) ---------------------------------------------------------------
def HASH(x):
    return hashlib.blake2s(x).digest()


def HMAC(key, x):
    return hmac.new(key, x, hashlib.blake2s).digest()


def KDF(n, key, x):
    t0 = HMAC(key, x)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def MAC(key, x):
    return hashlib.blake2s(x, key=key, digest_size=16).digest()


CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"


def main():
    _self_test()
    # Inputs (kat_test.cpp uses the same).
    s_i = bytes([0x11] * 32)           # initiator static private
    s_r = bytes([0x22] * 32)           # responder static private
    e_i = bytes([0x33] * 32)           # initiator ephemeral private
    e_r = bytes([0x44] * 32)           # responder ephemeral private
    psk = bytes([0x55] * 32)
    sender_i, sender_r = 0x0A0B0C01, 0x01020301
    # TAI64N of 2023-11-14T22:13:20.123456789Z (Unix 1700000000).
    timestamp = struct.pack(">QI", (1 << 62) + 10 + 1700000000, 123456789)
    S_i, S_r = public(s_i), public(s_r)

    # Initiation.
    c = HASH(CONSTRUCTION)
    h = HASH(c + IDENTIFIER)
    h = HASH(h + S_r)
    E_i = public(e_i)
    c = KDF(1, c, E_i)[0]
    h = HASH(h + E_i)
    c, k = KDF(2, c, x25519(e_i, S_r))
    enc_static = aead_seal(k, counter_nonce(0), S_i, h)
    h = HASH(h + enc_static)
    c, k = KDF(2, c, x25519(s_i, S_r))
    enc_ts = aead_seal(k, counter_nonce(0), timestamp, h)
    h = HASH(h + enc_ts)
    init = struct.pack("<II", 1, sender_i) + E_i + enc_static + enc_ts
    init_mac1 = MAC(HASH(b"mac1----" + S_r), init)
    initiation = init + init_mac1 + b"\x00" * 16

    # Response.
    E_r = public(e_r)
    c = KDF(1, c, E_r)[0]
    h = HASH(h + E_r)
    c = KDF(1, c, x25519(e_r, E_i))[0]
    c = KDF(1, c, x25519(e_r, S_i))[0]
    c, tau, k = KDF(3, c, psk)
    h = HASH(h + tau)
    enc_nothing = aead_seal(k, counter_nonce(0), b"", h)
    h = HASH(h + enc_nothing)
    resp = struct.pack("<III", 2, sender_r, sender_i) + E_r + enc_nothing
    response = resp + MAC(HASH(b"mac1----" + S_i), resp) + b"\x00" * 16
    send_i, recv_i = KDF(2, c, b"")

    # Transport data from the initiator, counter 0 and 1 (the second is a keepalive).
    # A 28-byte IPv4 ICMP echo request, 198.51.100.1 -> 198.51.100.2 (checksums are not checked).
    packet = bytes.fromhex("4500001c00000000400100" "00c6336401c6336402" "0800f7ff00000000")
    data0 = struct.pack("<IIQ", 4, sender_r, 0) + aead_seal(send_i, counter_nonce(0), packet, b"")
    data1 = struct.pack("<IIQ", 4, sender_r, 1) + aead_seal(send_i, counter_nonce(1), b"", b"")

    # Cookie reply from the responder (secret and nonce as given), then the initiation's mac2.
    cookie_secret = bytes([0x66] * 32)
    cookie_nonce = bytes([0x77] * 24)
    source_ip = bytes([203, 0, 113, 1]) + b"\x00" * 12
    cookie = MAC(cookie_secret, struct.pack("<Q", 0) + source_ip)
    reply = (struct.pack("<II", 3, sender_i) + cookie_nonce +
             xaead_seal(HASH(b"cookie--" + S_r), cookie_nonce, cookie, init_mac1))
    mac2 = MAC(cookie, init + init_mac1)

    for name, value in [
        ("initiator_static_public", S_i), ("responder_static_public", S_r),
        ("initiation", initiation), ("response", response),
        ("initiator_sending_key", send_i), ("initiator_receiving_key", recv_i),
        ("packet", packet), ("data_counter0", data0), ("keepalive_counter1", data1),
        ("cookie", cookie), ("cookie_reply", reply), ("initiation_mac2", mac2),
    ]:
        print(f'constexpr std::string_view k{"".join(p.title() for p in name.split("_"))} =')
        hx = value.hex()
        chunks = [hx[i:i + 64] for i in range(0, len(hx), 64)]
        print("\n".join(f'    "{c}"' for c in chunks) + ";")


if __name__ == "__main__":
    main()
