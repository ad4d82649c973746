#!/usr/bin/env python3
# Writes the hand-picked seed corpus of fuzz_net_packet (fuzz/corpus/net_packet/), reusing the
# packet model of gen_test_packets.py (regress-* files are fuzzer findings, kept by hand).
# Run from anywhere: python3 tests/unit/net/gen_fuzz_seeds.py
import contextlib, importlib.util, io, json, os, struct
here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('g', os.path.join(here, 'gen_test_packets.py'))
g = importlib.util.module_from_spec(spec)
with contextlib.redirect_stdout(io.StringIO()): spec.loader.exec_module(g)
out = os.path.join(here, '..', '..', '..', 'fuzz', 'corpus', 'net_packet') + '/'
names={'kV4Udp':'v4-udp','kV4TcpSyn':'v4-tcp-syn','kV4Echo':'v4-echo','kV6Udp':'v6-udp','kV6Echo':'v6-echo',
 'kV4Options':'v4-options','kV6ExtChain':'v6-ext-chain','kV6Fragment':'v6-fragment',
 'kV4ReceivedError':'v4-icmp-frag-needed','kV6ReceivedError':'v6-icmp-packet-too-big','kV4Prohibited':'v4-icmp-prohibited'}
for k,n in names.items(): open(out+n,'wb').write(g.P[k])
def ctrl(t,body): return struct.pack('!IHBB',6<<28,8+len(body),255,0)+bytes(32)+bytes([t])+bytes(7)+body
open(out+'p2p-goodbye','wb').write(ctrl(2,b''))
open(out+'p2p-assigned-ips','wb').write(ctrl(0,json.dumps({"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"app.example.com","proxy_ips":["100.96.0.1","100.96.0.2","fd00:2021:1111:8000::","fd00:2021:1111:8000::1"]},separators=(',',':')).encode()))
open(out+'p2p-domain-status','wb').write(ctrl(1,b'{"resource":"9b8e2b46-3c1a-4c4f-9f8e-0a1b2c3d4e5f","domain":"example.com","status":"Active"}'))
# v4 fragment (MF) of a udp packet and a v4 ICMP time exceeded quoting a TCP SYN
f=bytearray(g.P['kV4Udp']); f[6]=0x20; f[10]=f[11]=0; c=g.csum(bytes(f[:20])); f[10:12]=struct.pack('!H',c)
open(out+'v4-fragment','wb').write(bytes(f))
open(out+'v4-icmp-time-exceeded-tcp','wb').write(g.ip4('1.1.1.1','100.64.0.1',1,g.icmp4(11,0,0,g.P['kV4TcpSyn'][:28])))
# GRE over v4 and v4 udp with zero checksum
open(out+'v4-gre','wb').write(g.ip4('10.0.0.1','10.0.0.2',47,bytes([0,0,8,0])))
z=bytearray(g.P['kV4Udp']); z[26]=z[27]=0
open(out+'v4-udp-no-checksum','wb').write(bytes(z))
# AH over v4 and v6, TCP with options, ICMPv4 error quoting an echo, ICMPv6 error quoting an extension chain
ah=bytes([17,1,0,0,0,0,0,1,0,0,0,1])
open(out+'v4-ah-udp','wb').write(g.ip4('10.0.0.1','10.0.0.2',51,ah+g.udp('10.0.0.1','10.0.0.2',7,8,b'ah')))
open(out+'v6-ah-udp','wb').write(g.ip6('2001:db8::1','2001:db8::2',51,ah+g.udp('2001:db8::1','2001:db8::2',7,8,b'ah')))
t=bytearray(g.tcp('10.0.0.1','10.0.0.2',1,2,3,4,0x12,payload=bytes([2,4,5,0xb4])))
t[12]=6<<4; t[16]=t[17]=0; c=g.csum(g.pseudo('10.0.0.1','10.0.0.2',6,len(t))+bytes(t)); t[16:18]=struct.pack('!H',c)
open(out+'v4-tcp-mss-option','wb').write(g.ip4('10.0.0.1','10.0.0.2',6,bytes(t)))
open(out+'v4-icmp-unreachable-echo','wb').write(g.ip4('9.9.9.9','172.16.0.1',1,g.icmp4(3,1,0,g.P['kV4Echo'][:28])))
open(out+'v6-icmp-time-exceeded-ext-chain','wb').write(g.ip6('2001:db8::2','2001:db8::1',58,g.icmp6('2001:db8::2','2001:db8::1',3,0,0,g.P['kV6ExtChain'])))
