//! Finding signals: what is indexed (content, then the embeds' text), the trade filters (pair,
//! side) read from it, and the search a customer runs over the history their tier opens —
//! served by the database's own text index (SQLite FTS5, PostgreSQL `tsvector` + GIN; migration
//! 17), newest first, paged by signal id.

use entity::signal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement, Value as DbValue,
};
use serde_json::Value;

use crate::trade;

/// What search and the trade parser read of a message: its content, then each embed's author,
/// title, description, fields (name, then value) and footer, one per line.
pub fn searchable_text(content: &str, embeds_json: &str) -> String {
    let embeds: Value = serde_json::from_str(embeds_json).unwrap_or(Value::Null);
    let mut parts: Vec<&str> = vec![content];
    for e in embeds.as_array().into_iter().flatten() {
        let at = |path: &[&str]| path.iter().try_fold(e, |v, k| v.get(k)).and_then(Value::as_str);
        parts.extend(at(&["author", "name"]));
        parts.extend(at(&["title"]));
        parts.extend(at(&["description"]));
        for f in e.get("fields").and_then(Value::as_array).into_iter().flatten() {
            parts.extend(f.get("name").and_then(Value::as_str));
            parts.extend(f.get("value").and_then(Value::as_str));
        }
        parts.extend(at(&["footer", "text"]));
    }
    parts.retain(|p| !p.trim().is_empty());
    parts.join("\n")
}

/// The indexed text and trade filters of a message version, as stored on its signal row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    pub search_text: String,
    pub pair: Option<String>,
    pub side: Option<String>,
}

pub fn index(content: &str, embeds_json: &str) -> Indexed {
    let search_text = searchable_text(content, embeds_json);
    let trade = trade::parse(&search_text);
    Indexed {
        pair: trade.as_ref().map(|t| t.pair.clone()),
        side: trade.map(|t| t.side.direction().to_owned()),
        search_text,
    }
}

/// Fills the index for signals stored before it existed (their `search_text` is empty while
/// they have content or embeds). Runs at start-up, a batch at a time; returns how many it filled.
pub async fn fill_missing(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let mut filled = 0;
    loop {
        let rows = signal::Entity::find()
            .filter(signal::Column::SearchText.eq(""))
            .filter(signal::Column::DeletedAt.is_null())
            .filter(
                sea_orm::Condition::any()
                    .add(signal::Column::Content.ne(""))
                    .add(signal::Column::EmbedsJson.ne("[]")),
            )
            .limit(500)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(filled);
        }
        for row in rows {
            let ix = index(&row.content, &row.embeds_json);
            // A message with nothing to read still gets a marker, so it is not picked again.
            let text = if ix.search_text.is_empty() {
                " ".to_owned()
            } else {
                ix.search_text
            };
            signal::Entity::update_many()
                .col_expr(signal::Column::SearchText, text.into())
                .col_expr(signal::Column::Pair, ix.pair.into())
                .col_expr(signal::Column::Side, ix.side.into())
                .filter(signal::Column::Id.eq(row.id))
                .exec(db)
                .await?;
            filled += 1;
        }
    }
}

/// Longest query the search box accepts, and most words in it.
pub const QUERY_MAX_CHARS: usize = 200;
pub const QUERY_MAX_WORDS: usize = 8;

/// A customer's query as index words: letters and digits only (lower case), each matched as a
/// prefix ("btc" finds "BTCUSDT"), all of them required. Nothing of the query reaches the index's
/// own syntax.
pub fn words(query: &str) -> Vec<String> {
    query
        .chars()
        .take(QUERY_MAX_CHARS)
        .collect::<String>()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().chars().take(40).collect())
        .take(QUERY_MAX_WORDS)
        .collect()
}

/// What a customer asks for: words, and optional channel, pair and side filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<String>,
    pub channel_id: Option<i64>,
    pub pair: Option<String>,
    /// "long" or "short".
    pub side: Option<String>,
    /// Page back from this signal id.
    pub before: Option<i64>,
}

