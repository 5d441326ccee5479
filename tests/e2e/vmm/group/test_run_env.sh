#!/bin/sh
# Run-time environment values and their redaction, end to end under QEMU TCG (dev attestation):
#  1. before boot: a required regex variable without a value, a value its rule refuses, an
#     unknown container and an unknown variable are refused, naming what is wrong, and
#     nothing boots;
#  2. the group runs with --env (and --env-file): the container and `parma exec` get the
#     values, a listed exec uses them, an unlisted one is denied, a request the agent denies
#     for its environment answers NAME=<<redacted>>; `parma policy explain` refuses to replay
#     without the values and reproduces every decision with them;
#  3. redaction: the secret and the --env-file value appear in no file under the group's
#     state directory (requests.json, denied-exec.json, policy, logs, the guest console with
#     the agent's runtime log on) and in no output of any command above.
# Exits 77 (skip) without QEMU, a guest kernel or the guest initrd.
set -u
parma=$1
src=${PARMA_SOURCE_ROOT:?}
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: needs qemu-system-x86_64 (Debian qemu-system-x86)"; exit 77; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "SKIP: needs a guest kernel (Debian linux-image-amd64)"; exit 77; }
initrd=${PARMA_INITRD:-$(dirname "$parma")/../guest/initrd/parma-initrd.img}
[ -r "$initrd" ] || { echo "SKIP: needs the guest initrd ($initrd): build parma-agent"; exit 77; }

secret=Zq7RuN4xTw2LkP9sVb3HmC8dFy6GjA5e  # matches API_TOKEN's rule [A-Za-z0-9]{32}
region=qxzregion-7                       # matches REGION's rule [a-z]+-[0-9]
work=$(mktemp -d /tmp/parma-e2e-env-XXXXXX)
export PARMA_STATE_DIR="$work/state" PARMA_CACHE_DIR="$work/cache" PARMA_DEV_CA="$work/dev-ca"
out="$work/out"
mkdir -p "$out"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
finish() {
	[ -n "${runpid:-}" ] && kill "$runpid" 2>/dev/null && wait "$runpid"
	if [ $fail = 0 ]; then rm -rf "$work"; else echo "(kept $work)"; fi
	exit $fail
}

python3 "$src/examples/make-images.py" "$work/images" >/dev/null || { echo "FAIL make-images"; fail=1; finish; }
cp "$src/tests/e2e/vmm/group/env.json" "$work/g.json"
sed -i "s#\"images/busybox#\"$work/images/busybox#" "$work/g.json"
printf '{"app": {"REGION": "%s"}}\n' "$region" > "$work/region.json"
printf '{"app": {"API_TOKEN": "%s", "REGION": "%s"}}\n' "$secret" "$region" > "$work/values.json"
state="$work/state/e2e-env"

# 1. refused before boot
"$parma" run "$work/g.json" > "$out/missing.out" 2>&1
code=$?
check "without the required variable: usage error (exit $code)" '[ $code = 2 ]'
check "the refusal names the variable and how to give it" \
	'grep -q "API_TOKEN" "$out/missing.out" && grep -q -- "--env app:API_TOKEN=VALUE" "$out/missing.out"'
check "nothing booted" '! grep -q "guest up" "$out/missing.out" && [ ! -e "$state/console.log" ]'

"$parma" run "$work/g.json" --env "app:API_TOKEN=bad-$secret" > "$out/bad.out" 2>&1
code=$?
check "a value the rule refuses is denied before boot (exit $code)" \
	'[ $code = 1 ] && grep -q "before boot: create_container for .app. would be denied" "$out/bad.out"'
check "the denial shows the rule and the variable" \
	'grep -q "regex API_TOKEN=\[A-Za-z0-9\]{32}" "$out/bad.out" && grep -q "variable  API_TOKEN" "$out/bad.out"'
check "nothing booted" '! grep -q "guest up" "$out/bad.out" && [ ! -e "$state/console.log" ]'

"$parma" run "$work/g.json" --env "nosuch:API_TOKEN=$secret" > "$out/container.out" 2>&1
code=$?
check "an unknown container is a usage error naming it (exit $code)" \
	'[ $code = 2 ] && grep -q "no container .nosuch." "$out/container.out"'
"$parma" run "$work/g.json" --env "app:API_TOKEN=$secret" --env "app:NOPE=$secret" > "$out/name.out" 2>&1
code=$?
check "a variable not in the spec is a usage error naming it (exit $code)" \
	'[ $code = 2 ] && grep -q "no variable NOPE" "$out/name.out"'

# 2. the group runs with --env and --env-file
"$parma" run "$work/g.json" --env "app:API_TOKEN=$secret" --env-file "$work/region.json" \
	> "$out/run.out" 2>&1 &
