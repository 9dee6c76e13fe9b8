#!/usr/bin/env bash
# Installs (if missing) and configures this machine's Postfix as the test
# relay: SMTP on 127.0.0.1:2525 only, accepting mail for any *.test domain
# and delivering all of it into one Maildir, /var/mail/mailrules/catchall/
# (each message carries a Delivered-To header, so tests tell their own mail
# apart by recipient domain). Two more listeners take the same mail only
# from an authenticated client, for the TLS and AUTH tests: 127.0.0.1:2587
# (STARTTLS required) and 127.0.0.1:2465 (implicit TLS), both with a
# certificate for 127.0.0.1/localhost from a test CA in $tls/ca.pem and SASL
# login `mailrules` / `relay-secret` (Cyrus sasldb). Idempotent; needs root.
# Used by scripts/test.sh; the integration tests then send through it.
set -euo pipefail

if ! command -v postfix >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string mailrules-test.localdomain" | debconf-set-selections
    apt-get install -y -qq postfix >/dev/null
fi
if ! command -v saslpasswd2 >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq sasl2-bin libsasl2-modules openssl >/dev/null
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
    "smtputf8_enable = yes" \
    "maillog_file = /var/log/postfix-mailrules.log"

# A test CA and a server certificate it signed (not self-signed: rustls
# refuses a CA certificate presented as the server's own).
tls=/etc/postfix/mailrules-tls
if [ ! -s "$tls/server.pem" ]; then
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mailrules test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > "$tls/server.ext"
    openssl x509 -req -days 3650 -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -CAcreateserial -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    chmod 600 "$tls/ca.key" "$tls/server.key"
    chmod 644 "$tls/ca.pem" "$tls/server.pem"
fi

# SASL: one login in a Cyrus sasldb that smtpd (not chrooted) reads.
realm=mailrules-test.localdomain
mkdir -p /etc/postfix/sasl
cat > /etc/postfix/sasl/smtpd.conf <<SASL
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: /etc/postfix/mailrules-sasldb
mech_list: PLAIN LOGIN
SASL
echo relay-secret | saslpasswd2 -p -c -f /etc/postfix/mailrules-sasldb -u "$realm" mailrules
chown root:postfix /etc/postfix/mailrules-sasldb
chmod 640 /etc/postfix/mailrules-sasldb
postconf -e "cyrus_sasl_config_path = /etc/postfix/sasl"

authenticated="-o smtpd_tls_cert_file=$tls/server.pem -o smtpd_tls_key_file=$tls/server.key"
authenticated+=" -o smtpd_sasl_auth_enable=yes -o smtpd_sasl_local_domain=$realm"
authenticated+=" -o smtpd_client_restrictions=permit_sasl_authenticated,reject"
authenticated+=" -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
postconf -Me "127.0.0.1:2587/inet = 127.0.0.1:2587 inet n - n - - smtpd $authenticated -o smtpd_tls_security_level=encrypt -o smtpd_tls_auth_only=yes"
postconf -Me "127.0.0.1:2465/inet = 127.0.0.1:2465 inet n - n - - smtpd $authenticated -o smtpd_tls_wrappermode=yes"

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

for port in 2525 2587 2465; do
    for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue 2
        sleep 0.2
    done
    echo "postfix did not start listening on 127.0.0.1:$port; see /var/log/postfix-mailrules.log" >&2
    exit 1
done
echo "postfix listening on 127.0.0.1:2525 (plain), :2587 (STARTTLS+AUTH), :2465 (TLS+AUTH); mail for *.test in $base/catchall/" >&2
