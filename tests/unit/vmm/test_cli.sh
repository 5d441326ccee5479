#!/bin/sh
# The parma command line: help, version, unknown commands and options (exit 2).
set -u
parma=$1
fail=0
check() { # name expected_status command...
	name=$1 want=$2; shift 2
	"$@" >/tmp/parma-cli-out.$$ 2>&1; got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: exit $got, want $want"; cat /tmp/parma-cli-out.$$; fail=1
	else
		echo "ok   $name"
	fi
}
check help 0 "$parma" --help
"$parma" --help > /tmp/parma-cli-out.$$ 2>&1
for sub in boot policy image measure verify report; do
	if ! grep -q "^  $sub " /tmp/parma-cli-out.$$; then echo "FAIL help lists $sub"; fail=1; fi
done
check version 0 "$parma" --version
"$parma" --version | grep -q '^parma [0-9]' || { echo "FAIL version format"; fail=1; }
check no-args 2 "$parma"
check unknown-command 2 "$parma" frobnicate
"$parma" frobnicate 2>&1 | grep -q "unknown command 'frobnicate'" || { echo "FAIL unknown command message"; fail=1; }
check unknown-option 2 "$parma" --frobnicate
# every level answers --help (exit 0) and refuses an unknown option (exit 2)
for sub in run ps exec logs stop attest boot policy "policy check" "policy digest" \
	"policy explain" "policy diff" "policy gen" image "image convert" "image inspect" measure \
	verify report "report show" "report dev-ca" "report dev-sign" agent; do
	# shellcheck disable=SC2086
	check "help: $sub" 0 "$parma" $sub --help
	case "$sub" in policy|image|report) continue ;; esac
	# shellcheck disable=SC2086
	check "unknown option: $sub" 2 "$parma" $sub --frobnicate x
done
check "boot: --drive queues out of range" 2 "$parma" boot --kernel /dev/null --drive x,queues=9
"$parma" boot --kernel /dev/null --drive x,queues=9 2>&1 | grep -q "queues=9: expected 1 to 8" ||
	{ echo "FAIL --drive queues message"; fail=1; }
# a group that is gone: ps says so (exit 1) and where its last run's logs are, with no table
st=$(mktemp -d /tmp/parma-cli-state-XXXXXX)
mkdir -p "$st/gone/logs"
check "ps: a gone group" 1 env PARMA_STATE_DIR="$st" "$parma" ps gone
grep -qx "parma ps: group 'gone' is not running (no parma run owns it; the logs of its last run are in $st/gone/logs)" \
	/tmp/parma-cli-out.$$ || { echo "FAIL ps: gone group message"; cat /tmp/parma-cli-out.$$; fail=1; }
check "ps: a group never run" 1 env PARMA_STATE_DIR="$st" "$parma" ps never
grep -qx "parma ps: group 'never' is not running" /tmp/parma-cli-out.$$ ||
	{ echo "FAIL ps: never-run group message"; cat /tmp/parma-cli-out.$$; fail=1; }
rm -rf "$st"
rm -f /tmp/parma-cli-out.$$
exit $fail
