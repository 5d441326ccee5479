#!/usr/bin/env python3
"""The broker's JWE, decrypted by an independent implementation (python3-jwcrypto),
for both key-wrapping algorithms; a tampered ciphertext must not decrypt."""
import json
import os
import subprocess
import sys
import tempfile

try:
    from jwcrypto import jwe, jwk
except ImportError:
    print("SKIP: needs python3-jwcrypto (Debian package python3-jwcrypto)")
    sys.exit(77)

tool = sys.argv[1]
failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for alg in ("RSA-OAEP-256", "RSA-OAEP"):
        for size in (1, 17, 5000):
            key = jwk.JWK.generate(kty="RSA", size=2048)
            pub = json.loads(key.export_public())
            pub["alg"] = alg
            kf, df = os.path.join(tmp, "k.json"), os.path.join(tmp, "d")
            with open(kf, "w") as f:
                json.dump(pub, f)
            secret = os.urandom(size)
            with open(df, "wb") as f:
                f.write(secret)
            out = subprocess.run([tool, kf, df], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"FAIL {alg} {size}: tool exited {out.returncode}: {out.stderr}")
                failures += 1
                continue
            token = jwe.JWE()
            token.deserialize(out.stdout.strip(), key=key)
            hdr = json.loads(token.objects["protected"])
            if token.payload != secret or hdr != {"alg": alg, "enc": "A256GCM"}:
                print(f"FAIL {alg} {size}: payload or header differs ({hdr})")
                failures += 1
                continue
            doc = json.loads(out.stdout)
            doc["tag"] = ("B" if doc["tag"][0] == "A" else "A") + doc["tag"][1:]
            try:
                jwe.JWE().deserialize(json.dumps(doc), key=key)
                print(f"FAIL {alg} {size}: a tampered tag decrypted")
                failures += 1
                continue
            except Exception:
                pass
            print(f"ok: {alg}, {size}-byte secret decrypted by jwcrypto; tampered tag refused")
sys.exit(1 if failures else 0)
