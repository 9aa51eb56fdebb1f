//! Discord ids. In JSON they are strings (a JavaScript collector would round a number past 2^53);
//! in the database they are 64-bit integers, which every real snowflake fits (below 2^63 until 2084).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a Discord id: a string of 1 to 19 digits, not zero")]
pub struct InvalidSnowflake;

impl Snowflake {
    pub fn get(self) -> i64 {
        self.0
    }

    /// Ids read back from our own tables (written only through `FromStr`).
    pub fn from_db(id: i64) -> Self {
        Snowflake(id)
    }
}

impl FromStr for Snowflake {
    type Err = InvalidSnowflake;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidSnowflake);
        }
        match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Snowflake(n)),
            _ => Err(InvalidSnowflake),
        }
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for Snowflake {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Snowflake {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Snowflake;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Discord id as a string of digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Snowflake, E> {
                v.parse().map_err(|e: InvalidSnowflake| E::custom(e))
            }
        }
        d.deserialize_str(Visitor)
    }
}

impl utoipa::PartialSchema for Snowflake {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[1-9][0-9]{0,18}$"))
            .description(Some("A Discord id (snowflake), always as a string"))
            .examples(["1180000000000000001"])
            .into()
    }
}

impl utoipa::ToSchema for Snowflake {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_in_json_and_exact() {
        let id: Snowflake = serde_json::from_str("\"1180000000000000001\"").unwrap();
        assert_eq!(id.get(), 1_180_000_000_000_000_001);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"1180000000000000001\"");
    }

    #[test]
    fn numbers_and_junk_are_refused() {
        for bad in [
            "1180000000000000001",
            "\"\"",
            "\"12a\"",
            "\"-5\"",
            "\"0\"",
            "\"99999999999999999999\"",
            "1.5e18",
        ] {
            assert!(serde_json::from_str::<Snowflake>(bad).is_err(), "{bad}");
        }
    }
}
