//! Each command's examples, shown after its `--help` and in its man page. They are the README's
//! examples: a test holds every `certctl …` line of the README's sh blocks to the examples of the
//! command it runs.

/// `certctl issue`.
pub const ISSUE: &str = "\
Examples:
  certctl issue example.com -d www.example.com --webroot /var/www/acme --email ops@example.com --agree-tos
  certctl issue example.com --standalone --http-port 80 --key-type rsa-4096 --staging
  certctl issue example.com -d www.example.com --nginx                    # the site you run, now over HTTPS
  certctl issue example.com -d www.example.com --nginx --dry-run          # the diff of every file it would touch
  certctl issue new.example.com --nginx --proxy-pass http://127.0.0.1:8000
      # a name nothing serves yet
  certctl issue example.com -d www.example.com --nginx --dual --root /srv/www
      # ECDSA + RSA pair
  certctl issue example.com --nginx --tls-profile modern --root /srv/www  # TLS 1.3 only";

/// `certctl list`.
pub const LIST: &str = "\
Examples:
  certctl list         # table: name, names, key type, not-after, days left, issuer
  certctl list --json  # per certificate: next renewal, why then, ARI window, last result, next retry";

/// `certctl nginx`.
pub const NGINX: &str = "\
Examples:
  certctl nginx example.com --revert                                      # every file back byte for byte
  certctl nginx example.com --profile modern --hsts 63072000 --hsts-subdomains
      # change the site
  certctl nginx example.com --profile modern --dry-run                    # unified diff, writes nothing
  certctl nginx NAME --revert                                             # nginx reads certbot's files for NAME again";

/// `certctl dhparam`.
pub const DHPARAM: &str = "\
Examples:
  certctl dhparam --out /etc/nginx/dhparam.pem  # RFC 7919 ffdhe2048, instant
  certctl dhparam --generate --bits 4096 --out /etc/nginx/dhparam.pem";

/// `certctl csr`.
pub const CSR: &str = "\
Examples:
  certctl csr example.com -d www.example.com --key-type rsa-2048 --out-dir ./csr
      # for a commercial CA";

/// `certctl install-cert`.
pub const INSTALL_CERT: &str = "\
Examples:
  certctl install-cert example.com --cert my.crt --chain issuer.crt --key my.key
      # bring your own";

/// `certctl renew`.
pub const RENEW: &str = "\
Examples:
  certctl renew            # everything that is due (what the timer runs); quiet when nothing is
  certctl renew example.com --force
  certctl renew --days 30  # renew what has fewer than 30 days left
  certctl renew --dry-run  # full orders against Let's Encrypt staging (or --server URL); nothing goes live
  certctl renew --metrics-file /var/lib/prometheus/node-exporter/certctl.prom --on-failure-hook 'mail -s certctl ops@example.com'";

/// `certctl schedule`.
pub const SCHEDULE: &str = "\
Examples:
  certctl schedule install  # writes /etc/systemd/system/certctl-renew.{service,timer}, enables the timer
  certctl schedule status   # installed? next run, last run
  certctl schedule uninstall";

/// `certctl daemon`.
pub const DAEMON: &str = "\
Examples:
  certctl daemon --cron \"0 7 */6 * * *\" --metrics-file /metrics/certctl.prom";

/// `certctl import`.
pub const IMPORT: &str = "\
Examples:
  certctl import certbot --dry-run          # what it would take over, and what it would leave to certbot
  certctl import certbot                    # take them: records, live certificates, the account
  certctl import certbot --config-dir /srv/letsencrypt --json
  certctl import certbot --disable-certbot  # and stop certbot.timer / /etc/cron.d/certbot (see below)";

/// `certctl verify`.
pub const VERIFY: &str = "\
Examples:
  certctl verify example.com  # a managed certificate: live files, record names, key
  certctl verify --cert fullchain.pem --key privkey.pem --host example.com --ca-bundle root.pem
  certctl verify example.com --warn-days 21 --json";

/// `certctl revoke`.
pub const REVOKE: &str = "\
Examples:
  certctl revoke example.com --reason keyCompromise";

/// `certctl audit`.
pub const AUDIT: &str = "\
Examples:
  certctl audit example.com                  # port 443, SNI example.com, system trust store
  certctl audit 127.0.0.1:8443 --sni example.com --ca-bundle root.pem
  certctl audit example.com --json           # machine-readable, top-level \"grade\"
  certctl audit example.com --min-grade A    # exit 1 when the grade is worse
  certctl audit example.com --concurrency 2  # at most 2 connections at once (default 8)
  certctl audit example.com --deadline 60    # the whole audit ends within 60 s (default 30)";

/// `certctl django`.
pub const DJANGO: &str = "\
Examples:
  certctl django check                             # finds manage.py and its settings from here
  certctl django check --settings config.settings.production --env-file .envs/.production/.django
  certctl django check --url https://example.com/  # also live: redirect, HSTS, cookies, mixed content
  certctl django check --url https://example.com/ --connect 203.0.113.7 --path /accounts/login/
  certctl django check --json --strict             # exit 1 on any finding but info (for CI)
  certctl django secret-key                        # a strong SECRET_KEY from the OS CSPRNG
  certctl django secret-key --env-file .env        # write DJANGO_SECRET_KEY there, 0600";

/// `certctl config`.
pub const CONFIG: &str = "\
Examples:
  certctl config show                          # every setting, its effective value and where it comes from
  certctl config show --json                   # {\"config_file\", \"settings\": [{key, value, source, origin, env, flag}]}
  certctl config show --config ./certctl.toml  # another file (or CERTCTL_CONFIG)";

/// `certctl completions`.
pub const COMPLETIONS: &str = "\
Examples:
  certctl completions bash > /etc/bash_completion.d/certctl  # also zsh, fish
  certctl completions zsh > /usr/local/share/zsh/site-functions/_certctl";

/// `certctl status`.
pub const STATUS: &str = "\
Examples:
  certctl status         # every certificate, next renewal, last result, timer/daemon, what nginx serves
  certctl status --json  # the same for monitoring; exit 0 all good, 1 warnings, 2 needs a person";

/// `certctl doctor`.
pub const DOCTOR: &str = "\
Examples:
  certctl doctor example.com www.example.com   # DNS, port 80, CAA, the clock, the account, renewal history
  certctl doctor example.com --nginx           # also: nginx's servers for the name, what issue --nginx would write
  certctl doctor example.com --webroot /var/www/acme --dns-server 192.0.2.53:53 --json
  certctl doctor example.com --resolve example.com:203.0.113.7   # split-horizon DNS: the public address";

/// `certctl fleet`.
pub const FLEET: &str = "\
Examples:
  certctl fleet init --store postgres://certctl@db.internal/certctl   # schema (idempotent) + fleet key
  certctl fleet sync --store postgres://… --node web2                 # write web2's live/ from the store
  certctl fleet status --store postgres://… --json                    # who serves which version
  certctl fleet import --store postgres://… --node web1               # this state directory into the store
  certctl fleet http01-snippet --store postgres://… --server URL --out /etc/nginx/snippets/acme-challenge-stateless.conf";
