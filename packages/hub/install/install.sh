#!/bin/sh
# Installs the Uplink agent on this host from the hub that served this script (GET /install.sh):
#
#   export UPLINK_ENROLL_TOKEN='<enroll token>'
#   curl -fsSL http://hub:7070/install.sh | sudo --preserve-env=UPLINK_ENROLL_TOKEN sh -s -- --label env=prod
#
# It detects the architecture, downloads the package from the same hub, checks it against SHA256SUMS,
# enrolls (before changing anything on the host), installs (the .deb where dpkg exists, else the tarball),
# and enables and starts the service where systemd runs (otherwise it prints the command that runs it).
# Run again, it upgrades in place and keeps the agent's identity (its state file). Any failure stops with
# one line naming the step, and what this run had changed is undone.
#
# Options:
#   --token-file FILE   the enrollment token, read from FILE (or the UPLINK_ENROLL_TOKEN variable;
#                       --token TOKEN works too but shows the token in `ps`)
#   --label KEY=VALUE   a label of this host (repeatable)
#   --hostname NAME     the hostname to report (default: the OS's)
#   --ca FILE           PEM CA of a TLS hub: trusted for the downloads and kept for the agent
#   --hub URL           another hub URL than the one that served this script
#   --method deb|tarball  how to install (default: deb where dpkg exists)
#   --prefix DIR        install the tarball under DIR (no dpkg, no systemd): for trials and tests
set -u

HUB='@HUB_URL@'
step=arguments
token=${UPLINK_ENROLL_TOKEN:-}
token_file=
ca=
method=
prefix=
enroll_args=

fail() {
  echo "uplink install: failed at $step: $*" >&2
  exit 1
}
# Single-quotes one word for eval.
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
need_value() {
  [ $# -ge 2 ] && [ -n "$2" ] || fail "$1 needs a value"
}

while [ $# -gt 0 ]; do
  case $1 in
    --token) need_value "$@"; token=$2; shift 2 ;;
    --token-file) need_value "$@"; token_file=$2; shift 2 ;;
    --label) need_value "$@"; enroll_args="$enroll_args --label $(quote "$2")"; shift 2 ;;
    --hostname) need_value "$@"; enroll_args="$enroll_args --hostname $(quote "$2")"; shift 2 ;;
    --ca) need_value "$@"; ca=$2; shift 2 ;;
    --hub) need_value "$@"; HUB=${2%/}; shift 2 ;;
    --method) need_value "$@"; method=$2; shift 2 ;;
    --prefix) need_value "$@"; prefix=${2%/}; shift 2 ;;
    -h|--help)
      echo "usage: install.sh [--token-file FILE | --token T] [--label k=v]... [--hostname NAME] [--ca FILE] [--hub URL] [--method deb|tarball] [--prefix DIR]"
      echo "the token may also come from UPLINK_ENROLL_TOKEN (kept out of ps); see $HUB/install.sh for details"
      exit 0 ;;
    *) fail "unknown option $1 (see the comment at the top of install.sh)" ;;
  esac