impl Query {
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.channel_id.is_none() && self.pair.is_none() && self.side.is_none()
    }
}

/// The ids of live signals in `open` channels matching `q`, newest first, at most `limit`.
pub async fn matching_ids(db: &impl ConnectionTrait, open: &[i64], q: &Query, limit: u64) -> Result<Vec<i64>, DbErr> {
    let channels: Vec<i64> = match q.channel_id {
        Some(c) if open.contains(&c) => vec![c],
        Some(_) => return Ok(Vec::new()),
        None => open.to_vec(),
    };
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let mut params: Vec<DbValue> = Vec::new();
    let param = |v: DbValue, params: &mut Vec<DbValue>| {
        params.push(v);
        match backend {
            DbBackend::Postgres => format!("${}", params.len()),
            _ => "?".to_owned(),
        }
    };
    let mut sql = String::from("SELECT s.id FROM signal s");
    let mut conditions: Vec<String> = Vec::new();
    if !q.words.is_empty() {
        match backend {
            DbBackend::Sqlite => {
                sql.push_str(" JOIN signal_fts f ON f.rowid = s.id");
                // Each word a quoted prefix term: `"btc"* "long"*` (letters and digits only).
                let m = q
                    .words
                    .iter()
                    .map(|w| format!("\"{w}\"*"))
                    .collect::<Vec<_>>()
                    .join(" ");
                conditions.push(format!("signal_fts MATCH {}", param(m.into(), &mut params)));
            }
            _ => {
                let m = q.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
                conditions.push(format!(
                    "s.search_tsv @@ to_tsquery('simple', {})",
                    param(m.into(), &mut params)
                ));
            }
        }
    }
    let list = channels
        .iter()
        .map(|c| param((*c).into(), &mut params))
        .collect::<Vec<_>>()
        .join(", ");
    conditions.push(format!("s.channel_id IN ({list})"));
    conditions.push("s.deleted_at IS NULL".into());
    conditions.push("s.posted_at IS NOT NULL".into());
    if let Some(p) = &q.pair {
        conditions.push(format!("s.pair = {}", param(p.clone().into(), &mut params)));
    }
    if let Some(side) = &q.side {
        conditions.push(format!("s.side = {}", param(side.clone().into(), &mut params)));
    }
    if let Some(b) = q.before {
        conditions.push(format!("s.id < {}", param(b.into(), &mut params)));
    }
    sql.push_str(" WHERE ");
    sql.push_str(&conditions.join(" AND "));
    sql.push_str(&format!(" ORDER BY s.id DESC LIMIT {}", limit.min(200)));
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, params))
        .await?;
    rows.iter().map(|r| r.try_get::<i64>("", "id")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_becomes_plain_words() {
        assert_eq!(words("BTC/USDT long"), ["btc", "usdt", "long"]);
        assert_eq!(
            words("\"x\" OR y* NEAR(a b) -z ^c {d}:e"),
            ["x", "or", "y", "near", "a", "b", "z", "c", "d", "e"].map(String::from)[..QUERY_MAX_WORDS]
        );
        assert_eq!(words("   "), Vec::<String>::new());
        assert_eq!(words("Ünïcode café"), ["ünïcode", "café"]);
    }

    #[test]
    fn embeds_are_read_after_the_content() {
        let embeds = r#"[{"title": "SOL/USDT LONG", "fields": [{"name": "Entry", "value": "142"}, {"name": "SL", "value": "135"}],
                          "footer": {"text": "bot"}}, "junk"]"#;
        assert_eq!(searchable_text("", embeds), "SOL/USDT LONG\nEntry\n142\nSL\n135\nbot");
        let ix = index("", embeds);
        assert_eq!(
            (ix.pair.as_deref(), ix.side.as_deref()),
            (Some("SOL/USDT"), Some("long"))
        );
        assert_eq!(
            index("gm", "[]"),
            Indexed {
                search_text: "gm".into(),
                pair: None,
                side: None
            }
        );
    }
}
