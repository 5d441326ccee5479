"""An independent implementation of what Parma's fragment code does, on Debian's
python3-cryptography and python3-cbor2 only: a throw-away PKI, did:x509 creation and
resolution (the did:x509 method specification, version 0) and COSE_Sign1 signing and
verification (RFC 9052/9053/9360, the "iss"/"feed" labels hcsshim uses plus "svn").
It shares no code with Parma: the interop test checks each side against the other."""
import base64, datetime, hashlib
from urllib.parse import unquote

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ALGS = {-7: ("ES256", hashes.SHA256, 32), -35: ("ES384", hashes.SHA384, 48),
        -37: ("PS256", hashes.SHA256, 0), -38: ("PS384", hashes.SHA384, 0)}
LABELS = {"CN": NameOID.COMMON_NAME, "L": NameOID.LOCALITY_NAME,
          "ST": NameOID.STATE_OR_PROVINCE_NAME, "O": NameOID.ORGANIZATION_NAME,
          "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "C": NameOID.COUNTRY_NAME,
          "STREET": NameOID.STREET_ADDRESS}


def key(kind="P-256"):
    if kind == "P-256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "P-384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cert(subject_key, names, issuer=None, issuer_key=None, ca=False, eku=None, days=3650,
         start=None):
    name = x509.Name([x509.NameAttribute(LABELS[k], v) for k, v in names])
    start = start or datetime.datetime.utcnow() - datetime.timedelta(hours=1)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.subject if issuer else name)
         .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()),
                        critical=False))
    if issuer:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in eku]),
                            critical=False)
    return b.sign(issuer_key or subject_key, hashes.SHA256())


def pem(certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pct(value):
    ok = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._"
    return "".join(c if c in ok else "".join("%%%02X" % b for b in c.encode()) for c in value)


def did(chain, predicates, ca_index=None, alg="sha256"):
    """predicates: [("subject", [("CN", None), ...]) | ("eku", oid) | ("san", (type, value))];
    a subject value None takes the leaf's own."""
    ca = chain[len(chain) - 1 if ca_index is None else ca_index]
    fp = b64url(hashlib.new(alg, ca.public_bytes(serialization.Encoding.DER)).digest())
    parts = []
    for name, arg in predicates:
        if name == "subject":
            kv = []
            for k, v in arg:
                if v is None:
                    v = chain[0].subject.get_attributes_for_oid(LABELS[k])[0].value
                kv += [k, pct(v)]
            parts.append("subject:" + ":".join(kv))
        elif name == "eku":
            parts.append("eku:" + arg)
        else:
            parts.append("san:%s:%s" % (arg[0], pct(arg[1])))
    return "did:x509:0:%s:%s::%s" % (alg, fp, "::".join(parts))


def resolve(did_text, chain):
    """True when did_text resolves against chain (leaf first): CA fingerprint and predicates."""
    head, *preds = did_text.split("::")
    p = head.split(":")
    if len(p) != 5 or p[:3] != ["did", "x509", "0"] or not preds:
        return False
    alg, fp = p[3], p[4]
    if alg not in ("sha256", "sha384", "sha512"):
        return False
    if not any(b64url(hashlib.new(alg, c.public_bytes(serialization.Encoding.DER)).digest()) == fp
               for c in chain[1:]):
        return False
    leaf = chain[0]
    for pr in preds:
        name, _, value = pr.partition(":")
        items = value.split(":")
        if name == "subject":
            if len(items) % 2 or not items:
                return False
            for k, v in zip(items[::2], items[1::2]):
                oid = LABELS.get(k) or x509.ObjectIdentifier(k)
                attrs = leaf.subject.get_attributes_for_oid(oid)
                if len(attrs) != 1 or attrs[0].value != unquote(v):
                    return False
        elif name == "eku":
            try:
                ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except x509.ExtensionNotFound:
                return False
            if x509.ObjectIdentifier(value) not in list(ekus):
                return False
        elif name == "san":
            kind = {"email": x509.RFC822Name, "dns": x509.DNSName,
                    "uri": x509.UniformResourceIdentifier}[items[0]]
            try:
                san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            except x509.ExtensionNotFound:
                return False
            if unquote(items[1]) not in san.get_values_for_type(kind):
                return False
        else:
            return False
    return True


def sig_structure(protected, payload):
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign(payload, chain, signing_key, iss, feed, svn, alg=-7, extra=None):
    hdr = {1: alg, 3: "application/json",
           33: [c.public_bytes(serialization.Encoding.DER) for c in chain],
           "iss": iss, "feed": feed, "svn": svn}
    hdr.update(extra or {})
    protected = cbor2.dumps(hdr)
    _, h, size = ALGS[alg]
    tbs = sig_structure(protected, payload)
    if size:
        r, s = utils.decode_dss_signature(signing_key.sign(tbs, ec.ECDSA(h())))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = signing_key.sign(tbs, padding.PSS(mgf=padding.MGF1(h()),
                                                      salt_length=h.digest_size), h())
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))


def _verify_sig(pub, alg, data, signature, hash_cls):
    _, h, size = ALGS[alg] if alg else (None, hash_cls, 0)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if alg:
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            signature = utils.encode_dss_signature(r, s)
        pub.verify(signature, data, ec.ECDSA(h()))
    elif alg:
        pub.verify(signature, data, padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size), h())
    else:
        pub.verify(signature, data, padding.PKCS1v15(), h())


def verify(doc, trusted_did, now=None):
    """(issuer, feed, svn, payload) of a document that verifies against trusted_did; raises."""
    obj = cbor2.loads(doc)
    if isinstance(obj, cbor2.CBORTag):
        assert obj.tag == 18, "not COSE_Sign1"
        obj = obj.value
    protected, unprotected, payload, signature = obj
    hdr = cbor2.loads(protected)
    alg = hdr[1]
    assert alg in ALGS, "algorithm"
    assert hdr.get("iss") == trusted_did, "issuer"
    chain_der = hdr[33] if isinstance(hdr[33], list) else [hdr[33]]
    chain = [x509.load_der_x509_certificate(d) for d in chain_der]
    assert len(chain) >= 2, "chain too short"
    now = now or datetime.datetime.utcnow()
    for i, c in enumerate(chain):
        assert c.not_valid_before <= now <= c.not_valid_after, "certificate %d validity" % i
        issuer = chain[min(i + 1, len(chain) - 1)]
        _verify_sig(issuer.public_key(), None, c.tbs_certificate_bytes, c.signature,
                    type(c.signature_hash_algorithm))
    assert resolve(trusted_did, chain), "did:x509 does not resolve"
    _verify_sig(chain[0].public_key(), alg, sig_structure(protected, payload), signature, None)
    return hdr["iss"], hdr["feed"], hdr["svn"], payload