done
case $HUB in http://*|https://*) ;; *) fail "no hub URL: give --hub URL" ;; esac
[ -z "$token_file" ] || [ -r "$token_file" ] || fail "cannot read --token-file $token_file"
[ -z "$ca" ] || [ -r "$ca" ] || fail "cannot read --ca $ca"
case $ca in ''|/*) ;; *) ca=$(pwd)/$ca ;; esac
# Paths end up in the undo list between single quotes, and the CA path in curl's arguments.
case "$prefix$ca" in *"'"*|*' '*) fail "--prefix and --ca paths must not contain quotes or spaces" ;; esac
case $token_file in ''|/*) ;; *) token_file=$(pwd)/$token_file ;; esac

step=checks
for tool in curl sha256sum tar mktemp; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
if [ -n "$prefix" ]; then
  [ -z "$method" ] || [ "$method" = tarball ] || fail "--prefix installs the tarball only"
  method=tarball
elif [ -z "$method" ]; then
  if command -v dpkg >/dev/null 2>&1; then method=deb; else method=tarball; fi
fi
case $method in deb|tarball) ;; *) fail "--method must be deb or tarball" ;; esac
[ -n "$prefix" ] || [ "$(id -u)" = 0 ] || fail "run as root (sudo), or give --prefix DIR"

step=architecture
case $(uname -m) in
  x86_64|amd64) arch=x64; debarch=amd64 ;;
  aarch64|arm64) arch=arm64; debarch=arm64 ;;
  *) fail "no package for $(uname -m)" ;;
esac

if [ "$method" = deb ]; then
  bin=/usr/bin/uplink-agent
  state_dir=/var/lib/uplink-agent
  settings=/etc/default/uplink-agent
  unit=
else
  bin=$prefix/usr/local/bin/uplink-agent
  state_dir=$prefix/var/lib/uplink-agent
  settings=$prefix/etc/default/uplink-agent
  unit=$prefix/etc/systemd/system/uplink-agent.service
fi
state=$state_dir/state.json
ca_dest=$prefix/etc/uplink-agent/ca.pem

# Everything this run changes is listed here until the state file is in place; a failure undoes it.
work=$(mktemp -d) || fail "cannot make a temporary directory"
undo=
committed=
cleanup() {
  if [ -z "$committed" ] && [ -n "$undo" ]; then eval "$undo" >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
undo_first() { undo="$1; $undo"; }

step=download
curl_ca=
[ -z "$ca" ] || curl_ca="--cacert $ca"
fetch() {
  # shellcheck disable=SC2086 # curl_ca is one option and a path without spaces, or empty
  curl -fsS --retry 2 --connect-timeout 10 $curl_ca -o "$2" "$HUB/downloads/$1" 2>"$work/curl.err" ||
    fail "cannot fetch $HUB/downloads/$1: $(tail -n 1 "$work/curl.err")"
}
fetch SHA256SUMS "$work/SHA256SUMS"
if [ "$method" = deb ]; then pattern="uplink-agent_[0-9A-Za-z.+~-]+_$debarch\\.deb"; else pattern="uplink-agent-[0-9A-Za-z.+-]+-linux-$arch\\.tar\\.gz"; fi
line=$(grep -E "^[0-9a-f]{64}  $pattern\$" "$work/SHA256SUMS" | tail -n 1)
[ -n "$line" ] || fail "the hub offers no $method package for linux-$arch"
file=${line#*  }
sum=${line%%  *}
fetch "$file" "$work/$file"

step=verify
actual=$(sha256sum "$work/$file" | cut -d ' ' -f 1)
[ "$actual" = "$sum" ] || fail "checksum mismatch for $file (expected $sum, got $actual)"

step=unpack
mkdir "$work/x" || fail "cannot unpack"
if [ "$method" = deb ]; then
  dpkg-deb -x "$work/$file" "$work/x" 2>"$work/unpack.err" || fail "$(tail -n 1 "$work/unpack.err")"
  new_bin=$work/x/usr/bin/uplink-agent
else
  tar -xzf "$work/$file" -C "$work/x" 2>"$work/unpack.err" || fail "$(tail -n 1 "$work/unpack.err")"
  new_bin=$(echo "$work"/x/uplink-agent-*/uplink-agent)
fi
version=$("$new_bin" --version 2>"$work/unpack.err") || fail "the new uplink-agent does not run: $(tail -n 1 "$work/unpack.err")"

if [ -n "$ca" ] && ! cmp -s "$ca" "$ca_dest"; then
  step=ca
  mkdir -p "$(dirname "$ca_dest")" || fail "cannot create $(dirname "$ca_dest")"
  if [ -f "$ca_dest" ]; then
    cp -p "$ca_dest" "$work/ca.old" || fail "cannot keep the old $ca_dest"
    undo_first "cp -p '$work/ca.old' '$ca_dest'"
  else
    undo_first "rm -f '$ca_dest'"
  fi
  cp "$ca" "$ca_dest" && chmod 0644 "$ca_dest" || fail "cannot write $ca_dest"
fi

step=enroll
if [ -f "$state" ]; then
  enrolled=kept
