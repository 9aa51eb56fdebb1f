//! W1: the `Signature` header is the lowercase hex HMAC-SHA256 of the raw body. Checked on the
//! bytes as received, in constant time, against every configured secret (W6: rotation).
//! Anything that is not exactly 64 hex digits is refused before any comparison.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SIGNATURE_HEX_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Signature header is missing")]
    Missing,
    #[error("the Signature header is not 64 hex digits")]
    Malformed,
    #[error("the Signature does not match the body")]
    Mismatch,
}

pub fn verify(body: &[u8], header: Option<&str>, secrets: &[&str]) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SignatureError::Missing)?;
    if header.len() != SIGNATURE_HEX_LEN {
        return Err(SignatureError::Malformed);
    }
    let given = hex::decode(header).map_err(|_| SignatureError::Malformed)?;
    // Every secret is tried (no early exit on the first match), so timing says nothing about
    // which secret matched.
    let mut ok = false;
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
        mac.update(body);
        ok |= mac.verify_slice(&given).is_ok();
    }
    if ok { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// The header value a sender computes (tests and the fake Sell.app use it).
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event":"order.completed","data":{"id":236},"store":1}"#;

    #[test]
    fn w1_a_correct_signature_passes_and_every_malformed_one_is_refused() {
        let good = sign(BODY, "s3cret");
        assert_eq!(verify(BODY, Some(&good), &["s3cret"]), Ok(()));
        assert_eq!(
            verify(BODY, Some(&good.to_uppercase()), &["s3cret"]),
            Ok(()),
            "hex case is not significant"
        );
        assert_eq!(verify(BODY, None, &["s3cret"]), Err(SignatureError::Missing));
        assert_eq!(verify(BODY, Some(""), &["s3cret"]), Err(SignatureError::Missing));
        assert_eq!(
            verify(BODY, Some(&good[..63]), &["s3cret"]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some(&good[..32]), &["s3cret"]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some(&format!("{good}00")), &["s3cret"]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some(&"zz".repeat(32)), &["s3cret"]),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(BODY, Some(&"0".repeat(64)), &["s3cret"]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(BODY, Some(&good), &["other"]), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(BODY, Some(&good), &[]),
            Err(SignatureError::Mismatch),
            "no secret accepts nothing"
        );
        assert_eq!(
            verify(BODY, Some(&good), &[""]),
            Err(SignatureError::Mismatch),
            "an empty secret accepts nothing"
        );
        // The raw bytes count: the same JSON re-serialised differently does not verify.
        let spaced = br#"{"event": "order.completed", "data": {"id": 236}, "store": 1}"#;
        assert_eq!(verify(spaced, Some(&good), &["s3cret"]), Err(SignatureError::Mismatch));
    }

    #[test]
    fn w6_any_active_secret_verifies_during_a_rotation() {
        let old = sign(BODY, "old-secret");
        let new = sign(BODY, "new-secret");
        let secrets = ["new-secret", "old-secret"];
        assert_eq!(verify(BODY, Some(&old), &secrets), Ok(()));
        assert_eq!(verify(BODY, Some(&new), &secrets), Ok(()));
        assert_eq!(verify(BODY, Some(&old), &["new-secret"]), Err(SignatureError::Mismatch));
    }
}
