//! Finding signals: what is indexed (content, then the embeds' text), the trade filters (pair,
//! side) read from it, and the search a customer runs over the history their tier opens —
//! served by the database's own text index (SQLite FTS5, PostgreSQL `tsvector` + GIN; migration
//! 17), newest first, paged by signal id.

use entity::signal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
    TransactionSession, TransactionTrait, Value as DbValue,
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

/// How many of the newest signals PostgreSQL reads through before it asks the text index for
/// the rest (see [`matching_ids`]).
pub const RECENT_WINDOW: u64 = 5_000;

/// Bound parameters for one statement, numbered as the backend wants them.
struct Params {
    backend: DbBackend,
    values: Vec<DbValue>,
}

impl Params {
    fn add(&mut self, v: impl Into<DbValue>) -> String {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }
}

/// The conditions every result meets besides the words: an open channel, live, filters, paging.
fn filters(p: &mut Params, channels: &[i64], q: &Query, id: &str) -> String {
    let list = channels.iter().map(|c| p.add(*c)).collect::<Vec<_>>().join(", ");
    let mut c = vec![
        format!("s.channel_id IN ({list})"),
        "s.deleted_at IS NULL".to_owned(),
        "s.posted_at IS NOT NULL".to_owned(),
    ];
    if let Some(pair) = &q.pair {
        c.push(format!("s.pair = {}", p.add(pair.clone())));
    }
    if let Some(side) = &q.side {
        c.push(format!("s.side = {}", p.add(side.clone())));
    }
    if let Some(b) = q.before {
        c.push(format!("{id} < {}", p.add(b)));
    }
    c.join(" AND ")
}

async fn ids(db: &impl ConnectionTrait, sql: String, p: Params) -> Result<Vec<i64>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(p.backend, sql, p.values))
        .await?;
    rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect()
}

/// The ids of live signals in `open` channels matching `q`, newest first, at most `limit`.
///
/// Newest first is the hard part for a text index: a common word matches a large share of the
/// history, a rare one a handful of rows. SQLite's FTS5 walks its lists in rowid (= signal id)
/// order, newest first, and stops at the page's end either way (with a pair filter, the pair's
/// index leads instead). PostgreSQL's GIN index returns
/// matches unordered, and its planner cannot tell a rare prefix from a common one; so it first
/// reads the newest [`RECENT_WINDOW`] signals (a common word fills the page there), and only
/// when they hold less than a page asks the index for the older matches — which are then few
/// (under a page per window's worth of signals, i.e. under 0.6 % of the history), so sorting
/// them is cheap.
pub async fn matching_ids(
    db: &(impl ConnectionTrait + TransactionTrait),
    open: &[i64],
    q: &Query,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    matching_ids_in(db, open, q, limit, RECENT_WINDOW).await
}

