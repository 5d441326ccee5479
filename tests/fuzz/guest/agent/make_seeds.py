#!/usr/bin/env python3
"""make_seeds.py DIR: write the agent fuzz target's seed streams (frames as a host sends them).
The policy must stay byte-identical to seed_policy in fuzz_agent_stream.c."""
import base64
import json
import os
import struct
import sys
import zlib

POLICY = ('{"version":1,"allow_properties_access":true,"containers":[{"name":"app",'
          '"layers":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],'
          '"command":["/bin/true"],"env_rules":[{"pattern":"A=.*","strategy":"regex",'
          '"required":false}],"working_dir":"/","allow_stdio_access":true,'
          '"exec_processes":[{"command":["/bin/true"],"signals":[15]}],"signals":[15]}]}')


def frame(ftype, fid, body, flags=0):
    head = b"PRMA" + struct.pack("<BBHII", 1, ftype, flags, fid, len(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def req(fid, obj):
    return frame(1, fid, json.dumps(obj, separators=(",", ":")).encode())


install = req(1, {"type": "install_policy", "policy_base64": base64.b64encode(POLICY.encode()).decode()})
life = [
    install,
    req(2, {"type": "mount_device", "device": "/dev/vda", "layer": 0,
            "device_hash": "a" * 64, "hash_offset": 4096}),
    req(3, {"type": "mount_scratch", "device": "/dev/vdb", "encrypted": True}),
    req(4, {"type": "mount_overlay", "container_id": "c1", "layers": [0], "scratch": True}),
    req(5, {"type": "create_container", "container_id": "c1", "command": ["/bin/true"],
            "env": ["A=1"], "working_dir": "/", "stdio": True,
            }),
    req(6, {"type": "start_container", "container_id": "c1"}),
    req(7, {"type": "exec_in_container", "container_id": "c1", "command": ["/bin/true"], "stdio": True}),
    frame(4, 2, b"some stdin"),
    frame(5, 2, b""),
    req(8, {"type": "signal_process", "container_id": "c1", "signal": 15}),
    req(9, {"type": "wait", "process_id": 1}),
    req(10, {"type": "get_properties"}),
    req(11, {"type": "shutdown_container", "container_id": "c1", "force": True}),
    req(12, {"type": "unmount_overlay", "container_id": "c1"}),
]
seeds = {
    "lifecycle": b"".join(life),
    "closed": req(1, {"type": "mount_device", "device": "/dev/vda", "layer": 0,
                      "device_hash": "b" * 64, "hash_offset": 0}) + req(2, {"type": "ping"}),
    "garbage": b"xxPRMA" + frame(1, 3, b"[1]") + b"\x00" * 30 + req(4, {"type": "get_report"}),
    "hooks": install + req(2, {"type": "create_container", "container_id": "c1",
                               "command": ["/bin/true"], "hooks": {}}),
    "oversized": b"PRMA" + struct.pack("<BBHII", 1, 4, 0, 9, 1 << 20) + b"\0" * 4 + req(5, {"type": "ping"}),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
