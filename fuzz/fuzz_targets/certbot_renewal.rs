//! Whatever a certbot directory holds, the renewal-file parser, the lineage plan and the account
//! readers answer or err: they never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    certctl::certbot::fuzzing::renewal_conf(data);
});
