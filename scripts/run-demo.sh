#!/bin/sh
# `make run`: on the first run, creates ./data with a demo account and one demo recording (a
# generated two-second tone); then serves it on 127.0.0.1:8080, answers SIP calls on
# 127.0.0.1:5080, and prints how to use both. The demo number 5550100 runs a voicemail TwiML
# application (scripts/demo-voicemail.py) that this script starts on 127.0.0.1:8081 and stops with
# recd. Every address can be changed: RECD_LISTEN, RECD_SIP, RECD_DEMO_APP.
set -eu
RECD=${RECD:-build/recd}
DATA=${RECD_DATA:-./data}
LISTEN=${RECD_LISTEN:-127.0.0.1:8080}
SIP=${RECD_SIP:-127.0.0.1:5080}
APP=${RECD_DEMO_APP:-127.0.0.1:8081}
NUMBER=5550100
HERE=$(cd "$(dirname "$0")" && pwd)
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

# The demo number, pointing at this run's application (re-made when RECD_DEMO_APP changed).
voice_url="http://$APP/voice"
line=$("$RECD" number list --account "$acc" --data "$DATA" | grep "\"phone_number\":\"$NUMBER\"" || true)
case $line in
*"\"voice_url\":\"$voice_url\""*) ;;
*)
    if [ -n "$line" ]; then
        old=$(printf '%s\n' "$line" | sed -n 's/.*"sid":"\(PN[0-9a-f]*\)".*/\1/p')
        "$RECD" number remove "$old" --data "$DATA" > /dev/null
    fi
    "$RECD" number add --account "$acc" --number "$NUMBER" --voice-url "$voice_url" --data "$DATA" > /dev/null
    ;;
esac
/usr/bin/python3 "$HERE/demo-voicemail.py" call-files "$DATA"
DATA_ABS=$(cd "$DATA" && pwd)

/usr/bin/python3 "$HERE/demo-voicemail.py" serve "$APP" &
app_pid=$!
trap 'kill $app_pid 2>/dev/null || true' EXIT INT TERM
/usr/bin/python3 "$HERE/demo-voicemail.py" wait "$APP"

# SIPp's media port for the printed call: SIPp's default, 6000 (and the three after it, RTCP and
# video), is often taken (a second SIPp, X11's display :0 on TCP, another service), and a taken port
# makes SIPp exit at once. A port whose four are free now, outside recd's RTP range (16384-32767).
MEDIA=$(/usr/bin/python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randrange(34000, 39996, 2)
    socks = []
    try:
        for p in range(port, port + 4):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(port)
    break
else:
    print(6000)
PY
)

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

recd answers SIP on $SIP: number $NUMBER runs the voicemail app on http://$APP/voice
(<Say> a greeting, <Record> up to 10 s). In another terminal:

  # make a test call (SIPp plays 440/660/880 Hz tones as the message; recd hangs up when done)
  # (-mp: SIPp's media port, free when this was printed; if SIPp says it is taken, pick another)
  sipp $SIP -sf $DATA_ABS/demo-call.xml -s $NUMBER -i 127.0.0.1 -mi 127.0.0.1 -mp $MEDIA -m 1 -nostdin -timeout 60s -timeout_error
  # then list the calls and the message it left (the newest first)
  curl -s -u $acc:$tok '$base/Calls.json'
  curl -s -u $acc:$tok '$base/Recordings.json'

MSG
"$RECD" serve --listen "$LISTEN" --sip "$SIP" --data "$DATA"
