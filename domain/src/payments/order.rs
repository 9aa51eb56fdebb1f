//! Reading a Sell.app order out of a webhook (or invoices API) body, defensively: fields that
//! Sell.app's material shows in more than one shape are accepted in each, and an unknown status
//! is treated as unknown, never as paid.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub status: Option<String>,
    pub email: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub product_id: Option<String>,
    pub variant_id: Option<String>,
}

/// Statuses that mean the money came back or is contested: the order's time is taken back.
pub const TAKEN_BACK: &[&str] = &["REFUNDED", "VOIDED", "REVERSED", "DISPUTING", "DISPUTED", "CHARGEBACK"];
/// Statuses that mean paid.
pub const PAID: &[&str] = &["COMPLETED", "PAID"];

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.len() <= 64 => Some(s.trim().to_owned()),
        _ => None,
    }
}

impl Order {
    pub fn from_json(data: &Value) -> Option<Order> {
        let id = id_of(&data["id"])?;
        // `status.status.status` in v2; a plain string in older material.
        let status = [
            &data["status"]["status"]["status"],
            &data["status"]["status"],
            &data["status"],
        ]
        .into_iter()
        .find_map(|v| v.as_str())
        .map(|s| s.to_ascii_uppercase());
        let customer = &data["customer_information"];
        let email = [&customer["email"], &data["customer_email"], &data["email"]]
            .into_iter()
            .find_map(|v| v.as_str())
            .map(|e| e.trim().to_lowercase())
            .filter(|e| e.contains('@'));
        let product = &data["products"][0];
        let product_id = [&data["product_id"], &product["id"], &data["product"]["id"]]
            .into_iter()
            .find_map(id_of);
        let variant_id = [
            &data["product_variant_id"],
            &data["variant_id"],
            &product["variants"][0]["id"],
            &product["variant_id"],
            &data["variant"]["id"],
        ]
        .into_iter()
        .find_map(id_of);
        Some(Order {
            id,
            status,
            email,
            customer_id: id_of(&customer["id"]),
            subscription_id: id_of(&data["subscription_id"]),
            product_id,
            variant_id,
        })
    }

    pub fn is_taken_back(&self) -> bool {
        self.status.as_deref().is_some_and(|s| TAKEN_BACK.contains(&s))
    }

    pub fn is_paid(&self) -> bool {
        self.status.as_deref().is_some_and(|s| PAID.contains(&s))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_v2_shape_and_the_flat_one() {
        let v2 = json!({"id": 236, "status": {"status": {"status": "COMPLETED"}}, "customer_information": {"email": "Ada@Example.com", "id": 9},
            "subscription_id": null, "products": [{"id": 77, "variants": [{"id": 701}]}]});
        let o = Order::from_json(&v2).unwrap();
        assert_eq!(
            (o.id.as_str(), o.status.as_deref(), o.email.as_deref()),
            ("236", Some("COMPLETED"), Some("ada@example.com"))
        );
        assert_eq!(
            (
                o.product_id.as_deref(),
                o.variant_id.as_deref(),
                o.customer_id.as_deref()
            ),
            (Some("77"), Some("701"), Some("9"))
        );
        assert!(o.is_paid() && !o.is_taken_back());

        let flat = json!({"id": "237", "status": "refunded", "customer_information": {"email": "b@example.com"}, "product_id": "77"});
        let o = Order::from_json(&flat).unwrap();
        assert!(o.is_taken_back());
        assert_eq!(o.variant_id, None);
    }

    #[test]
    fn unknown_statuses_are_neither_paid_nor_taken_back() {
        let o = Order::from_json(&json!({"id": 1, "status": "REVIEW"})).unwrap();
        assert!(!o.is_paid() && !o.is_taken_back());
        assert!(
            Order::from_json(&json!({"status": "PAID"})).is_none(),
            "no id, no order"
        );
    }
}