/// [`matching_ids`] with PostgreSQL's first step reading `window` signals (tests make it small
/// to reach the second step without a million rows).
pub async fn matching_ids_in(
    db: &(impl ConnectionTrait + TransactionTrait),
    open: &[i64],
    q: &Query,
    limit: u64,
    window: u64,
) -> Result<Vec<i64>, DbErr> {
    let channels: Vec<i64> = match q.channel_id {
        Some(c) if open.contains(&c) => vec![c],
        Some(_) => return Ok(Vec::new()),
        None => open.to_vec(),
    };
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let limit = limit.min(200);
    let backend = db.get_database_backend();
    let mut p = Params {
        backend,
        values: Vec::new(),
    };
    if q.words.is_empty() {
        let f = filters(&mut p, &channels, q, "s.id");
        return ids(
            db,
            format!("SELECT s.id FROM signal s WHERE {f} ORDER BY s.id DESC LIMIT {limit}"),
            p,
        )
        .await;
    }
    if backend == DbBackend::Sqlite {
        // Each word a quoted prefix term: `"btc"* "long"*` (letters and digits only).
        let m = q
            .words
            .iter()
            .map(|w| format!("\"{w}\"*"))
            .collect::<Vec<_>>()
            .join(" ");
        let m = p.add(m);
        // Words alone: FTS5 walks its lists in rowid (= signal id) order, newest first, and
        // stops at the page's end. With a pair, that pair's index bounds the work better (a word
        // common elsewhere but absent from the pair would otherwise be walked to the end), so
        // the planner chooses.
        let id = if q.pair.is_none() { "f.rowid" } else { "s.id" };
        let f = filters(&mut p, &channels, q, id);
        let sql = format!(
            "SELECT s.id FROM signal_fts f JOIN signal s ON s.id = f.rowid \
             WHERE signal_fts MATCH {m} AND {f} ORDER BY {id} DESC LIMIT {limit}"
        );
        return ids(db, sql, p).await;
    }
    // Statements are prepared, and after five runs PostgreSQL may plan one for every word alike: a
    // generic plan cannot tell a rare word from a common one and intersects the text index with
    // the whole id range (46 ms instead of 0.5 ms for a one-match word on 1,000,000 signals). The
    // setting lasts this transaction only.
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
        .await?;
    let found = postgres_steps(&txn, &channels, q, limit, window).await?;
    txn.commit().await?;
    Ok(found)
}

/// PostgreSQL's two steps (see [`matching_ids`]).
async fn postgres_steps(
    db: &impl ConnectionTrait,
    channels: &[i64],
    q: &Query,
    limit: u64,
    window: u64,
) -> Result<Vec<i64>, DbErr> {
    let backend = DbBackend::Postgres;
    let mut p = Params {
        backend,
        values: Vec::new(),
    };
    let tsquery = q.words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & ");
    // Step 1, one statement: the newest signals that pass the filters, the words checked on
    // each; the first page of matches, where the window ended, and whether it was full.
    let m = p.add(tsquery.clone());
    let f = filters(&mut p, channels, q, "s.id");
    // With a pair, the window is a tenth: the planner reaches the pair's signals by walking the
    // primary key past every other pair's (eleven for each in the benchmark: 21 ms for 5,000),
    // and the second step is cheap there anyway — the text index meets the pair's own index.
    let window = if q.pair.is_some() { (window / 10).max(1) } else { window };
    let step1 = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT array_to_string((array_agg(r.id ORDER BY r.id DESC) FILTER (WHERE r.m))[1:{limit}], ','), \
                 MIN(r.id), COUNT(*) FROM (SELECT s.id, s.search_tsv @@ to_tsquery('simple', {m}) AS m \
                 FROM signal s WHERE {f} ORDER BY s.id DESC LIMIT {window}) r"
            ),
            p.values,
        ))
        .await?;
    let (page, oldest, count) = match step1 {
        Some(r) => (
            r.try_get_by_index::<Option<String>>(0)?,
            r.try_get_by_index::<Option<i64>>(1)?,
            r.try_get_by_index::<i64>(2)?,
        ),
        None => (None, None, 0),
    };
    let mut found: Vec<i64> = page
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok())
        .collect();
    if found.len() as u64 >= limit {
        return Ok(found);
    }
    // The window held every candidate: there is nothing older.
    let Some(oldest) = oldest.filter(|_| count as u64 >= window) else {
        return Ok(found);
    };
    // Step 2: older matches from the text index (`id + 0`: sorted after the index, not by walking
    // the primary key through the whole history).
    let mut p = Params {
        backend,
        values: Vec::new(),
    };
    let m = p.add(tsquery);
    let f = filters(&mut p, channels, q, "s.id");
    let below = p.add(oldest);
    let older = ids(
        db,
        format!(
            "SELECT s.id FROM signal s WHERE s.search_tsv @@ to_tsquery('simple', {m}) AND {f} AND s.id < {below} \
             ORDER BY s.id + 0 DESC LIMIT {}",
            limit - found.len() as u64
        ),
        p,
    )
    .await?;
    found.extend(older);
    Ok(found)
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
