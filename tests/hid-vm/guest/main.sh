#!/bin/bash
# The hid-vm test driver, run inside the guest by /sbin/hidvm-init from the host's 9p share
# (/mnt/share). Every stage has its own time limit and writes its output to results/<stage>.log
# and one line `stage<TAB>status<TAB>seconds<TAB>detail` to results/stages.tsv; the host
# (run.sh) reads those and asserts the clients' outputs. This script never decides the verdict
# on its own: a stage that fails here is reported, the next stages still run where they can.
set -u
share=/mnt/share
results="$share/results"
guest="$share/guest"
bin="$share/bin"
export PYTHONPATH="/opt/pyfido2:$guest"
export PYTHONDONTWRITEBYTECODE=1
export HOME=/root
mkdir -p "$results"
: >"$results/stages.tsv"
# Stage limits (seconds), scaled by the host for slow emulation.
scale="${HIDVM_TIMEOUT_SCALE:-1}"
limit() { echo $(($1 * scale)); }

now() { cut -d' ' -f1 /proc/uptime; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results/stages.tsv"; sync; }

# stage NAME SECONDS COMMAND...: run with a time limit, output to results/NAME.log.
stage() {
  local name="$1" secs="$2"
  shift 2
  local t0 status rc
  t0="$(now)"
  echo "hidvm: stage $name (limit ${secs}s)"
  timeout --kill-after=10 "$secs" "$@" >"$results/$name.log" 2>&1
  rc=$?
  case "$rc" in
    0) status=pass ;;
    124 | 137) status=timeout ;;
    77) status=skip ;;
    *) status=fail ;;
  esac
  { echo "=== after stage $name"; dmesg -c; } >>"$results/kernel.log" 2>&1
  record "$name" "$status" "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')" "rc=$rc"
  echo "hidvm: stage $name: $status (rc=$rc)"
  return "$rc"
}

record boot pass "$(now)" "kernel $(uname -r)"

# Loopback up (no init system here): the relying-party demo and Chromium talk over it.
python3 - <<'EOF'
import fcntl, socket, struct
s = socket.socket()
ifreq = struct.pack("16sH14x", b"lo", 0)
flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifreq))[1]  # SIOCGIFFLAGS
fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))  # SIOCSIFFLAGS |= IFF_UP
EOF
grep -q localhost /etc/hosts 2>/dev/null || printf '127.0.0.1 localhost\n::1 localhost\n' >>/etc/hosts

# --- the device -------------------------------------------------------------------------
load_uhid() {
  modprobe uhid || return 1
  # Without udev nothing autoloads the driver a new HID device's modalias asks for: load
  # hid-generic now, so the kernel binds it to palmkey's device and makes /dev/hidrawN.
  modprobe hid-generic || return 1
  for _ in $(seq 50); do [ -c /dev/uhid ] && break; sleep 0.1; done
  ls -l /dev/uhid
}