else
  enrolled=new
  eval "set -- $enroll_args"
  [ -z "$ca" ] || set -- "$@" --ca "$ca_dest"
  if [ -n "$token_file" ]; then
    set -- "$@" --token-file "$token_file"
  else
    [ -n "$token" ] || fail "no enrollment token: give --token-file FILE or set UPLINK_ENROLL_TOKEN"
  fi
  # The token reaches the agent in its environment, never on its command line (ps shows those).
  UPLINK_ENROLL_TOKEN=$token "$new_bin" enroll --hub "$HUB" --state "$work/state.json" "$@" >"$work/enroll.out" 2>"$work/enroll.err" ||
    fail "$(tail -n 1 "$work/enroll.err" | sed 's/^uplink-agent: //')"
fi

step=install
if [ "$method" = deb ]; then
  if ! dpkg-query -W -f '${Status}' uplink-agent 2>/dev/null | grep -q 'install ok installed'; then
    undo_first "dpkg --purge uplink-agent"
  fi
  dpkg -i "$work/$file" >"$work/dpkg.log" 2>&1 || fail "dpkg -i $file: $(tail -n 1 "$work/dpkg.log")"
else
  for dir in "$(dirname "$bin")" "$(dirname "$settings")" "$(dirname "$unit")"; do
    if [ ! -d "$dir" ]; then
      mkdir -p "$dir" || fail "cannot create $dir"
      undo="$undo; rmdir -p '$dir' 2>/dev/null"
    fi
  done
  if [ -f "$bin" ]; then
    cp -p "$bin" "$work/bin.old" || fail "cannot keep the old $bin"
    undo_first "mv -f '$work/bin.old' '$bin'"
  else
    undo_first "rm -f '$bin'"
  fi
  # Copied beside, then renamed: a running agent keeps its old file, nothing ever sees half a binary.
  cp "$new_bin" "$bin.new" && chmod 0755 "$bin.new" && mv -f "$bin.new" "$bin" || fail "cannot write $bin"
  if [ ! -f "$settings" ]; then
    undo_first "rm -f '$settings'"
    cp "$work"/x/uplink-agent-*/uplink-agent.default "$settings" 2>/dev/null || printf 'UPLINK_LOG_LEVEL=info\n' >"$settings" || fail "cannot write $settings"
  fi
  if [ -f "$unit" ]; then
    cp -p "$unit" "$work/unit.old" || fail "cannot keep the old $unit"
    undo_first "mv -f '$work/unit.old' '$unit'"
  else
    undo_first "rm -f '$unit'"
  fi
  sed -e "s#/usr/local/bin/uplink-agent#$bin#g" -e "s#/var/lib/uplink-agent/#$state_dir/#g" -e "s#/etc/default/uplink-agent#$settings#g" \
    "$work"/x/uplink-agent-*/uplink-agent.service >"$unit" && chmod 0644 "$unit" || fail "cannot write $unit"
fi

step=state
if [ "$enrolled" = new ]; then
  if [ ! -d "$state_dir" ]; then
    mkdir -p "$state_dir" || fail "cannot create $state_dir"
    undo="$undo; rmdir -p '$state_dir' 2>/dev/null"
  fi
  chmod 0700 "$state_dir" && mv "$work/state.json" "$state" || fail "cannot write $state"
fi
committed=yes
agent_id=$(sed -n 's/.*"agentId" *: *"\([^"]*\)".*/\1/p' "$state" | head -n 1)

step=start
if [ -z "$prefix" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  { systemctl daemon-reload && systemctl enable uplink-agent.service && systemctl restart uplink-agent.service; } >"$work/systemctl.log" 2>&1 ||
    fail "systemctl: $(tail -n 1 "$work/systemctl.log") (installed and enrolled; see journalctl -u uplink-agent)"
  started="started with systemd (uplink-agent.service)"
else
  started="no systemd here: run it with '$bin run --state $state'"
fi
if [ "$enrolled" = new ]; then what="enrolled as $agent_id"; else what="kept identity $agent_id"; fi
echo "uplink-agent $version installed ($method, $bin), $what with $HUB; $started"
