#!/usr/bin/env python3
"""Writes the seed corpora of the VMM-side fuzz targets that are not plain text:
boot loader inputs (a synthetic bzImage header, a firmware/payload ELF when given) and
stage0 boot descriptors. Usage: make_seeds.py [PAYLOAD_ELF ...]"""
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))


def bzimage(init_size=0x200000, pref=0x1000000, relocatable=1, setup_sects=4, body=4096):
    b = bytearray(512 * (setup_sects + 1) + body)
    b[0x1f1] = setup_sects
    struct.pack_into('<H', b, 0x1fe, 0xaa55)
    b[0x200], b[0x201] = 0xeb, 0x66          # jump over the header: its length
    b[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', b, 0x206, 0x020f)  # boot protocol 2.15
    b[0x211] = 0x01                           # LOADED_HIGH
    b[0x234] = relocatable
    struct.pack_into('<H', b, 0x236, 0x0003)  # XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
    struct.pack_into('<I', b, 0x238, 2048)    # cmdline_size
    struct.pack_into('<Q', b, 0x258, pref)
    struct.pack_into('<I', b, 0x260, init_size)
    for i in range(512 * (setup_sects + 1), len(b)):
        b[i] = (i * 7) & 0xff
    return bytes(b)


def fdt(nodes):
    """A flattened devicetree (v17) from {node: {prop: bytes}} under one root."""
    strings, struct_ = bytearray(), bytearray()
    offs = {}

    def name_off(n):
        if n not in offs:
            offs[n] = len(strings)
            strings.extend(n.encode() + b'\0')
        return offs[n]

    def begin(n):
        struct_.extend(struct.pack('>I', 1) + n.encode() + b'\0')
        while len(struct_) % 4:
            struct_.append(0)

    begin('')
    for node, props in nodes.items():
        begin(node)
        for k, v in props.items():
            struct_.extend(struct.pack('>III', 3, len(v), name_off(k)) + v)
            while len(struct_) % 4:
                struct_.append(0)
        struct_.extend(struct.pack('>I', 2))
    struct_.extend(struct.pack('>II', 2, 9))
    off_rsv = 40
    off_struct = off_rsv + 16
    off_strings = off_struct + len(struct_)
    total = off_strings + len(strings)
    hdr = struct.pack('>10I', 0xd00dfeed, total, off_struct, off_strings, off_rsv, 17, 16, 0,
                      len(strings), len(struct_))
    return hdr + bytes(16) + bytes(struct_) + bytes(strings)


def e820(entries):
    return b''.join(struct.pack('>QQI', a, s, t) for a, s, t in entries)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


boot = os.path.join(here, 'seeds_boot_loader')
write(os.path.join(boot, 'bzimage'), b'\x02' + bzimage())
write(os.path.join(boot, 'bzimage_fixed'), b'\x02' + bzimage(relocatable=0, setup_sects=0))
write(os.path.join(boot, 'bzimage_by_magic'), b'\x03' + bzimage(init_size=0x10000))
for i, elf in enumerate(sys.argv[1:]):
    data = open(elf, 'rb').read()
    write(os.path.join(boot, 'elf%d_kernel' % i), b'\x00' + data)
    write(os.path.join(boot, 'elf%d_firmware' % i), b'\x01' + data)

desc = os.path.join(here, '..', 'firmware', 'stage0', 'seeds_boot_desc')
mem = {'memory-map': {'entries': e820([(0, 0x9fc00, 1), (0x100000, 0xff00000, 1),
                                       (0xfec00000, 0x1000, 2)])}}
h = bytes(range(32))
write(os.path.join(desc, 'linux'), fdt({**mem, 'boot': {
    'mode': b'linux\0', 'cmdline': b'console=ttyS0 panic=-1\0',
    'kernel-size': struct.pack('>Q', 0x800000), 'initrd-size': struct.pack('>Q', 0x100000),
    'kernel-addr': struct.pack('>Q', 0x1000000), 'initrd-addr': struct.pack('>Q', 0x4000000),
    'cmdline-addr': struct.pack('>Q', 0x20000), 'acpi-rsdp': struct.pack('>Q', 0xe0000),
    'cmdline-sha256': h, 'kernel-sha256': h, 'initrd-sha256': h}}))
write(os.path.join(desc, 'firmware'), fdt({**mem, 'boot': {'mode': b'firmware\0'}}))
write(os.path.join(desc, 'memmap_only'), fdt(mem))


def frame(ftype, fid, body, flags=0):
    import zlib
    head = b"PRMA" + struct.pack("<BBHII", 1, ftype, flags, fid, len(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def chunk(who, data):
    return bytes([who]) + struct.pack('<H', len(data)) + data


relay = os.path.join(here, 'group', 'seeds_relay')
req = lambda i, t, extra='': frame(1, i, ('{"type":"%s"%s}' % (t, extra)).encode())
resp = lambda i, extra='': frame(2, i, ('{"ok":true%s}' % extra).encode())
write(os.path.join(relay, 'request_response'),
      chunk(1, req(7, 'get_properties')) + chunk(0, resp(1)) +
      chunk(2, req(7, 'get_properties')) + chunk(0, resp(2)))
write(os.path.join(relay, 'exec_stdio'),
      chunk(1, req(1, 'exec_in_container', ',"container_id":"c","command":["/bin/sh"]')) +
      chunk(0, resp(1, ',"process_id":42')) + chunk(0, frame(6, 42, struct.pack('<I', 4096))) +
      chunk(1, frame(4, 42, b'echo hi\n', 0)) + chunk(0, frame(4, 42, b'hi\n', 1)) +
      chunk(2, frame(4, 42, b'steal', 0)) + chunk(1, frame(5, 42, b'', 0)) +
      chunk(0, frame(5, 42, b'', 1)))
write(os.path.join(relay, 'agent_asks_owner'),
      chunk(0, req(99, 'sign_report', ',"report":"AAAA"')) + chunk(2, resp(99)) +
      chunk(1, resp(99, ',"signature":"AA"')))
write(os.path.join(relay, 'client_leaves'),
      chunk(2, req(5, 'wait', ',"process_id":3')) + chunk(3, b'') + chunk(0, resp(1)) +
      chunk(2, b'PRMA\x01\x01\x00\x00\x05\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00'))


def vpkt(op, sport=0, dport=0, flags=0, buf_alloc=16, fwd=0, bits=0, payload=b'', extra=0):
    return bytes([0, op, sport, dport, flags, buf_alloc, fwd, extra, bits,
                  len(payload) & 0xff, len(payload) >> 8]) + payload


vs = os.path.join(here, '..', 'devices', 'seeds_vsock')
PUMP, RX, ACCEPT = b'\x04', b'\x05', b'\x06'
write(os.path.join(vs, 'guest_connects'),
      vpkt(1) + PUMP + ACCEPT + PUMP + RX + vpkt(5, payload=b'hello') + PUMP + RX +
      b'\x02\x00\x05world' + PUMP + RX + vpkt(6) + vpkt(7) + vpkt(4, flags=3) + PUMP + RX +
      vpkt(3))
write(os.path.join(vs, 'host_connects'),
      b'\x01\x01CONNECT 1024\n' + PUMP + RX + vpkt(2, bits=32) + PUMP + RX +
      b'\x02\x01\x04ping' + PUMP + RX + vpkt(5, bits=32, payload=b'pong') + PUMP + RX +
      b'\x03\x01' + PUMP + RX)
write(os.path.join(vs, 'bad_lines'),
      b'\x01\x02CONNECT x\n' + b'\x01\x03\xff\xfe\n' + b'\x01\x04CONNECT 99999999999\n' + PUMP)
write(os.path.join(vs, 'hostile_headers'),
      vpkt(1, bits=1) + vpkt(5, bits=8, extra=200, payload=b'abc') + vpkt(1, bits=4) +
      vpkt(5, bits=16, payload=b'x' * 300) + vpkt(0) + PUMP + RX)
