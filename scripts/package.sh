#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (installed when missing) and checks it with lintian:
#   bash scripts/package.sh            release build → target/debian/certctl_VERSION-1_ARCH.deb
#   bash scripts/package.sh --dev      the debug build the tests already made (CI: no second build),
#                                      written to target/debian/dev/
# Before cargo-deb runs, the binary writes what the package ships besides itself into
# target/package/: the systemd units with /usr/bin/certctl and /var/lib/certctl filled in (shipped
# in /usr/lib/systemd/system, not enabled), the bash/zsh/fish completions and a man page for
# certctl and every subcommand (gzipped).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
[ "${1:-}" = "--dev" ] && profile=dev
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked
command -v lintian >/dev/null 2>&1 || { . scripts/lab-deps.sh; lab_deps; }
if [ "$profile" = release ]; then
    cargo build --release --locked -q
    bin=target/release/certctl
else
    cargo build --locked -q --bin certctl
    bin=target/debug/certctl
fi
out=target/package
rm -rf "$out"
mkdir -p "$out/units" "$out/completions" "$out/man"
# Another machine's /etc/certctl/certctl.toml must not change what is generated.
certctl() { "$bin" --config /dev/null "$@"; }
for unit in certctl-renew.service certctl-renew.timer; do
    sed -e 's|@CERTCTL@|/usr/bin/certctl|g' -e 's|@STATE_DIR@|/var/lib/certctl|g' \
        -e '1s|^# certctl-managed:.*|# Shipped by the certctl package, not enabled: `systemctl enable --now certctl-renew.timer` (or `certctl schedule install`).|' \
        "systemd/$unit" >"$out/units/$unit"
done
certctl completions bash >"$out/completions/certctl"
certctl completions zsh >"$out/completions/_certctl"
certctl completions fish >"$out/completions/certctl.fish"
certctl man --out-dir "$out/man"
gzip -9n "$out"/man/*.1
args=(--no-build --locked --strip)
# The test build goes to its own directory, so it is never taken for the release package.
[ "$profile" = dev ] && { mkdir -p target/debian/dev; args+=(--profile dev --output target/debian/dev); }
deb=$(cargo deb "${args[@]}" | tail -1)
echo "$deb"
# Errors fail the build; warnings are shown.
lintian --fail-on error --suppress-tags statically-linked-binary "$deb" >&2
