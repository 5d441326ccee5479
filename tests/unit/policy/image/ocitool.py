"""Build OCI image layouts and docker-save archives locally (no network) for the image tests.

Layers are described as lists of entries; each entry is a dict understood by `tar_bytes`:
  {"name": "bin/sh", "type": "file"|"dir"|"symlink"|"hardlink"|"chr"|"blk"|"fifo",
   "data": b"...", "mode": 0o755, "uid": 0, "gid": 0, "mtime": 1700000000,
   "target": "...", "major": 1, "minor": 3, "xattrs": {"user.x": b"v"}}
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = TYPES[e.get("type", "file")]
            ti.mode = e.get("mode", 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
            ti.uid = e.get("uid", 0)
            ti.gid = e.get("gid", 0)
            ti.mtime = e.get("mtime", 1700000000)
            ti.linkname = e.get("target", "")
            ti.devmajor = e.get("major", 0)
            ti.devminor = e.get("minor", 0)
            if e.get("xattrs"):
                ti.pax_headers = {"SCHILY.xattr." + k: v.decode("latin-1")
                                  for k, v in e["xattrs"].items()}
            data = e.get("data", b"")
            if ti.type == tarfile.REGTYPE:
                ti.size = e.get("size", len(data))
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=raw, check=True,
                              stdout=subprocess.PIPE).stdout
    return raw


MEDIA = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def _blob(root, data):
    d = sha(data)
    path = os.path.join(root, "blobs", "sha256", d[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": d, "size": len(data)}


def config_doc(raw_layers, process=None):
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
           "Cmd": ["sh"]}
    cfg.update(process or {})
    return {"architecture": "amd64", "os": "linux", "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [sha(r) for r in raw_layers]}}


def write_oci(root, layers, tag="latest", compression="gzip", process=None,
              tamper=None, nested=False):
    """layers: list of entry lists (base first). Returns (manifest dict, blob digests)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    raws = [tar_bytes(l) if isinstance(l, list) else l for l in layers]
    descs = []
    for raw in raws:
        blob = compress(raw, compression)
        desc = _blob(root, blob)
        desc["mediaType"] = MEDIA[compression]
        descs.append(desc)
    cfg = json.dumps(config_doc(raws, process)).encode()
    cdesc = _blob(root, cfg)
    cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    mdesc = _blob(root, json.dumps(manifest).encode())
    mdesc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    if nested:  # a multi-platform index: an arm64 decoy first, then ours
        decoy = _blob(root, json.dumps(dict(manifest, layers=[])).encode())
        decoy.update(mediaType=mdesc["mediaType"],
                     platform={"architecture": "arm64", "os": "linux"})
        mdesc["platform"] = {"architecture": "amd64", "os": "linux"}
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [decoy, mdesc]}
        mdesc = _blob(root, json.dumps(idx).encode())
        mdesc["mediaType"] = "application/vnd.oci.image.index.v1+json"
    mdesc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    if tamper is not None:  # flip one byte of layer `tamper`'s blob after digests were taken
        p = os.path.join(root, "blobs", "sha256", descs[tamper]["digest"][7:])
        b = bytearray(open(p, "rb").read())
        b[len(b) // 2] ^= 1
        open(p, "wb").write(bytes(b))
    return manifest


def write_docker_save(path, layers, tag="test:latest", process=None, link=None, gz=False):
    """link=(i, target): layer i's member is a symlink to `target` (docker dedups layers so)."""
    raws = [tar_bytes(l) if isinstance(l, list) else l for l in layers]
    cfg = json.dumps(config_doc(raws, process)).encode()
    cname = hashlib.sha256(cfg).hexdigest() + ".json"
    members = [(cname, cfg)]
    names = []
    for i, raw in enumerate(raws):
        n = "%064x/layer.tar" % (i + 1)
        names.append(n)
        members.append((n, raw))
    members.append(("manifest.json", json.dumps(
        [{"Config": cname, "RepoTags": [tag], "Layers": names}]).encode()))
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.USTAR_FORMAT) as tf:
        for n, data in members:
            ti = tarfile.TarInfo(n)
            if link and n == names[link[0]]:
                ti.type = tarfile.SYMTYPE
                ti.linkname = link[1]
                tf.addfile(ti)
                continue
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))


def busybox_layer(busybox="/bin/busybox"):
    """A base layer: /bin/busybox plus /bin/sh and friends as symlinks."""
    data = open(busybox, "rb").read()
    entries = [{"name": d, "type": "dir"} for d in ("bin", "etc", "tmp", "root")]
    entries.append({"name": "bin/busybox", "data": data, "mode": 0o755})
    for app in ("sh", "ls", "cat", "echo", "env", "id", "sleep", "true", "false"):
        entries.append({"name": "bin/" + app, "type": "symlink", "target": "busybox"})
    entries.append({"name": "etc/passwd", "data": b"root:x:0:0:root:/root:/bin/sh\n"})
    entries.append({"name": "etc/group", "data": b"root:x:0:\n"})
    return entries


if __name__ == "__main__":
    # ocitool.py DIR [TAG]: a busybox OCI image layout from Debian's busybox-static
    import sys
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: ocitool.py DIR [TAG]")
    write_oci(sys.argv[1], [busybox_layer()], tag=sys.argv[2] if len(sys.argv) == 3 else "latest",
              process={"Cmd": ["/bin/sh"]})
