#!/usr/bin/env bash
# Installs (PyPI, into .ci/smtp/venv) and starts an SMTP sink, aiosmtpd with
# its Mailbox handler, which the notification tests read, idempotently.
# Source it: it exports NUVOLA_TEST_SMTP and NUVOLA_TEST_SMTP_MAILDIR.
set -euo pipefail
smtp_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
smtp_port="${NUVOLA_TEST_SMTP_PORT:-8025}"
if [ ! -x "$smtp_dir/venv/bin/aiosmtpd" ]; then
  echo "services: installing aiosmtpd with pip"
  python3 -m venv "$smtp_dir/venv"
  "$smtp_dir/venv/bin/pip" install -q aiosmtpd >/dev/null
fi
mkdir -p "$smtp_dir/mail/tmp" "$smtp_dir/mail/new" "$smtp_dir/mail/cur"
smtp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; }
# Which maildir the sink on this port writes to, so that a second checkout
# does not read the mail of a sink another checkout started.
smtp_state="/tmp/nuvola-smtp-$smtp_port.state"
if smtp_up && [ "$(sed -n 1p "$smtp_state" 2>/dev/null)" != "$smtp_dir/mail" ]; then
  other_pid="$(sed -n 2p "$smtp_state" 2>/dev/null || true)"
  if [ -n "$other_pid" ] && kill "$other_pid" 2>/dev/null; then
    for _ in $(seq 1 50); do smtp_up || break; sleep 0.1; done
  else
    echo "services: port $smtp_port is taken by something that is not this checkout's SMTP sink" >&2
    exit 1
  fi
fi
if ! smtp_up; then
  nohup "$smtp_dir/venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" \
    -c aiosmtpd.handlers.Mailbox "$smtp_dir/mail" </dev/null >"$smtp_dir/server.log" 2>&1 &
  echo $! >"$smtp_dir/server.pid"
  printf '%s\n%s\n' "$smtp_dir/mail" "$!" >"$smtp_state"
  for _ in $(seq 1 100); do smtp_up && break; sleep 0.1; done
  smtp_up || { echo "services: aiosmtpd did not start:" >&2; cat "$smtp_dir/server.log" >&2; exit 1; }
fi
export NUVOLA_TEST_SMTP="127.0.0.1:$smtp_port"
export NUVOLA_TEST_SMTP_MAILDIR="$smtp_dir/mail"
echo "services: SMTP sink ready at 127.0.0.1:$smtp_port"
