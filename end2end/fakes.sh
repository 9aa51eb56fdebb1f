# Sourced by serve.sh and deploy.sh: the settings that point a server and its bots at the local
# fakes started beside them, for a server answering on $1 (the port the browser uses):
# the SMTP sink on +10 (its mail listed on +20), the fake Discord on +30 with the customers' server
# and three tier roles, attachments fetched from the fake's CDN routes.
fakes_port="$1"
export SMTP_URL="smtp://127.0.0.1:$((fakes_port + 10))"
# Every browser test signs up from 127.0.0.1.
export SIGN_UPS_PER_ADDRESS=10000
# The Playwright payment tests sign their webhooks with this.
export SELLAPP_WEBHOOK_SECRETS="e2e-webhook-secret"
discord_port=$((fakes_port + 30))
export DISCORD_API_URL="http://127.0.0.1:$discord_port" DISCORD_CLIENT_ID="900000000000000001" \
  DISCORD_CLIENT_SECRET="fake-client-secret" DISCORD_BOT_TOKEN="fake-bot-token" \
  CUSTOMER_GUILD_ID="1300000000000000000" JOB_LEASE_SECONDS=10 \
  TIER_ROLES="basic=1300000000000000001,advanced=1300000000000000002,pro=1300000000000000003"
export ATTACHMENT_SOURCES="$DISCORD_API_URL"
# The fakes listen on loopback, which real attachment fetches never reach.
export ATTACHMENT_ALLOW_PRIVATE=true

# Starts the SMTP sink and the fake Discord in the background; their pids in $fakes_pids.
start_fakes() {
  local target="$1"
  "$target/debug/testkit" smtp --port "$((fakes_port + 10))" --http-port "$((fakes_port + 20))" >/dev/null &
  fakes_pids=($!)
  "$target/debug/testkit" discord --port "$discord_port" --guild "$CUSTOMER_GUILD_ID" \
    --roles "Basic=1300000000000000001,Advanced=1300000000000000002,Pro=1300000000000000003" \
    --redirect-uri "$PUBLIC_URL/account/discord/callback" >/dev/null &
  fakes_pids+=($!)
}
