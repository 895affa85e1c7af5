#!/usr/bin/env bash
# Installs the .deb into a throwaway root with dpkg and checks what a user gets from it:
# `certctl --version`, `man -w` for certctl and each subcommand's page, the completions, the
# example config, `systemd-analyze verify` on the installed units (not enabled: no symlink in
# timers.target.wants); then removes it and checks nothing is left behind.
#   bash scripts/test-deb.sh [DEB]      default: the newest target/debian/*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(ls -t target/debian/*.deb | head -1)}
root=$(mktemp -d /tmp/certctl-deb.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
fail() { echo "test-deb: $*" >&2; exit 1; }
# The throwaway root has no libc of its own for dpkg to know about: the host's stands in.
out=$(dpkg --root="$root" --log=/dev/null --force-depends -i "$deb" 2>&1) || fail "dpkg -i: $out"
version=$("$root/usr/bin/certctl" --config /dev/null --version)
[[ "$version" == "certctl "* ]] || fail "certctl --version said: $version"
man=(man -M "$root/usr/share/man" -w)
for page in certctl certctl-issue certctl-status certctl-config-show certctl-import-certbot; do
    "${man[@]}" "$page" >/dev/null || fail "no man page $page"
done
pages=$(ls "$root/usr/share/man/man1" | wc -l)
gen=$(mktemp -d)
"$root/usr/bin/certctl" --config /dev/null man --out-dir "$gen"
expected=$(ls "$gen" | wc -l)
rm -rf "$gen"
[ "$pages" -eq "$expected" ] || fail "$pages man pages installed, $expected subcommands and certctl"
for f in usr/share/bash-completion/completions/certctl usr/share/zsh/vendor-completions/_certctl \
    usr/share/fish/vendor_completions.d/certctl.fish usr/share/doc/certctl/examples/certctl.toml \
    usr/share/doc/certctl/README.md usr/share/doc/certctl/changelog.Debian.gz \
    usr/share/certctl/nginx-snippets/tls-intermediate.conf; do
    [ -s "$root/$f" ] || fail "$f is missing"
done
grep -q "status" "$root/usr/share/bash-completion/completions/certctl" || fail "bash completion lacks status"
"$root/usr/bin/certctl" --config "$root/usr/share/doc/certctl/examples/certctl.toml" config show >/dev/null \
    || fail "the example config is refused"
# systemd-analyze verify --root wants a whole system in the root (sysinit.target …): the installed
# units are verified in place of the host's, their ExecStart pointed at the root's binary.
check=$(mktemp -d)
for unit in certctl-renew.service certctl-renew.timer; do
    [ -s "$root/usr/lib/systemd/system/$unit" ] || fail "$unit is not installed"
    sed "s|/usr/bin/certctl|$root/usr/bin/certctl|" "$root/usr/lib/systemd/system/$unit" >"$check/$unit"
done
verify=$(systemd-analyze verify "$check/certctl-renew.service" "$check/certctl-renew.timer" 2>&1) \
    || fail "systemd-analyze verify: $verify"
rm -rf "$check"
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"
[ ! -e "$root/etc/systemd/system/timers.target.wants/certctl-renew.timer" ] || fail "the timer was enabled"
dpkg --root="$root" --log=/dev/null --purge certctl >/dev/null
left=$(find "$root" -mindepth 1 -not -path "$root/var" -not -path "$root/var/lib" -not -path "$root/var/lib/dpkg*")
[ -z "$left" ] || fail "left behind after removal: $left"
echo "test-deb: $(basename "$deb") installs, works and removes cleanly"
