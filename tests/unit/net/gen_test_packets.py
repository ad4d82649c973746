#!/usr/bin/env python3
# Writes test_packets.inc: packets built by an independent model of the RFC formats (plain
# Python, no project code), so the C++ parser, builders and ICMP code are checked against bytes
# they did not produce. Run: python3 gen_test_packets.py > test_packets.inc
import struct, ipaddress
def csum(b):
    if len(b)%2: b=b+b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b))
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def ip4(src,dst,proto,payload,ttl=64,ident=0,df=False,tos=0,opts=b''):
    ihl=5+len(opts)//4
    h=struct.pack('!BBHHHBBH4s4s',0x40|ihl,tos,ihl*4+len(payload),ident,0x4000 if df else 0,ttl,proto,0,ipaddress.IPv4Address(src).packed,ipaddress.IPv4Address(dst).packed)+opts
    c=csum(h); h=h[:10]+struct.pack('!H',c)+h[12:]
    return h+payload
def pseudo(src,dst,proto,l):
    s=ipaddress.ip_address(src).packed; d=ipaddress.ip_address(dst).packed
    if len(s)==4: return s+d+struct.pack('!BBH',0,proto,l)
    return s+d+struct.pack('!IxxxB',l,proto)
def udp(src,dst,sp,dp,payload):
    u=struct.pack('!HHHH',sp,dp,8+len(payload),0)+payload
    c=csum(pseudo(src,dst,17,len(u))+u); c=c or 0xffff
    return u[:6]+struct.pack('!H',c)+u[8:]
def tcp(src,dst,sp,dp,seq,ack,flags,win=65535,payload=b''):
    t=struct.pack('!HHIIBBHHH',sp,dp,seq,ack,5<<4,flags,win,0,0)+payload
    c=csum(pseudo(src,dst,6,len(t))+t)
    return t[:16]+struct.pack('!H',c)+t[18:]
def icmp4(typ,code,rest,payload):
    m=struct.pack('!BBHI',typ,code,0,rest)+payload
    return m[:2]+struct.pack('!H',csum(m))+m[4:]
def icmp6(src,dst,typ,code,rest,payload):
    m=struct.pack('!BBHI',typ,code,0,rest)+payload
    c=csum(pseudo(src,dst,58,len(m))+m)
    return m[:2]+struct.pack('!H',c)+m[4:]
def ip6(src,dst,nh,payload,hl=64,tc=0,flow=0):
    return struct.pack('!IHBB',(6<<28)|(tc<<20)|flow,len(payload),nh,hl)+ipaddress.IPv6Address(src).packed+ipaddress.IPv6Address(dst).packed+payload
def cpp(name,b):
    out='const std::vector<std::uint8_t> %s = {'%name
    lines=[]
    for i in range(0,len(b),16):
        lines.append('    '+', '.join('0x%02x'%x for x in b[i:i+16])+',')
    return out+'\n'+'\n'.join(lines)+'\n};'
