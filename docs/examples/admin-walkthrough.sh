#!/usr/bin/env bash
# A first tour of the admin API (docs/admin-api.md, "Walkthrough"), against a running gateway started with
# `switchyard serve --demo` (or `scripts/run.sh`), which serves the model `demo`:
#
#   ADMIN_EMAIL=admin@localhost ADMIN_PASSWORD='<the one-time password>' docs/examples/admin-walkthrough.sh
#
# Inputs (environment):
#   GATEWAY_URL     the gateway (default http://127.0.0.1:8080)
#   ADMIN_EMAIL        an owner or admin (default admin@localhost, the first owner's default email)
#   ADMIN_PASSWORD     their password (required)
#   WALKTHROUGH_MODEL  the model to call (default demo)
#
# It signs in, creates a team `walkthrough-<random>` and an API key in it, calls the proxy with that key, reads
# the audit log, revokes the key and checks that the proxy now refuses it. The team and the revoked key stay.
# Needs curl (7.76 or newer, for --fail-with-body) and python3 (to read JSON); not jq.
set -euo pipefail

GATEWAY_URL="${GATEWAY_URL:-http://127.0.0.1:8080}"
export ADMIN_EMAIL="${ADMIN_EMAIL:-admin@localhost}"
export ADMIN_PASSWORD="${ADMIN_PASSWORD:?set ADMIN_PASSWORD (at first start the gateway prints the first owner password on stderr)}"
MODEL="${WALKTHROUGH_MODEL:-demo}"
API="$GATEWAY_URL/api/v1"

# json PATH: reads JSON on stdin and prints the value at PATH: keys and list indexes separated by dots, `*` for
# every item of a list. Strings are printed bare, everything else as JSON.
json() {
  python3 -c '
import json, sys
def at(value, path):
    if not path:
        return value
    key, rest = path[0], path[1:]
    if key == "*":
        return [at(item, rest) for item in value]
    return at(value[int(key)] if isinstance(value, list) else value[key], rest)
value = at(json.load(sys.stdin), [p for p in sys.argv[1].split(".") if p])
print(value if isinstance(value, str) else json.dumps(value))
' "$1"
}

# Stops with the error body the API answered (curl --fail-with-body still prints it).
fail() {
  echo "walkthrough failed: ${1:-no response}" >&2
  exit 1
}

# (a) Sign in. The body is built with python3 so any character in the password is escaped properly.
login_body=$(python3 -c 'import json, os; print(json.dumps({"email": os.environ["ADMIN_EMAIL"], "password": os.environ["ADMIN_PASSWORD"]}))')
login=$(curl -sS --fail-with-body -X POST "$API/auth/login" \
  -H 'Content-Type: application/json' -d "$login_body") || fail "$login"
TOKEN=$(json access_token <<<"$login")
echo "a. signed in as $(json user.email <<<"$login"), role $(json role <<<"$login"); the access token expires in $(json expires_in <<<"$login") s"

# (b) Who am I?
me=$(curl -sS --fail-with-body "$API/auth/me" -H "Authorization: Bearer $TOKEN") || fail "$me"
echo "b. me: $(json user.email <<<"$me") is $(json role <<<"$me") of tenant $(json tenant.slug <<<"$me") ($(json tenant.id <<<"$me"))"

# (c) A team with a random suffix, so the walkthrough can run again.
slug="walkthrough-$(printf '%04x%04x' "$RANDOM" "$RANDOM")"
team=$(curl -sS --fail-with-body -X POST "$API/teams" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d "{\"slug\": \"$slug\", \"name\": \"Walkthrough $slug\"}") || fail "$team"
TEAM_ID=$(json id <<<"$team")
echo "c. created team $(json slug <<<"$team") ($TEAM_ID)"

# (d) An API key in that team, limited to the one model. The secret is in this answer only.
key=$(curl -sS --fail-with-body -X POST "$API/keys" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"name\": \"walkthrough\", \"team_id\": \"$TEAM_ID\", \"application\": \"walkthrough\", \"allowed_models\": [\"$MODEL\"]}") || fail "$key"
KEY_ID=$(json id <<<"$key")
SECRET=$(json secret <<<"$key")
echo "d. created key $(json prefix <<<"$key")… ($KEY_ID), allowed models $(json allowed_models <<<"$key")"

# (e) Call the proxy with the new key.
chat_body="{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello from the admin walkthrough!\"}]}"
reply=$(curl -sS --fail-with-body -X POST "$GATEWAY_URL/v1/chat/completions" \
  -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' -d "$chat_body") || fail "$reply"
echo "e. $MODEL replied: $(json choices.0.message.content <<<"$reply")"

# (f) The audit log, newest first.
audit=$(curl -sS --fail-with-body "$API/audit?limit=5" -H "Authorization: Bearer $TOKEN") || fail "$audit"
echo "f. latest audit actions: $(json 'data.*.action' <<<"$audit")"

# (g) Revoke the key; the proxy refuses it from now on.
revoked=$(curl -sS --fail-with-body -X POST "$API/keys/$KEY_ID/revoke" -H "Authorization: Bearer $TOKEN") || fail "$revoked"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY_URL/v1/chat/completions" \
  -H "Authorization: Bearer $SECRET" -H 'Content-Type: application/json' -d "$chat_body")
[ "$status" = 401 ] || fail "the revoked key got HTTP $status from the proxy instead of 401"
echo "g. revoked the key at $(json revoked_at <<<"$revoked"); the proxy now answers $status"

echo "WALKTHROUGH OK"
