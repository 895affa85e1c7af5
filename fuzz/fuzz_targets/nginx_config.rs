//! Whatever a configuration file holds, the tokenizer answers or errs and the dump reader finds
//! server blocks or none: neither panics, and every position it gives lies inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(list) = certctl::nginx::lex::parse(text) {
        for d in &list {
            assert!(d.start < d.end && d.end <= text.len());
        }
    }
    for block in certctl::nginx::dump::servers_in(std::path::Path::new("f"), text) {
        assert!(block.open < block.close && block.close < text.len());
    }
});
