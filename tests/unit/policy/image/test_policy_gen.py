#!/usr/bin/env python3
"""parma policy gen: group spec validation (errors name the JSON path) and the generated
policy (accepted by the policy engine's loader through `parma policy check`; layers, command,
env, working dir, user and debug allowances as docs/group-spec.md says)."""
import copy
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import erofs_check as ec  # noqa: E402
import ocitool  # noqa: E402

PARMA = ec.parma_bin()
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def gen(work, spec, *extra):
    path = os.path.join(work, "group.json")
    with open(path, "w") as f:
        f.write(spec if isinstance(spec, str) else json.dumps(spec))
    r = ec.run([PARMA, "policy", "gen", "--cache-dir", os.path.join(work, "cache")] +
               list(extra) + [path])
    return r


def main():
    work = tempfile.mkdtemp(prefix="parma-polgen-")
    try:
        base = ocitool.busybox_layer()
        base = [e for e in base if e["name"] not in ("etc/passwd", "etc/group")]
        base += [{"name": "etc/passwd", "data": b"root:x:0:0::/root:/bin/sh\n"
                                                b"app:x:1000:1001::/home/app:/bin/sh\n"},
                 {"name": "etc/group", "data": b"root:x:0:\napps:x:1001:\nstaff:x:50:app\n"}]
        top = [{"name": "srv/index.html", "data": b"hello"}]
        proc = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo image"], "WorkingDir": "/srv//./",
                "User": "app", "Env": ["PATH=/bin:/usr/bin", "MODE=image"]}
        ocitool.write_oci(os.path.join(work, "app"), [base, top], tag="v1", process=proc)
        ocitool.write_oci(os.path.join(work, "bare"), [base], process={"Cmd": None, "Env": []})
        ocitool.write_oci(os.path.join(work, "nogroup"),
                          [base, [{"name": "etc/.wh.group"}]], process={"User": "app:staff"})
        ocitool.write_docker_save(os.path.join(work, "saved.tar"), [base, top], tag="saved:2",
                                  process=proc)

        r = ec.run([PARMA, "image", "convert", "--json", "--output", os.path.join(work, "cache"),
                    os.path.join(work, "app:v1")])
        roots = [l["root_hash"] for l in json.loads(r.stdout)["layers"]]
        r = ec.run([PARMA, "image", "convert", "--json", "--output", os.path.join(work, "cache"),
                    os.path.join(work, "saved.tar:saved:2")])
        saved_roots = [l["root_hash"] for l in json.loads(r.stdout)["layers"]]

        spec = {
            "name": "demo", "vcpus": 2, "memory_mib": 256,
            "containers": [
                {"name": "plain", "image": "app:v1"},
                {"name": "args", "image": "app:v1", "args": ["echo args"],
                 "env": [{"name": "MODE", "value": "spec"},
                         {"name": "TOKEN", "regex": "[a-z]{8}", "required": True}],
                 "working_dir": "/tmp", "user": "app:staff",
                 "mounts": [{"name": "data", "destination": "/data"},
                            {"name": "t", "destination": "/scratch", "type": "tmpfs",
                             "read_only": True}],
                 "resources": {"cpu_millis": 1500, "memory_mib": 128},
                 "signals": ["SIGTERM", 1],
                 "exec_processes": [{"command": ["/bin/cat", "/srv/index.html"],
                                     "signals": ["KILL"]}]},
                {"name": "cmd", "image": "app:v1", "command": ["/bin/sleep", "5"], "user": "4242"},
                {"name": "both", "image": "saved.tar:saved:2", "command": ["/bin/echo"],
                 "args": ["a", "b"], "user": "1000", "no_new_privileges": True,
                 "allow_stdio_access": False},
            ],
        }
        r = gen(work, spec, "-o", os.path.join(work, "policy.json"), "--plan",
                os.path.join(work, "plan.json"))
        check(r.returncode == 0, "policy gen succeeds: " + r.stderr)
        check("WARNING" not in r.stderr, "no debug warning without debug")
        pol_path = os.path.join(work, "policy.json")
        chk = ec.run([PARMA, "policy", "check", pol_path])
        check(chk.returncode == 0, "the policy engine loads the generated policy: " + chk.stderr)
        pol = json.load(open(pol_path))
        c = {x["name"]: x for x in pol["containers"]}
        check(c["plain"]["layers"] == roots, "layers are the root hashes, base first")
        check(c["both"]["layers"] == saved_roots, "docker-save image: its layers' root hashes")
        check(c["plain"]["command"] == ["/bin/sh", "-c", "echo image"], "entrypoint + cmd")
        check(c["args"]["command"] == ["/bin/sh", "-c", "echo args"], "entrypoint + spec args")
        check(c["cmd"]["command"] == ["/bin/sleep", "5"], "spec command drops the image cmd")
        check(c["both"]["command"] == ["/bin/echo", "a", "b"], "spec command + args")
        env = lambda n: [(e["pattern"], e["strategy"], e["required"]) for e in c[n]["env_rules"]]
        check(env("plain") == [("PATH=/bin:/usr/bin", "string", False),
                               ("MODE=image", "string", False)], "image env as string rules")
        check(env("args") == [("PATH=/bin:/usr/bin", "string", False),
                              ("MODE=spec", "string", False),
                              ("TOKEN=[a-z]{8}", "regex", True)], "spec env overrides and adds")
        check(c["plain"]["working_dir"] == "/srv" and c["args"]["working_dir"] == "/tmp",
              "working dir from image (normalised) unless overridden")
        check(c["plain"]["user"] == {"uid": 1000, "gid": 1001}, "image user name resolved")
        check(c["args"]["user"] == {"uid": 1000, "gid": 50}, "user:group names resolved")
        check(c["cmd"]["user"] == {"uid": 4242, "gid": 0}, "unknown numeric uid: gid 0")
        check(c["both"]["user"] == {"uid": 1000, "gid": 1001}, "numeric uid takes passwd gid")
        check(c["args"]["mounts"] == [
            {"source": "scratch://data", "destination": "/data", "type": "bind",
             "options": ["rbind", "uid=1000", "gid=50", "mode=0700", "rw"]},
            {"source": "tmpfs://", "destination": "/scratch", "type": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "ro"]}],
              "mounts: symbolic sources, the scratch directory owned by the container's user")
        check(c["args"]["signals"] == [1, 15] and c["plain"]["signals"] == [15], "signals")
        check(c["args"]["exec_processes"] == [{"command": ["/bin/cat", "/srv/index.html"],
                                               "working_dir": "/tmp", "signals": [9]}],
              "exec processes")
        check(c["both"]["no_new_privileges"] and not c["both"]["allow_stdio_access"] and
              c["plain"]["allow_stdio_access"], "flags per container")
        check(not any(pol[k] for k in ("allow_properties_access", "allow_dump_stacks",
                                       "allow_runtime_logging")), "no debug flags")
        check("external_processes" not in pol, "no external processes without debug")
        plan = json.load(open(os.path.join(work, "plan.json")))
        check([x["name"] for x in plan["containers"]] == ["plain", "args", "cmd", "both"] and
              [l["root_hash"] for l in plan["containers"][0]["layers"]] == roots and
              all(os.path.getsize(l["image"]) == l["image_size"]
                  for x in plan["containers"] for l in x["layers"]) and
              all(ec.verity_verify(l["image"], l) for l in plan["containers"][3]["layers"]),
              "plan lists each container's layer images, base first, with verity parameters")
        # the engine allows exactly what the spec describes (replayed through parma policy explain)
        a = c["args"]
        reqs = [{"type": "mount_device", "layer": i, "device_hash": h}
                for i, h in enumerate(a["layers"])]
        reqs.append({"type": "mount_scratch", "encrypted": True})
        reqs.append({"type": "mount_overlay", "container_id": "c1",
                     "layers": list(range(len(a["layers"]))), "scratch": True})
        create = {"type": "create_container", "container_id": "c1",
                  "command": ["/bin/sh", "-c", "echo args"],
                  "env": ["PATH=/bin:/usr/bin", "MODE=spec", "TOKEN=abcdefgh"],
                  "working_dir": "/tmp", "user": {"uid": 1000, "gid": 50},
                  "mounts": a["mounts"]}
        reqs.append(create)
        reqs.append({"type": "exec_in_container", "container_id": "c1",
                     "command": ["/bin/cat", "/srv/index.html"],
                     "env": ["PATH=/bin:/usr/bin", "TOKEN=abcdefgh"],
                     "working_dir": "/tmp", "user": {"uid": 1000, "gid": 50}})
        reqs.append({"type": "signal_process", "container_id": "c1", "signal": 15})

        def explain(requests):
            rp = os.path.join(work, "requests.json")
            json.dump(requests, open(rp, "w"))
            return ec.run([PARMA, "policy", "explain", pol_path, rp])

        r = explain(reqs)
        check(r.returncode == 0, "engine allows the spec's own container: " + r.stdout + r.stderr)
        bad_env = dict(create, env=["PATH=/bin:/usr/bin", "MODE=spec"])
        r = explain(reqs[:-3] + [bad_env])
        check(r.returncode == 1 and "env_required" in r.stdout, "missing required env denied")
        bad_cmd = dict(create, command=["/bin/sh", "-c", "echo image"])
        r = explain(reqs[:-3] + [bad_cmd])
        check(r.returncode == 1 and "command" in r.stdout, "image cmd replaced by args")
        r = explain(reqs[:-3] + [dict(create, user={"uid": 0, "gid": 0})])
        check(r.returncode == 1 and "user" in r.stdout, "other user denied")
        first = open(pol_path, "rb").read()
        r = gen(work, spec, "-o", pol_path)
        check(open(pol_path, "rb").read() == first, "deterministic policy bytes")

        # --debug: every allowance, and a warning
        r = gen(work, spec, "--debug")
        check(r.returncode == 0 and "WARNING" in r.stderr and "DEBUG" in r.stderr,
              "--debug warns: " + r.stderr)
        dbg = json.loads(r.stdout)
        check(all(dbg[k] for k in ("allow_properties_access", "allow_dump_stacks",
                                   "allow_runtime_logging")), "debug flags")
        check(all(x["allow_stdio_access"] for x in dbg["containers"]), "debug stdio")
        check(all(["/bin/sh"] in [e["command"] for e in x["exec_processes"]]
                  for x in dbg["containers"]), "debug shell exec in every container")
        check(dbg["external_processes"][0]["command"] == ["/bin/sh"] and
              dbg["external_processes"][0]["allow_stdio_access"], "debug shell in the guest")
        with open(os.path.join(work, "debug.json"), "w") as f:
            f.write(r.stdout)
        chk = ec.run([PARMA, "policy", "check", os.path.join(work, "debug.json")])
        check(chk.returncode == 0, "the debug policy loads: " + chk.stderr)
        s2 = copy.deepcopy(spec)
        s2["debug"] = {"logging": True}
        r = gen(work, s2)
        d2 = json.loads(r.stdout)
        check(d2["allow_runtime_logging"] and not d2["allow_dump_stacks"] and "WARNING" in r.stderr,
              "spec debug selects single allowances")

        # invalid specs: exit 3, the JSON path in the message
        def bad(mutate, expect):
            s = copy.deepcopy(spec)
            mutate(s)
            r = gen(work, s)
            check(r.returncode == 3 and expect in r.stderr,
                  "%r: expected %r, got exit %d: %s" % (expect, expect, r.returncode, r.stderr))

        bad(lambda s: s["containers"][0].update(imgae="x"), "containers[0].imgae: unknown field")
        bad(lambda s: s["containers"][0].pop("image"), "containers[0].image: missing")
        bad(lambda s: s.update(vcpus=0), "vcpus: expected an integer 1..64")
        bad(lambda s: s.update(name="Bad Name"), "name: expected 1..63 lowercase")
        bad(lambda s: s.update(containers=[]), "containers: expected an array of 1..64")
        bad(lambda s: s["containers"][1]["env"][0].update(name="1X"),
            "containers[1].env[0].name: expected a variable name")
        bad(lambda s: s["containers"][1]["env"][0].update(regex="x"),
            "containers[1].env[0]: give exactly one of")
        bad(lambda s: s["containers"][2].update(name="plain"),
            "containers[2].name: duplicate container name")
        bad(lambda s: s["containers"][0].update(working_dir="srv"),
            "containers[0].working_dir: expected a normalised absolute path")
        bad(lambda s: s["containers"][1]["mounts"][0].update(destination="/a/../etc"),
            "containers[1].mounts[0].destination: expected a normalised absolute path")
        bad(lambda s: s["containers"][1]["resources"].update(cpu_millis=2001),
            "containers[1].resources.cpu_millis: expected an integer 1..2000")
        bad(lambda s: s["containers"][1].update(signals=["SIGFOO"]),
            "containers[1].signals[0]: expected a signal number")
        bad(lambda s: s["containers"][1]["exec_processes"][0].update(command=[]),
            "containers[1].exec_processes[0].command: expected an array of 1..256")
        bad(lambda s: s.update(debug="yes"), "debug: expected true, false or an object")
        bad(lambda s: s["containers"][0].update(command="sh"),
            "containers[0].command: expected an array")
        bad(lambda s: s["containers"][0].update(image="missing-dir"),
            "containers[0].image: ")
        bad(lambda s: s["containers"][0].update(image="bare"), "containers[0]: no command")
        bad(lambda s: s["containers"][0].update(user="nobody"),
            'containers[0].user: user "nobody" is not in the image\'s /etc/passwd')
        bad(lambda s: s["containers"][0].update(image="nogroup"),
            'containers[0].image: config User: group "staff" is not in the image\'s /etc/group')
        r = gen(work, "{not json")
        check(r.returncode == 3 and "not valid JSON" in r.stderr, "not JSON: " + r.stderr)

        # a spec that imports a feed: the policy imports it and leaves its container out; the
        # fragment form holds exactly that container and declares the import's issuer
        did = "did:x509:0:sha256:" + "A" * 43 + "::subject:CN:Signer"
        sf = copy.deepcopy(spec)
        sf["fragments"] = [{"issuer": did, "feed": "side", "minimum_svn": 2}]
        sf["containers"][3]["fragment"] = "side"
        r = gen(work, sf)
        pf = json.loads(r.stdout) if r.returncode == 0 else {}
        check([x["name"] for x in pf.get("containers", [])] == ["plain", "args", "cmd"],
              "the fragment's container is not in the policy: " + r.stderr)
        check(pf.get("fragments") == [{"issuer": did, "feed": "side", "minimum_svn": 2,
                                       "includes": ["containers"]}], "the feed is imported")
        r = gen(work, sf, "--fragment", "side", "--svn", "7")
        ff = json.loads(r.stdout) if r.returncode == 0 else {}
        check(ff.get("fragment") == {"issuer": did, "feed": "side", "svn": 7} and
              [x["name"] for x in ff.get("containers", [])] == ["both"] and
              "fragments" not in ff and "allow_unencrypted_scratch" not in ff,
              "the fragment payload: " + r.stderr)
        check(ff.get("containers", [{}])[0].get("layers") == saved_roots,
              "the fragment container's layers")
        r = gen(work, sf, "--fragment", "other", "--svn", "1")
        check(r.returncode == 3 and "imports no feed 'other'" in r.stderr, "unknown feed")
        r = gen(work, sf, "--fragment", "side")
        check(r.returncode == 2, "--fragment needs --svn")
        bad(lambda s: s["containers"][0].update(fragment="nope"),
            "containers[0].fragment: feed 'nope' is not in the spec's fragments")
        bad(lambda s: s.update(fragments=[{"feed": "x"}]), "fragments[0].issuer: missing")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


main()
