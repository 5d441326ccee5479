#!/usr/bin/env python3
"""same_decisions.py EXPLAIN.json DECISIONS.json: every decision `parma policy explain --json`
printed equals the agent's recorded one (allowed, and the rule when denied), request by
request; exit 1 naming the first difference."""
import json
import sys

explained = json.load(open(sys.argv[1]))
agent = json.load(open(sys.argv[2]))
if len(explained) != len(agent) or not agent:
    sys.exit(f"{len(explained)} explained decisions for {len(agent)} recorded requests")
for i, (e, a) in enumerate(zip(explained, agent)):
    if a.get("failed"):
        continue  # allowed, but the effect failed: the agent reverted
    rule = lambda d: (d.get("reason") or {}).get("rule")
    if (e["request"], e["allowed"], rule(e)) != (a["request"], a["allowed"], rule(a)):
        sys.exit(f"request {i}: explain {e['request']} allowed={e['allowed']} {rule(e)}, "
                 f"agent {a['request']} allowed={a['allowed']} {rule(a)}")
print(f"{len(agent)} recorded requests: explain agrees with the agent")
