//! A Discord embed as the desk shows it: read field by field from the stored JSON (a field of the
//! wrong type is dropped, never the signal), cut to Discord's own limits, with links kept only
//! for http(s) targets and images only from Discord's CDN (what the page's CSP allows to load;
//! Discord itself hands out a `proxy_url` there for images hosted elsewhere).

use serde_json::Value;

use crate::discord_markdown::is_http;

/// Discord's limits (developer docs, "Embed Limits"); a source cannot exceed them on Discord, but
/// the ingest API accepts any JSON, so they are applied here too.
pub mod limits {
    pub const EMBEDS: usize = 10;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    pub const AUTHOR: usize = 256;
    /// All of one embed's text together.
    pub const TOTAL: usize = 6000;
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Embed {
    /// `#rrggbb` for the bar on the left.
    pub colour: Option<String>,
    pub author: Option<Named>,
    pub title: Option<String>,
    /// Only when http(s).
    pub url: Option<String>,
    /// Markdown, rendered like message content.
    pub description: Option<String>,
    pub fields: Vec<Field>,
    pub image: Option<String>,
    pub thumbnail: Option<String>,
    pub footer: Option<Named>,
    /// Seconds since the epoch.
    pub timestamp: Option<i64>,
}

/// An author or footer: its text, an optional link and an optional icon.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Named {
    pub text: String,
    pub url: Option<String>,
    pub icon: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
}

impl Embed {
    /// Whether there is anything to show at all (Discord drops empty embeds the same way).
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.fields.is_empty()
            && self.author.is_none()
            && self.footer.is_none()
            && self.image.is_none()
            && self.thumbnail.is_none()
    }
}

