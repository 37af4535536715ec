//! CSV / JSON case import: any bytes give cases or an error message, never a panic; what is
//! accepted passes the same checks again (import is all-or-nothing and idempotent).
#![no_main]

use dify_bench::server::import::{check, parse_cases, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let format = if which & 1 == 0 {
        Format::Csv
    } else {
        Format::Json
    };
    match parse_cases(format, text) {
        Ok(cases) => {
            assert!(!cases.is_empty());
            for case in cases {
                let again = check(case.clone()).expect("an accepted case passes its checks again");
                assert_eq!(again, case);
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