# prioritise_uhid_drain PID: the thread that empties the kernel's 32-event uhid queue
# (palmkey's `uhid-drain`; it only copies reports into the process) to nice -15, so a client
# writing a long message cannot overrun that queue. Everything else in palmkey - the CTAPHID
# loop that sends answers and keep-alives, and the palm engine on `ctaphid-worker` - stays at
# nice 0, level with its clients.
prioritise_uhid_drain() {
  local pid="$1" i task n=0
  for i in $(seq 50); do
    for task in /proc/"$pid"/task/*; do
      if [ "$(cat "$task/comm" 2>/dev/null)" = uhid-drain ]; then
        renice -n -15 -p "$(basename "$task")" >/dev/null && n=$((n + 1))
      fi
    done
    [ "$n" -ge 1 ] && break
    sleep 0.1
  done
  [ "$n" -ge 1 ] || echo "no uhid-drain thread found to renice"
  echo "--- threads (tid comm nice)"
  for task in /proc/"$pid"/task/*; do
    echo "$(basename "$task") $(cat "$task/comm") $(cut -d' ' -f19 "$task/stat")"
  done
}

# start_palmkey NAME: a factory-fresh authenticator on /dev/uhid; sets $palmkey_pid and
# $hidraw (the /dev/hidrawN whose HID_ID is palmkey's).
start_palmkey() {
  local name="$1" node i
  mkdir -p "/tmp/$name"
  # A USB key has its own processor; here the device shares one emulated CPU with its
  # clients, and uhid has no flow control (32 queued events, then drops), so the device's
  # receive side gets the scheduler's preference, as its USB controller's FIFO would give it:
  # prioritise_uhid_drain raises only the uhid-drain thread to nice -15. (Until 2026-12-06
  # the whole process ran at -15; the palm matcher then starved Chromium for a whole 1:N
  # identification, Chromium's 64-report hidraw buffer filled with keep-alives and the
  # kernel dropped the answer behind them.)
  # The log stays on the guest's own disk while the device runs (a trace log written to the
  # 9p share would make the device wait on the host); stop_palmkey copies it to results/.
  # PALMKEY_LOG (e.g. palmkey::hid=trace: every CTAPHID frame and CTAP status) may be set
  # by the caller for one device; NO_COLOR keeps the log plain text for the checks.
  NO_COLOR=1 "$bin/palmkey" serve --state "/tmp/$name/state" --key-file "/tmp/$name/key" \
    --uhid --sensor sim --udp 127.0.0.1:8111 --events "$results/$name.events.jsonl" \
    >"/tmp/$name.serve.log" 2>&1 &
  palmkey_pid=$!
  hidraw=""
  for i in $(seq 600); do
    if ! kill -0 "$palmkey_pid" 2>/dev/null; then
      echo "palmkey serve exited:"; cat "/tmp/$name.serve.log"; return 1
    fi
    for node in /sys/class/hidraw/hidraw*; do
      [ -e "$node/device/uevent" ] || continue
      if grep -qi '^HID_ID=0003:00001209:' "$node/device/uevent" &&
        grep -q '^HID_NAME=palmkey' "$node/device/uevent"; then
        hidraw="/dev/$(basename "$node")"
      fi
    done
    if [ -n "$hidraw" ] && [ -c "$hidraw" ] && grep -q '^palmkey ready' "/tmp/$name.serve.log"; then
      echo "palmkey serve pid $palmkey_pid on $hidraw after $((i / 10)).$((i % 10))s"
      prioritise_uhid_drain "$palmkey_pid"
      local sys="/sys/class/hidraw/$(basename "$hidraw")/device"
      echo "--- uevent"; cat "$sys/uevent"
      echo "--- report descriptor"; od -An -tx1 -v "$sys/report_descriptor" | tr -s ' \n' ' '; echo
      echo "--- driver"; basename "$(readlink -f "$sys/driver")"
      return 0
    fi
    sleep 0.1
  done
  echo "no palmkey hidraw device appeared in 60 s"; ls -l /dev/hidraw* 2>&1; dmesg | tail -20
  return 1
}

stop_palmkey() {
  [ -n "${palmkey_pid:-}" ] || return 0
  # Which threads the palm work ran on, at what niceness (appended to the results).
  for task in /proc/"$palmkey_pid"/task/*; do
    echo "$(basename "$task") $(cat "$task/comm" 2>/dev/null) $(cut -d' ' -f19 "$task/stat" 2>/dev/null)"
  done >>"$results/palmkey-threads.txt" 2>/dev/null
  echo "--- (pid $palmkey_pid stopped)" >>"$results/palmkey-threads.txt"
  kill -TERM "$palmkey_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$palmkey_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$palmkey_pid" 2>/dev/null
  wait "$palmkey_pid" 2>/dev/null
  palmkey_pid=""
  for log in /tmp/*.serve.log; do [ -e "$log" ] && cp "$log" "$results/"; done
}

export -f load_uhid
stage uhid "$(limit 30)" bash -c load_uhid || { echo "hidvm: no uhid, stopping"; exit 1; }
# Not run through `stage`'s subshell: the process must outlive it.
t0="$(now)"
if start_palmkey device >"$results/device.log" 2>&1; then
  record device pass "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')" "$hidraw"
else
  record device fail 0 "no hidraw device"
  exit 1
fi

# --- libfido2 ---------------------------------------------------------------------------
stage fido2-token-L "$(limit 60)" fido2-token -L
stage fido2-token-I "$(limit 60)" fido2-token -I "$hidraw"

# --- python-fido2 over hidraw (make/get with signatures, PIN, bio enrollment) -------------
stage python-fido2 "$(limit 600)" python3 "$guest/fido2_hidraw.py" --hidraw "$hidraw"

# After the PIN and bio enrollment: libfido2 again (PIN set, bio enrollment visible).
stage fido2-token-I-after "$(limit 60)" fido2-token -I "$hidraw"
stop_palmkey

# --- Chromium + the relying-party demo, on a fresh authenticator --------------------------
if [ "${HIDVM_BROWSER:-1}" = 0 ]; then
  record chromium not-run 0 "browser stage disabled on the host (--device-only)"
elif [ -x "$bin/relying-party-demo" ]; then
  t0="$(now)"
  # The browser stage reads the device's own log of what it answered (chromium_rp.py).
  if PALMKEY_LOG="info,palmkey::hid=trace" start_palmkey browser >"$results/browser-device.log" 2>&1; then
    record browser-device pass "$(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')" "$hidraw"
    stage browser-enroll "$(limit 600)" python3 "$guest/fido2_hidraw.py" --hidraw "$hidraw" --enroll-only
    mkdir -p /tmp/rp
    "$bin/relying-party-demo" --listen 127.0.0.1:8080 --origin http://localhost:8080 \
      --rp-id localhost --data-dir /tmp/rp >"$results/rp.log" 2>&1 &
    rp_pid=$!
    stage chromium "$(limit 1500)" python3 "$guest/chromium_rp.py" --hidraw "$hidraw" \
      --url http://localhost:8080 --out "$results" --scale "$scale" \
      --device-log /tmp/browser.serve.log
    kill -TERM "$rp_pid" 2>/dev/null
    wait "$rp_pid" 2>/dev/null
    stop_palmkey
  else
    record browser-device fail 0 "no hidraw device"
  fi
else
  record chromium skip 0 "no relying-party-demo binary shared"
fi

dmesg >"$results/dmesg.log" 2>&1
echo "hidvm: done"
