#!/bin/sh
# `make run`: on the first run, creates ./data with a demo account and one demo recording (a
# generated two-second tone); then serves it on 127.0.0.1:8080 and prints how to call it.
set -eu
RECD=${RECD:-build/recd}
DATA=${RECD_DATA:-./data}
LISTEN=${RECD_LISTEN:-127.0.0.1:8080}
CREDS="$DATA/demo-account.json"

if [ ! -f "$CREDS" ]; then
    mkdir -p "$DATA"
    chmod 700 "$DATA"
    tone="$DATA/demo-tone.wav"
    /usr/bin/python3 - "$tone" <<'PY'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                           for i in range(16000)))
PY
    umask 077
    "$RECD" account create --name "recd demo" --data "$DATA" > "$CREDS.tmp"
    mv "$CREDS.tmp" "$CREDS"
    acc=$(sed -n 's/.*"sid": "\([^"]*\)".*/\1/p' "$CREDS")
    RECD_LISTEN=$LISTEN "$RECD" import --account "$acc" --data "$DATA" "$tone" > "$DATA/demo-recording.json"
    rm -f "$tone"
fi

acc=$(sed -n 's/.*"sid": "\([^"]*\)".*/\1/p' "$CREDS")
tok=$(sed -n 's/.*"auth_token": "\([^"]*\)".*/\1/p' "$CREDS")
rec=$(sed -n 's/^{"account_sid":"[^"]*".*"sid":"\(RE[0-9a-f]*\)".*/\1/p' "$DATA/demo-recording.json" | head -n 1)
base="http://$LISTEN/2010-04-01/Accounts/$acc"
cat <<MSG

recd is serving $DATA on http://$LISTEN  (Ctrl-C stops it)

  account sid: $acc
  auth token:  $tok

  # list the recordings (Basic auth)
  curl -s -u $acc:$tok '$base/Recordings.json'
  # fetch one recording's metadata (public: the sid is the secret)
  curl -s '$base/Recordings/$rec.json'
  # download its audio
  curl -s -o demo.wav '$base/Recordings/$rec.wav'

MSG
exec "$RECD" serve --listen "$LISTEN" --data "$DATA"