runpid=$!
for i in $(seq 1 300); do
	grep -q "app | waiting" "$out/run.out" && grep -q "attestation (dev)" "$out/run.out" && break
	kill -0 $runpid 2>/dev/null || break
	sleep 1
done
check "the group runs with --env" 'grep -q "app | waiting" "$out/run.out"'
check "the container got both values and the policy's own" \
	'grep -q "app | token-length 32 region-length 11 mode production" "$out/run.out"'

"$parma" exec e2e-env app -- /bin/sh -c '[ ${#API_TOKEN} = 32 ] && echo exec-token-length-32' \
	> "$out/exec.out" 2>&1
code=$?
check "a listed exec gets the run-time values (exit $code)" \
	'[ $code = 0 ] && grep -q "exec-token-length-32" "$out/exec.out"'
"$parma" exec e2e-env app -- /bin/sh -c env > "$out/exec-denied.out" 2>&1
code=$?
check "an unlisted exec is denied (exit $code) and recorded" \
	'[ $code = 1 ] && [ -s "$state/denied-exec.json" ]'
check "the denied exec's record has the value redacted" \
	'grep -q "API_TOKEN=<<redacted>>" "$state/denied-exec.json"'

# What a host that adds a variable sends: the agent's denial names it, value redacted.
python3 - "$state/requests.json" "$secret" "$region" > "$work/extra.json" <<'PY'
import json, sys
reqs = json.load(open(sys.argv[1]))
values = {"API_TOKEN": sys.argv[2], "REGION": sys.argv[3]}
create = [r for r in reqs if r["type"] == "create_container"][0]
exe = {k: create[k] for k in ("container_id", "user", "capabilities", "no_new_privileges",
                              "working_dir") if k in create}
exe["type"] = "exec_in_container"
exe["command"] = ["/bin/sh", "-c", ": > /tmp/stop"]
name = lambda v: v.split("=", 1)[0]
exe["env"] = [name(v) + "=" + values[name(v)] if name(v) in values else v
              for v in create["env"]] + ["EXTRA=" + sys.argv[2]]
exe["stdio"] = True
print(json.dumps(exe))
PY
"$parma" agent --sock "$state/agent.sock" request "$(cat "$work/extra.json")" > "$out/agent-denied.out" 2>&1
code=$?
check "the agent denies an extra variable (exit $code), value redacted" \
	'[ $code = 1 ] && grep -q "EXTRA=<<redacted>>" "$out/agent-denied.out"'
rm -f "$work/extra.json"

check "requests.json records the run-time values redacted" \
	'grep -q "API_TOKEN=<<redacted>>" "$state/requests.json" && grep -q "REGION=<<redacted>>" "$state/requests.json"'
"$parma" policy explain "$state/policy.json" "$state/requests.json" > "$out/explain-none.out" 2>&1
code=$?
check "explain without the values refuses to replay, naming the variable (exit $code)" \
	'[ $code = 2 ] && grep -q "API_TOKEN was given at run time" "$out/explain-none.out"'
"$parma" policy explain "$state/policy.json" "$state/requests.json" --env-file "$work/values.json" \
	> "$out/explain.out" 2>&1
code=$?
check "explain with --env-file reproduces every decision (exit $code)" \
	'[ $code = 0 ] && grep -q "create_container: allowed" "$out/explain.out"'
"$parma" policy explain "$state/policy.json" "$state/denied-exec.json" \
	--env "app:API_TOKEN=$secret" --env "app:REGION=$region" > "$out/explain-exec.out" 2>&1
code=$?
check "explain reproduces the exec denial (exit $code)" \
	'[ $code = 1 ] && grep -q "exec_in_container: DENIED" "$out/explain-exec.out"'

"$parma" exec e2e-env app -- /bin/sh -c ': > /tmp/stop' > "$out/stop.out" 2>&1
wait $runpid
code=$?
runpid=
check "the group ends with the container's code 0 (got $code)" '[ $code = 0 ]'
check "the agent's runtime log reached the console (logging on)" \
	'grep -q "parma-agent: request" "$state/console.log"'

# 3. the secret and the --env-file value nowhere on the host but where the user put them
check "the leak check finds the values where the user put them (control)" \
	'grep -q -e "$secret" "$work/values.json" && grep -q -e "$region" "$work/region.json"'
leaks=$(grep -rl -e "$secret" -e "$region" "$work/state" "$out" 2>/dev/null)
check "no file under the state directory and no output holds a value${leaks:+: $leaks}" '[ -z "$leaks" ]'
[ $fail = 0 ] || { echo "--- run output"; cat "$out/run.out"; }
finish
