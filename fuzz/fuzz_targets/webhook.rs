//! What reaches `/api/v1/webhooks/sellapp`: any body and any `Signature` header. Verification
//! must never panic and never accept a forged signature; the envelope and order readers must
//! never panic, and never call an order paid without a paid status.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line plays the Signature header, the rest the body.
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    let secret = "fuzz-secret";
    if domain::payments::signature::verify(body, header, &[secret]).is_ok() {
        // Only the real signature verifies.
        assert_eq!(header.map(str::trim), Some(domain::payments::signature::sign(body, secret).as_str()));
    }
    if let Ok(env) = domain::payments::webhooks::envelope(body) {
        let _ = domain::payments::webhooks::dedupe_key(&env, body);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(order) = domain::payments::order::Order::from_json(&value["data"])
    {
        if order.is_paid() {
            assert!(order.status.as_deref().is_some_and(|s| domain::payments::order::PAID.contains(&s)));
        }
        assert!(order.lines.len() <= domain::payments::order::LINES_MAX);
    }
});
