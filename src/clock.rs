//! The clock and the dice: the one place certctl reads the time or draws a random number for
//! scheduling. Pure modules take both as arguments, so their tests choose them.

/// The current time in Unix seconds: the one place certctl reads the clock (pure modules take
/// the time as an argument).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A uniform random number in `0.0..1.0` from the OS CSPRNG (where in an ARI window to renew,
/// so a fleet does not hit the CA at the same moment).
pub fn random_unit() -> f64 {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .is_err()
    {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
