//! Reading a Sell.app order out of a webhook (or invoices API) body, defensively: fields that
//! Sell.app's material shows in more than one shape are accepted in each, and an unknown status
//! is treated as unknown, never as paid.

use serde_json::Value;

/// One product line of an order: what it buys is decided per line by the access policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub product_id: String,
    pub variant_id: Option<String>,
    /// How many were bought (1 when the body does not say); the line's days are multiplied by it.
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub status: Option<String>,
    pub email: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// Every product line, in the order's own order (empty when the body names no product).
    pub lines: Vec<Line>,
    /// What was paid, in minor units of `currency` (e.g. 1999 = 19.99 EUR), when the body says.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// Statuses that mean the money came back or is contested: the order's time is taken back.
pub const TAKEN_BACK: &[&str] = &["REFUNDED", "VOIDED", "REVERSED", "DISPUTING", "DISPUTED", "CHARGEBACK"];
/// Statuses that mean paid.
pub const PAID: &[&str] = &["COMPLETED", "PAID"];
/// More lines than this in one order is not a real storefront order.
pub const LINES_MAX: usize = 50;
const QUANTITY_MAX: i32 = 100;

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.len() <= 64 => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// An amount in minor units, as a string ("1999") or a number.
fn minor_units(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n >= 0)
}

fn line_of(product: &Value, variant: Option<String>, quantity: &Value) -> Option<Line> {
    Some(Line {
        product_id: id_of(&product["id"])?,
        variant_id: variant,
        quantity: quantity
            .as_i64()
            .map_or(1, |q| q.clamp(1, i64::from(QUANTITY_MAX)) as i32),
    })
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
            // An address no account could have (malformed, past 254 characters) is no address.
            .and_then(|e| crate::accounts::normalize_email(e).ok());
        let mut lines: Vec<Line> = data["products"]
            .as_array()
            .map(|products| {
                products
                    .iter()
                    .take(LINES_MAX)
                    .filter_map(|p| {
                        let variant = [&p["variants"][0]["id"], &p["variant_id"], &p["variant"]["id"]]
                            .into_iter()
                            .find_map(id_of);
                        line_of(p, variant, &p["quantity"])
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The flat shape: one product named at the top level.
        if lines.is_empty()
            && let Some(product_id) = [&data["product_id"], &data["product"]["id"]]
                .into_iter()
                .find_map(id_of)
        {
            let variant = [&data["product_variant_id"], &data["variant_id"], &data["variant"]["id"]]
                .into_iter()
                .find_map(id_of);
            lines.extend(line_of(
                &serde_json::json!({ "id": product_id }),
                variant,
                &data["quantity"],
            ));
        }
        let payment = &data["payment"];
        let amount_minor = [&data["total"], &payment["total"], &data["amount"]]
            .into_iter()
            .find_map(minor_units);
        let currency = [&data["currency"], &payment["currency"]]
            .into_iter()
            .find_map(|v| v.as_str())
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
        Some(Order {
            id,
            status,
            email,
            customer_id: id_of(&customer["id"]),
            subscription_id: id_of(&data["subscription_id"]),
            lines,
            amount_minor,
            currency,
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
            o.lines,
            vec![Line {
                product_id: "77".into(),
                variant_id: Some("701".into()),
                quantity: 1
            }]
        );
        assert_eq!(o.customer_id.as_deref(), Some("9"));
        assert!(o.is_paid() && !o.is_taken_back());

        let flat = json!({"id": "237", "status": "refunded", "customer_information": {"email": "b@example.com"}, "product_id": "77"});
        let o = Order::from_json(&flat).unwrap();
        assert!(o.is_taken_back());
        assert_eq!(
            o.lines,
            vec![Line {
                product_id: "77".into(),
                variant_id: None,
                quantity: 1
            }]
        );
    }

    #[test]
    fn reads_every_product_line_and_the_amount() {
        let o = Order::from_json(
            &json!({"id": 5, "status": "COMPLETED", "total": "2998", "currency": "eur",
            "products": [{"id": 77, "variants": [{"id": 701}]}, {"id": 78, "quantity": 2}, {"no": "id"}]}),
        )
        .unwrap();
        assert_eq!(
            o.lines,
            vec![
                Line {
                    product_id: "77".into(),
                    variant_id: Some("701".into()),
                    quantity: 1
                },
                Line {
                    product_id: "78".into(),
                    variant_id: None,
                    quantity: 2
                },
            ]
        );
        assert_eq!((o.amount_minor, o.currency.as_deref()), (Some(2998), Some("EUR")));
        let o = Order::from_json(&json!({"id": 6, "payment": {"total": 1500, "currency": "USD"}})).unwrap();
        assert_eq!((o.amount_minor, o.currency.as_deref()), (Some(1500), Some("USD")));
        let o = Order::from_json(&json!({"id": 7, "total": "-5", "currency": "euros"})).unwrap();
        assert_eq!((o.amount_minor, o.currency), (None, None), "nonsense is not recorded");
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
