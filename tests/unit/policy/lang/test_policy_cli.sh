#!/bin/sh
# parma policy check|digest|explain|diff: exit codes, outputs, warnings.
set -u
parma=$1
data=${PARMA_SOURCE_ROOT:-.}/tests/data/policy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect CODE DESCRIPTION -- CMD...
	exp_code=$1 what=$2
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$exp_code" ]; then
		echo "FAIL: $what: exit $got, wanted $exp_code"; cat "$tmp/out" "$tmp/err"; fail=1
	fi
}
has() { # has FILE TEXT DESCRIPTION
	grep -qF -- "$2" "$1" || { echo "FAIL: $3: '$2' not in output"; cat "$1"; fail=1; }
}

expect 0 "check valid" -- "$parma" policy check "$data/example-web.json"
has "$tmp/out" "valid policy, 1 container(s)" "check output"
printf '{"version":1,"containers":[{"name":"a","layers":["xyz"],"command":["/a"]}]}' >"$tmp/bad.json"
expect 3 "check invalid" -- "$parma" policy check "$tmp/bad.json"
has "$tmp/err" "containers[0].layers[0]" "check names the JSON path"
expect 2 "check without file" -- "$parma" policy check
expect 3 "check missing file" -- "$parma" policy check "$tmp/nope.json"

expect 0 "digest" -- "$parma" policy digest "$data/example-web.json"
want=$(sha256sum "$data/example-web.json" | cut -d' ' -f1)
has "$tmp/out" "sha256 $want" "digest is sha256 of the bytes"
b64=$(python3 -c "import sys,hashlib,base64;print(base64.b64encode(hashlib.sha256(open(sys.argv[1],'rb').read()).digest()).decode())" "$data/example-web.json")
has "$tmp/out" "base64 $b64" "digest base64"
expect 0 "digest --hex" -- "$parma" policy digest --hex "$data/example-web.json"
[ "$(cat "$tmp/out")" = "$want" ] || { echo "FAIL: --hex output"; fail=1; }
expect 3 "digest of an invalid policy" -- "$parma" policy digest "$tmp/bad.json"
printf '{"version":1,"insecure_allow_all":"INSECURE-DEBUG-ALLOW-ALL"}' >"$tmp/debug.json"
expect 0 "digest debug" -- "$parma" policy digest "$tmp/debug.json"
has "$tmp/err" "WARNING" "debug warning"
has "$tmp/out" "DEBUG-ALLOW-ALL" "debug kind line"
expect 0 "check debug" -- "$parma" policy check "$tmp/debug.json"
has "$tmp/err" "DEBUG allow-all" "check debug warning"

expect 1 "explain with a denial" -- "$parma" policy explain "$data/example-web.json" "$data/example-web-requests.json"
has "$tmp/out" "#5 create_container: DENIED by rule 'env' at env[2]" "explain reason"
has "$tmp/out" "EXTRA=<<redacted>>" "explain redacts"
grep -q "s3cr3tV4lue" "$tmp/out" && { echo "FAIL: explain printed a secret"; fail=1; }
head -c -1 "$data/example-web-requests.json" | python3 -c "import json,sys;r=json.load(sys.stdin);r[4]['env']=r[4]['env'][:2];print(json.dumps(r))" >"$tmp/ok.json"
expect 0 "explain all allowed" -- "$parma" policy explain "$data/example-web.json" "$tmp/ok.json"
has "$tmp/out" "5 request(s): 5 allowed, 0 denied" "explain summary"
has "$tmp/out" "    env kept: PATH TOKEN; stdio access: no" "explain shows the effective env by name"
grep -q "s3cr3tV4lue" "$tmp/out" && { echo "FAIL: explain printed a secret (allowed)"; fail=1; }
expect 1 "explain --json" -- "$parma" policy explain --json "$data/example-web.json" "$data/example-web-requests.json"
python3 -c "import json,sys;d=json.load(open(sys.argv[1]));assert d[4]['reason']['rule']=='env' and d[0]['allowed']" "$tmp/out" ||
	{ echo "FAIL: explain --json"; fail=1; }
printf '{"not":"an array"}' >"$tmp/notarray.json"
expect 3 "explain with a non-array" -- "$parma" policy explain "$data/example-web.json" "$tmp/notarray.json"

expect 0 "diff identical" -- "$parma" policy diff "$data/example-web.json" "$data/example-web.json"
python3 -c "import json,sys;p=json.load(open(sys.argv[1]));p['containers'][0]['command'].append('-X');p['allow_dump_stacks']=True;p['containers'].append(dict(p['containers'][0],name='web2'));print(json.dumps(p))" "$data/example-web.json" >"$tmp/changed.json"
expect 1 "diff changed" -- "$parma" policy diff "$data/example-web.json" "$tmp/changed.json"
has "$tmp/out" "~ containers[web].command" "diff names the changed field"
has "$tmp/out" "+ containers[web2]" "diff names the added container"
has "$tmp/out" "~ allow_dump_stacks: (absent) -> true" "diff flag"
python3 -c "import json,sys;print(json.dumps(json.load(open(sys.argv[1]))))" "$data/example-web.json" >"$tmp/compact.json"
expect 0 "diff reformatted" -- "$parma" policy diff "$data/example-web.json" "$tmp/compact.json"
has "$tmp/out" "same rules; the bytes" "diff notes the digest change"
exit $fail
