//! The PostgreSQL schema, as numbered migrations. Pure: SQL text only; `pg::migrate` applies
//! each migration past the version in `certctl_schema_version`, all in one transaction, so
//! `certctl fleet init` can run any number of times, from any node.
//!
//! Every table is prefixed `certctl_`, so the fleet can live in a database the site already has
//! (a Django project's). A migration is never edited once released: a change is a new one.

/// The migrations, in order; migration `n` is `MIGRATIONS[n - 1]`.
pub const MIGRATIONS: &[&str] = &[
    // 1: the fleet key's check value, leases and fences, accounts, certificates and their
    // versions, renewal state, what each node has deployed.
    r#"
    CREATE TABLE certctl_fleet (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        key_check bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE SEQUENCE certctl_fence;
    CREATE TABLE certctl_lease (
        key text PRIMARY KEY,
        holder text NOT NULL,
        fence bigint NOT NULL,
        taken_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE certctl_account (
        directory_url text PRIMARY KEY,
        sealed bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE certctl_cert (
        name text PRIMARY KEY,
        record text,
        record_rev bigint NOT NULL DEFAULT 0,
        live_version bigint,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE certctl_version (
        name text NOT NULL REFERENCES certctl_cert (name),
        version bigint NOT NULL CHECK (version > 0),
        serial text NOT NULL,
        cert text NOT NULL,
        chain text NOT NULL,
        fullchain text NOT NULL,
        privkey bytea NOT NULL,
        rsa_cert text,
        rsa_chain text,
        rsa_fullchain text,
        rsa_privkey bytea,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, version),
        CHECK ((rsa_cert IS NULL) = (rsa_privkey IS NULL))
    );
    ALTER TABLE certctl_cert ADD FOREIGN KEY (name, live_version)
        REFERENCES certctl_version (name, version) DEFERRABLE INITIALLY DEFERRED;
    CREATE TABLE certctl_renewal_state (
        name text PRIMARY KEY,
        state text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE certctl_node_status (
        node text NOT NULL,
        name text NOT NULL,
        version bigint NOT NULL,
        serial text NOT NULL,
        since timestamptz NOT NULL,
        checked_at timestamptz NOT NULL,
        PRIMARY KEY (node, name)
    );
    "#,
    // 2: what each node's nginx was last seen serving (by a handshake), when, and why a deploy
    // there failed.
    r#"
    ALTER TABLE certctl_node_status
        ADD COLUMN served_serial text,
        ADD COLUMN verified_at timestamptz,
        ADD COLUMN problem text;
    "#,
    // 3: the nodes a daemon deploying to nginx runs on (when last seen, how often it looks),
    // and a first order's challenges that every such node serves before the CA validates
    // (which node confirmed, or why not).
    r#"
    CREATE TABLE certctl_node (
        node text PRIMARY KEY,
        recheck_secs double precision NOT NULL,
        seen_at timestamptz NOT NULL
    );
    CREATE SEQUENCE certctl_challenge_request;
    CREATE TABLE certctl_challenge (
        name text PRIMARY KEY,
        request bigint NOT NULL,
        node text NOT NULL,
        body text NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE TABLE certctl_challenge_ready (
        name text NOT NULL REFERENCES certctl_challenge (name) ON DELETE CASCADE,
        node text NOT NULL,
        request bigint NOT NULL,
        problem text,
        PRIMARY KEY (name, node)
    );
    "#,
];

/// The schema version this certctl writes and reads.
pub const LATEST: i32 = MIGRATIONS.len() as i32;

/// Creates the version table when missing (the one statement that runs before the lock).
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS certctl_schema_version (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// What a database at `current` needs, or why this certctl cannot use it.
pub fn pending(current: i32) -> Result<std::ops::Range<usize>, String> {
    if current > LATEST {
        return Err(format!(
            "the database's certctl schema is version {current}, newer than this certctl's {LATEST}: upgrade certctl on this node"
        ));
    }
    Ok(current.max(0) as usize..MIGRATIONS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gets_the_migrations_past_its_version() {
        assert_eq!(pending(0).unwrap(), 0..MIGRATIONS.len());
        assert!(pending(LATEST).unwrap().is_empty());
        let newer = pending(LATEST + 1).unwrap_err();
        assert!(newer.contains("upgrade certctl"), "{newer}");
    }

    #[test]
    fn every_table_is_prefixed() {
        for sql in MIGRATIONS {
            for (i, _) in sql.match_indices("CREATE TABLE ") {
                let rest = &sql[i + "CREATE TABLE ".len()..];
                assert!(
                    rest.starts_with("certctl_"),
                    "{}",
                    &rest[..30.min(rest.len())]
                );
            }
        }
    }
}
