//! Whatever a server sends, the flight parser answers or errs: it never panics, never loops and
//! never buffers beyond its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certctl::audit::wire::parse_answer(data, true);
    let _ = certctl::audit::wire::parse_answer(data, false);
    let _ = certctl::audit::wire::parse_sslv2_answer(data);
});