P={}
P['kV4Udp']=ip4('10.0.0.1','10.0.0.2',17,udp('10.0.0.1','10.0.0.2',12345,53,b'hello'),ident=0x1234,df=True)
P['kV4TcpSyn']=ip4('100.64.0.1','93.184.216.34',6,tcp('100.64.0.1','93.184.216.34',40000,443,1,0,0x02),ttl=63)
P['kV4Echo']=ip4('100.64.0.1','8.8.8.8',1,icmp4(8,0,(0x4242<<16)|1,b'ping'))
P['kV6Udp']=ip6('fd00:2021:1111::1','2001:db8::1',17,udp('fd00:2021:1111::1','2001:db8::1',5000,53,b'abc'),tc=0x02)
P['kV6Echo']=ip6('fd00:2021:1111::1','2001:db8::1',58,icmp6('fd00:2021:1111::1','2001:db8::1',128,0,(7<<16)|9,b'pong'))
# IPv4 with router alert option
P['kV4Options']=ip4('10.0.0.1','10.0.0.2',17,udp('10.0.0.1','10.0.0.2',1,2,b'x'),opts=bytes([0x94,0x04,0,0]))
# IPv6 hop-by-hop -> dest opts -> routing -> tcp
t=tcp('2001:db8::1','2001:db8::2',1234,80,100,200,0x18,payload=b'GET')
rt=bytes([6,0,4,0,0,0,0,0])
do=bytes([43,0,1,4,0,0,0,0])
hbh=bytes([60,0,1,4,0,0,0,0])
P['kV6ExtChain']=ip6('2001:db8::1','2001:db8::2',0,hbh+do+rt+t)
# IPv6 fragment header (first fragment, M=1) carrying udp
fh=bytes([17,0])+struct.pack('!HI',1,0xabcdef01)
P['kV6Fragment']=ip6('2001:db8::1','2001:db8::2',44,fh+udp('2001:db8::1','2001:db8::2',1,2,b'frag'))
# ICMP errors the gateway originates
v4=P['kV4Udp']; v6=P['kV6Udp']
P['kV4Prohibited']=ip4('10.0.0.2','10.0.0.1',1,icmp4(3,13,0,v4[:28]),ttl=20,df=True)
P['kV4Unreachable']=ip4('10.0.0.2','10.0.0.1',1,icmp4(3,0,0,v4[:28]),ttl=20,df=True)
P['kV6Prohibited']=ip6('2001:db8::1','fd00:2021:1111::1',58,icmp6('2001:db8::1','fd00:2021:1111::1',1,1,0,v6),hl=20)
P['kV6Unreachable']=ip6('2001:db8::1','fd00:2021:1111::1',58,icmp6('2001:db8::1','fd00:2021:1111::1',1,3,0,v6),hl=20)
# v4 options offending packet: quote IHL*4+8 = 32
P['kV4OptionsProhibited']=ip4('10.0.0.2','10.0.0.1',1,icmp4(3,13,0,P['kV4Options'][:32]),ttl=20,df=True)
# Translated ICMP error: gateway sent 172.16.0.1:33000 -> 93.184.216.34:53 (NATed from client 100.64.0.1:12345 -> proxy 100.96.0.1:53)
orig=ip4('172.16.0.1','93.184.216.34',17,udp('172.16.0.1','93.184.216.34',33000,53,b'query-bytes'),ident=7)
recv=ip4('93.184.216.34','172.16.0.1',1,icmp4(3,4,1400,orig[:28]),ttl=50)  # frag needed, mtu 1400
P['kV4ReceivedError']=recv
q=bytearray(orig[:28]); q[16:20]=ipaddress.IPv4Address('100.96.0.1').packed; q[20:22]=struct.pack('!H',12345)
P['kV4TranslatedError']=ip4('100.96.0.1','100.64.0.1',1,icmp4(3,4,1400,bytes(q)),ttl=20,df=True)
# v6 packet too big for an echo request: gateway 2001:db8::99 id 600 -> 2001:db8::53
o6=ip6('2001:db8::99','2001:db8::53',58,icmp6('2001:db8::99','2001:db8::53',128,0,(600<<16)|3,b'0123456789'))
r6=ip6('2001:db8::53','2001:db8::99',58,icmp6('2001:db8::53','2001:db8::99',2,0,1280,o6),hl=60)
P['kV6ReceivedError']=r6
q=bytearray(o6); q[24:40]=ipaddress.IPv6Address('fd00:2021:1111:8000::5').packed; q[44:46]=struct.pack('!H',77)
P['kV6TranslatedError']=ip6('fd00:2021:1111:8000::5','fd00:2021:1111::1',58,icmp6('fd00:2021:1111:8000::5','fd00:2021:1111::1',2,0,1280,bytes(q)),hl=20)
import sys
print('// Generated by gen_test_packets.py (independent Python model of the RFC formats). Do not edit.')
for k,v in P.items(): print(cpp(k,v))