/// The embeds of a stored message, at most [`limits::EMBEDS`], the empty ones left out.
pub fn embeds(stored: &Value) -> Vec<Embed> {
    stored
        .as_array()
        .map(|list| {
            list.iter()
                .take(limits::EMBEDS)
                .map(embed)
                .filter(|e| !e.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Text budget shared by one embed's parts, spent in Discord's reading order.
struct Budget(usize);

impl Budget {
    fn take(&mut self, text: Option<&str>, limit: usize) -> Option<String> {
        let text = text?.trim();
        if text.is_empty() || self.0 == 0 {
            return None;
        }
        let cut = cut(text, limit.min(self.0));
        self.0 -= cut.chars().count();
        Some(cut)
    }
}

/// At most `limit` characters, the last of them an ellipsis when something was cut.
fn cut(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_owned(),
        Some(_) => {
            let mut s: String = text.chars().take(limit.saturating_sub(1)).collect();
            s.push('…');
            s
        }
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

fn link(v: Option<&str>) -> Option<String> {
    v.filter(|u| is_http(u) && !u.contains(['"', '<', '>', ' ']))
        .map(str::to_owned)
}

/// Hosts the page may load images from (`img-src` in the CSP).
const IMAGE_HOSTS: [&str; 2] = ["https://cdn.discordapp.com/", "https://media.discordapp.net/"];

/// The first of `keys` under `key` that is an address on Discord's CDN (Discord's own proxy
/// copy first: it is on the CDN when the original is not).
fn cdn_image(v: &Value, key: &str, keys: [&str; 2]) -> Option<String> {
    keys.into_iter()
        .filter_map(|k| str_at(v, &[key, k]))
        .find(|u| IMAGE_HOSTS.iter().any(|h| u.starts_with(h)) && !u.contains(['"', '<', '>', ' ']))
        .map(str::to_owned)
}

fn image(v: &Value, key: &str) -> Option<String> {
    cdn_image(v, key, ["proxy_url", "url"])
}

fn icon(v: &Value, key: &str) -> Option<String> {
    cdn_image(v, key, ["proxy_icon_url", "icon_url"])
}

fn embed(v: &Value) -> Embed {
    let mut budget = Budget(limits::TOTAL);
    let title = budget.take(str_at(v, &["title"]), limits::TITLE);
    let description = budget.take(str_at(v, &["description"]), limits::DESCRIPTION);
    let fields = v
        .get("fields")
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .take(limits::FIELDS)
                .filter_map(|f| {
                    let name = budget.take(str_at(f, &["name"]), limits::FIELD_NAME);
                    let value = budget.take(str_at(f, &["value"]), limits::FIELD_VALUE);
                    (name.is_some() || value.is_some()).then(|| Field {
                        name: name.unwrap_or_default(),
                        value: value.unwrap_or_default(),
                        inline: f.get("inline").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let footer = budget
        .take(str_at(v, &["footer", "text"]), limits::FOOTER)
        .map(|text| Named {
            text,
            url: None,
            icon: icon(v, "footer"),
        });
    let author = budget
        .take(str_at(v, &["author", "name"]), limits::AUTHOR)
        .map(|text| Named {
            text,
            url: link(str_at(v, &["author", "url"])),
            icon: icon(v, "author"),
        });
    let colour = v
        .get("color")
        .and_then(Value::as_u64)
        .filter(|c| *c <= 0xFF_FFFF)
        .map(|c| format!("#{c:06x}"));
    let timestamp = str_at(v, &["timestamp"]).and_then(crate::components::time::unix_seconds);
    Embed {
        colour,
        author,
        url: title.as_ref().and(link(str_at(v, &["url"]))),
        title,
        description,
        fields,
        image: image(v, "image"),
        thumbnail: image(v, "thumbnail"),
        footer,
        timestamp,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_trade_embed_is_read_whole() {
        let e = embeds(&json!([{
            "title": "BTC/USDT LONG", "url": "https://example.com/t/1", "color": 0x2ecc71,
            "description": "**Entry** 64,000", "timestamp": "2024-11-30T20:53:20.000+00:00",
            "author": {"name": "Signal Bot", "url": "https://example.com", "icon_url": "https://cdn.discordapp.com/avatars/1/a.png"},
            "fields": [{"name": "TP1", "value": "65,000", "inline": true}, {"name": "SL", "value": "63,000"}],
            "image": {"url": "https://tradingview.com/x.png", "proxy_url": "https://media.discordapp.net/external/x.png"},
            "thumbnail": {"url": "https://evil.example/t.png"},
            "footer": {"text": "not financial advice"}
        }]));
        assert_eq!(e.len(), 1);
        let e = &e[0];
        assert_eq!(e.colour.as_deref(), Some("#2ecc71"));
        assert_eq!(e.title.as_deref(), Some("BTC/USDT LONG"));
        assert_eq!(e.url.as_deref(), Some("https://example.com/t/1"));
        assert_eq!(
            e.author.as_ref().unwrap().icon.as_deref(),
            Some("https://cdn.discordapp.com/avatars/1/a.png")
        );
        assert_eq!(e.fields.len(), 2);
        assert!(e.fields[0].inline && !e.fields[1].inline);
        // Discord's proxy for an outside image; an outside thumbnail with no proxy is not loaded.
        assert_eq!(e.image.as_deref(), Some("https://media.discordapp.net/external/x.png"));
        assert_eq!(e.thumbnail, None);
        assert_eq!(e.timestamp, Some(1_733_000_000));
        assert_eq!(e.footer.as_ref().unwrap().text, "not financial advice");
    }

    #[test]
    fn wrong_types_and_unsafe_links_are_dropped_not_the_embed() {
        let e = embeds(&json!([
            {"title": 5, "description": "still here", "color": "red", "url": "javascript:alert(1)",
             "fields": "nope", "timestamp": "yesterday", "image": {"url": "javascript:alert(1)"}},
            {"title": "x", "url": "javascript:alert(1)", "author": {"name": "a", "url": "data:text/html,<b>"}},
            {"color": 123},
            "not an embed"
        ]));
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].description.as_deref(), Some("still here"));
        assert_eq!(
            (
                e[0].title.clone(),
                e[0].colour.clone(),
                e[0].timestamp,
                e[0].image.clone()
            ),
            (None, None, None, None)
        );
        assert_eq!(e[1].url, None);
        assert_eq!(e[1].author.as_ref().unwrap().url, None);
        assert!(embeds(&json!({"title": "not a list"})).is_empty());
    }

    #[test]
    fn discord_limits_are_applied() {
        let long = "x".repeat(10_000);
        let fields: Vec<_> = (0..40)
            .map(|i| json!({"name": format!("f{i}"), "value": long}))
            .collect();
        let many: Vec<_> = (0..15).map(|i| json!({"title": format!("e{i}")})).collect();
        assert_eq!(embeds(&Value::Array(many)).len(), limits::EMBEDS);
        let e = &embeds(&json!([{"title": long, "description": long, "fields": fields, "footer": {"text": long}}]))[0];
        assert_eq!(e.title.as_ref().unwrap().chars().count(), limits::TITLE);
        assert!(e.title.as_ref().unwrap().ends_with('…'));
        assert_eq!(e.description.as_ref().unwrap().chars().count(), limits::DESCRIPTION);
        assert!(e.fields.len() <= limits::FIELDS);
        let total = e
            .title
            .iter()
            .chain(&e.description)
            .map(|s| s.chars().count())
            .sum::<usize>()
            + e.fields
                .iter()
                .map(|f| f.name.chars().count() + f.value.chars().count())
                .sum::<usize>()
            + e.footer.iter().map(|f| f.text.chars().count()).sum::<usize>();
        assert!(total <= limits::TOTAL, "{total}");
        assert!(e.fields.iter().all(|f| f.value.chars().count() <= limits::FIELD_VALUE));
    }
}
