#!/usr/bin/env bash
# Installs (if missing) and configures this machine's Postfix as the test
# relay: SMTP on 127.0.0.1:2525 only, accepting mail for any *.test domain
# and delivering all of it into one Maildir, /var/mail/mailrules/catchall/
# (each message carries a Delivered-To header, so tests tell their own mail
# apart by recipient domain). Idempotent; needs root. Used by scripts/test.sh;
# the integration tests then send through it.
set -euo pipefail

if ! command -v postfix >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string mailrules-test.localdomain" | debconf-set-selections
    apt-get install -y -qq postfix >/dev/null
fi

base=/var/mail/mailrules
uid=5025
mkdir -p "$base"
chown "$uid:$uid" "$base"

cat > /etc/postfix/mailrules_domains <<'MAPS'
/\.test$/ OK
MAPS
cat > /etc/postfix/mailrules_mailboxes <<'MAPS'
/^[^@]+@[-A-Za-z0-9.]+[.]test$/ catchall/
MAPS

postconf -e \
    "compatibility_level = 3.6" \
    "myhostname = mailrules-test.localdomain" \
    "inet_interfaces = loopback-only" \
    "inet_protocols = ipv4" \
    "mydestination =" \
    "relayhost =" \
    "mynetworks = 127.0.0.0/8" \
    "virtual_mailbox_domains = regexp:/etc/postfix/mailrules_domains" \
    "virtual_mailbox_maps = regexp:/etc/postfix/mailrules_mailboxes" \
    "virtual_mailbox_base = $base" \
    "virtual_uid_maps = static:$uid" \
    "virtual_gid_maps = static:$uid" \
    "virtual_minimum_uid = 100" \
    "virtual_destination_concurrency_limit = 20" \
    "smtpd_client_connection_count_limit = 0" \
    "smtpd_client_message_rate_limit = 0" \
    "smtpd_client_connection_rate_limit = 0" \
    "default_process_limit = 200" \
    "message_size_limit = 20480000" \
    "smtputf8_enable = no" \
    "maillog_file = /var/log/postfix-mailrules.log"

# SMTP on the loopback test port only, not on port 25.
postconf -M# smtp/inet 2>/dev/null || true
postconf -Me "127.0.0.1:2525/inet = 127.0.0.1:2525 inet n - n - - smtpd"
postconf -Me "postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd"

[ -f /etc/aliases ] || echo "postmaster: root" > /etc/aliases
newaliases 2>/dev/null || true

if postfix status >/dev/null 2>&1; then
    postfix reload >/dev/null 2>&1
else
    postfix start >/dev/null 2>&1
fi

for _ in $(seq 1 50); do
    if (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null; then
        echo "postfix listening on 127.0.0.1:2525, mail for *.test in $base/catchall/" >&2
        exit 0
    fi
    sleep 0.2
done
echo "postfix did not start listening on 127.0.0.1:2525; see /var/log/postfix-mailrules.log" >&2
exit 1
