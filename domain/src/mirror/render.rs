//! What a signal's copy in a target channel says: one or more Discord messages within Discord's
//! limits (`discord-api.md`: 2000 characters of content, 10 embeds and 6000 embed characters per
//! message), never pinging anyone.
//!
//! The first message carries a header embed — the source author's name and avatar and the
//! original time — then the content. We chose an embed over a webhook-style post (a webhook can
//! take the author's name and avatar) because the bot posts with one permission set (Send
//! Messages, Embed Links, Attach Files) and needs no webhook per target channel to create,
//! store and keep alive; Discord shows the embed's timestamp in each reader's time zone.
//!
//! Content longer than one message is split at a line break, else at a space; a single word
//! longer than a whole message is cut and the cut is marked with "…", never silently. Carried
//! embeds are cleaned to the fields Discord accepts, each field cut to its own limit (marked
//! "…"), and spread over follow-up messages when one message's 10 embeds or 6000 characters
//! are full.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub const CONTENT_LIMIT: usize = 2000;
pub const EMBEDS_PER_MESSAGE: usize = 10;
pub const EMBED_CHARS: usize = 6000;
/// The header embed's colour (the product's accent).
const HEADER_COLOUR: u32 = 0x5865F2;

/// The source message a copy is made from.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub author_name: &'a str,
    pub author_id: Option<i64>,
    /// Discord's avatar hash (`a_…` when animated), as ingest stores it.
    pub author_avatar: Option<&'a str>,
    pub posted_at: Option<DateTime<Utc>>,
    pub content: &'a str,
    pub embeds: &'a [Value],
    /// The signal's stored attachments, in the order it lists them.
    pub files: &'a [FileRef],
}

/// A stored attachment a copy carries: uploaded when Discord takes a file that large, else a
/// link to our copy (served to customers with access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub sha256: String,
    pub filename: String,
    pub size: u64,
    /// Our origin's address of it, for a file too large to upload.
    pub link: String,
}

/// Files per message Discord accepts.
pub const FILES_PER_MESSAGE: usize = 10;
/// The largest file a bot may upload without a boosted server (10 MiB).
pub const UPLOAD_MAX: u64 = 10 * 1024 * 1024;

/// One Discord message of a copy.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMessage {
    pub content: String,
    pub embeds: Vec<Value>,
    /// Uploaded with the message (at most ten).
    pub files: Vec<FileRef>,
}

impl OutMessage {
    /// The JSON body for create or edit. `allowed_mentions` with nothing to parse: whatever the
    /// text says (`@everyone`, `<@id>`, `<@&role>`), the copy pings nobody. With a nonce,
    /// Discord returns the message already made with it instead of posting a second one.
    pub fn body(&self, nonce: Option<&str>) -> Value {
        let mut body = json!({
            "content": self.content,
            "embeds": self.embeds,
            "allowed_mentions": {"parse": []},
        });
        if let Some(n) = nonce {
            body["nonce"] = json!(n);
            body["enforce_nonce"] = json!(true);
        }
        if !self.files.is_empty() {
            // Each upload `files[i]` is described by the attachment with id `i`.
            body["attachments"] = Value::Array(
                self.files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| json!({"id": i, "filename": f.filename}))
                    .collect(),
            );
        }
        body
    }

    /// What this message says, files included, to tell whether it must change. File messages
    /// are marked: an upload cannot be edited into other files, only posted again.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.content.as_bytes());
        h.update([0]);
        h.update(Value::Array(self.embeds.clone()).to_string().as_bytes());
        for f in &self.files {
            h.update([1]);
            h.update(f.sha256.as_bytes());
            h.update(f.filename.as_bytes());
        }
        let kind = if self.files.is_empty() { "t" } else { "f" };
        format!("{kind}:{}", &hex(&h.finalize())[..32])
    }
}

/// Whether a fingerprint is a file message's.
pub fn is_file_message(fingerprint: &str) -> bool {
    fingerprint.starts_with("f:")
}

/// The messages of a signal's copy.
pub fn copy(src: &Source) -> Vec<OutMessage> {
    let mut header = json!({
        "author": {"name": cut(if src.author_name.is_empty() { "unknown author" } else { src.author_name }, 256)},
        "color": HEADER_COLOUR,
    });
    if let (Some(id), Some(hash)) = (src.author_id, src.author_avatar) {
        let ext = if hash.starts_with("a_") { "gif" } else { "png" };
        header["author"]["icon_url"] = json!(format!("https://cdn.discordapp.com/avatars/{id}/{hash}.{ext}"));
    }
    if let Some(at) = src.posted_at {
        header["timestamp"] = json!(at.to_rfc3339());
    }
    let chunks = split_content(src.content, CONTENT_LIMIT);
    let mut messages: Vec<OutMessage> = Vec::new();
    let mut chunks = chunks.into_iter();
    messages.push(OutMessage {
        content: chunks.next().unwrap_or_default(),
        embeds: vec![header],
        files: Vec::new(),
    });
    messages.extend(chunks.map(|content| OutMessage {
        content,
        embeds: Vec::new(),
        files: Vec::new(),
    }));
    // Carried embeds: fill the last message, then as many follow-ups as they need.
    for embed in src.embeds.iter().filter_map(clean_embed) {
        let size = embed_chars(&embed);
        let last = messages.last_mut().expect("at least one message");
        let used: usize = last.embeds.iter().map(embed_chars).sum();
        if last.embeds.len() < EMBEDS_PER_MESSAGE && used + size <= EMBED_CHARS {
            last.embeds.push(embed);
        } else {
            messages.push(OutMessage {
                content: String::new(),
                embeds: vec![embed],
                files: Vec::new(),
            });
        }
    }
    // Files too large to upload: one line each, linking to our copy.
    let (uploads, large): (Vec<&FileRef>, Vec<&FileRef>) = src.files.iter().partition(|f| f.size <= UPLOAD_MAX);
    let lines: Vec<String> = large
        .iter()
        .map(|f| format!("📎 {} ({} MB): <{}>", f.filename, f.size.div_ceil(1024 * 1024), f.link))
        .collect();
    messages.extend(
        split_content(&lines.join("\n"), CONTENT_LIMIT)
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(|content| OutMessage {
                content,
                embeds: Vec::new(),
                files: Vec::new(),
            }),
    );
    // Uploads: ten per message, as follow-ups after the text.
    messages.extend(uploads.chunks(FILES_PER_MESSAGE).map(|chunk| OutMessage {
        content: String::new(),
        embeds: Vec::new(),
        files: chunk.iter().map(|f| (*f).clone()).collect(),
    }));
    messages
}

/// A fingerprint of what the copy says, to tell whether an edit changes anything.
pub fn hash(messages: &[OutMessage]) -> String {
    let mut h = Sha256::new();
    for m in messages {
        h.update(m.content.as_bytes());
        h.update([0]);
        h.update(Value::Array(m.embeds.clone()).to_string().as_bytes());
        h.update([1]);
        for f in &m.files {
            h.update(f.sha256.as_bytes());
            h.update(f.filename.as_bytes());
            h.update([2]);
        }
    }
    hex(&h.finalize())
}

/// The nonce of part `part` of a signal's copy in a target (Discord allows 25 characters).
pub fn nonce(signal_id: i64, target_channel_id: i64, part: usize) -> String {
    let mut h = Sha256::new();
    h.update(format!("{signal_id}/{target_channel_id}/{part}").as_bytes());
    hex(&h.finalize())[..25].to_owned()
}

/// The nonce of a file message: its files are part of it, so the same part posted again with
/// other files (after an edit) is a new message, while a retry of the same post is not.
pub fn file_nonce(signal_id: i64, target_channel_id: i64, part: usize, fingerprint: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{signal_id}/{target_channel_id}/{part}/{fingerprint}").as_bytes());
    hex(&h.finalize())[..25].to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits text into pieces of at most `limit` characters: at the last line break of a piece,
/// else its last space; a word longer than `limit` is cut with a visible "…".
pub fn split_content(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.chars().count() > limit {
        let window_end = rest.char_indices().nth(limit).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..window_end];
        let (piece, next) = match window.rfind('\n').or_else(|| window.rfind(' ')) {
            Some(i) if i > 0 => (&rest[..i], &rest[i + 1..]),
            _ => {
                // No break at all: cut one character early and say so.
                let cut_at = rest.char_indices().nth(limit - 1).map_or(rest.len(), |(i, _)| i);
                out.push(format!("{}…", &rest[..cut_at]));
                rest = &rest[cut_at..];
                continue;
            }
        };
        out.push(piece.to_owned());
        rest = next;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest.to_owned());
    }
    out
}

/// At most `limit` characters, a cut marked with "…".
fn cut(s: &str, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(limit - 1).collect();
    out.push('…');
    out
}

/// Keeps the fields of an embed Discord accepts from a bot, each within its limit. An embed
/// with nothing left to show is dropped.
fn clean_embed(e: &Value) -> Option<Value> {
    let o = e.as_object()?;
    let text = |k: &str| o.get(k).and_then(Value::as_str);
    let https = |v: Option<&Value>| {
        v.and_then(|x| x.get("url"))
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("https://"))
            .map(|u| json!({"url": u}))
    };
    let mut out = Map::new();
    for (key, limit) in [("title", 256), ("description", 4096)] {
        if let Some(t) = text(key).filter(|t| !t.is_empty()) {
            out.insert(key.into(), json!(cut(t, limit)));
        }
    }
    if let Some(u) = text("url").filter(|u| u.starts_with("https://")) {
        out.insert("url".into(), json!(u));
    }
    if let Some(t) = text("timestamp") {
        out.insert("timestamp".into(), json!(t));
    }
    if let Some(c) = o.get("color").and_then(Value::as_u64) {
        out.insert("color".into(), json!(c.min(0xFFFFFF)));
    }
    if let Some(name) = o.get("author").and_then(|a| a.get("name")).and_then(Value::as_str) {
        out.insert("author".into(), json!({"name": cut(name, 256)}));
    }
    if let Some(t) = o.get("footer").and_then(|f| f.get("text")).and_then(Value::as_str) {
        out.insert("footer".into(), json!({"text": cut(t, 2048)}));
    }
    for key in ["image", "thumbnail"] {
        if let Some(v) = https(o.get(key)) {
            out.insert(key.into(), v);
        }
    }
    let fields: Vec<Value> = o
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(25)
        .filter_map(|f| {
            let name = f.get("name")?.as_str()?;
            let value = f.get("value")?.as_str()?;
            Some(json!({
                "name": cut(if name.is_empty() { "\u{200b}" } else { name }, 256),
                "value": cut(if value.is_empty() { "\u{200b}" } else { value }, 1024),
                "inline": f.get("inline").and_then(Value::as_bool).unwrap_or(false),
            }))
        })
        .collect();
    if !fields.is_empty() {
        out.insert("fields".into(), Value::Array(fields));
    }
    let shows = [
        "title",
        "description",
        "fields",
        "image",
        "thumbnail",
        "author",
        "footer",
    ]
    .iter()
    .any(|k| out.contains_key(*k));
    shows.then_some(Value::Object(out))
}

/// The characters Discord counts towards an embed's 6000.
pub fn embed_chars(e: &Value) -> usize {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    len(&e["title"])
        + len(&e["description"])
        + len(&e["author"]["name"])
        + len(&e["footer"]["text"])
        + e["fields"]
            .as_array()
            .map_or(0, |fs| fs.iter().map(|f| len(&f["name"]) + len(&f["value"])).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source<'a>(content: &'a str, embeds: &'a [Value]) -> Source<'a> {
        Source {
            author_name: "Head Trader",
            author_id: Some(1),
            author_avatar: Some("0123456789abcdef0123456789abcdef"),
            posted_at: Some(DateTime::from_timestamp(1_733_000_000, 0).unwrap()),
            content,
            embeds,
            files: &[],
        }
    }

    fn file(n: usize, size: u64) -> FileRef {
        FileRef {
            sha256: format!("{n:064}"),
            filename: format!("chart-{n}.png"),
            size,
            link: format!("https://signals.example/attachments/1/{n}"),
        }
    }

    #[test]
    fn twelve_images_go_ten_per_message_and_a_file_too_large_is_a_link() {
        let mut files: Vec<FileRef> = (0..12).map(|n| file(n, 1000)).collect();
        files.push(file(99, 30 * 1024 * 1024));
        let src = Source {
            files: &files,
            ..source("BTC long", &[])
        };
        let parts = copy(&src);
        assert_eq!(parts.len(), 4, "text, the link line, 10 files, 2 files");
        assert!(
            parts[1]
                .content
                .starts_with("📎 chart-99.png (30 MB): <https://signals.example/attachments/1/99>")
        );
        assert_eq!(parts[2].files.len(), 10);
        assert_eq!(parts[3].files.len(), 2);
        let body = parts[3].body(Some("n"));
        assert_eq!(
            body["attachments"],
            json!([{"id": 0, "filename": "chart-10.png"}, {"id": 1, "filename": "chart-11.png"}])
        );
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        assert!(is_file_message(&parts[2].fingerprint()) && !is_file_message(&parts[0].fingerprint()));
        // Other files make another message and another nonce; the same files, the same.
        let mut other = parts[3].clone();
        other.files[1].sha256 = format!("{:064}", 7);
        assert_ne!(other.fingerprint(), parts[3].fingerprint());
        assert_ne!(
            file_nonce(1, 2, 3, &other.fingerprint()),
            file_nonce(1, 2, 3, &parts[3].fingerprint())
        );
        assert_ne!(hash(&parts), hash(&copy(&source("BTC long", &[]))));
    }

    #[test]
    fn content_at_the_boundary_stays_one_message_and_one_more_splits() {
        for (len, messages) in [(1999, 1), (2000, 1), (2001, 2)] {
            let text = "a ".repeat(len / 2) + &"a".repeat(len % 2);
            assert_eq!(text.chars().count(), len);
            let out = copy(&source(&text, &[]));
            assert_eq!(out.len(), messages, "{len} characters");
            assert!(out.iter().all(|m| m.content.chars().count() <= CONTENT_LIMIT));
            let joined: String = out.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join(" ");
            assert_eq!(
                joined.split_whitespace().count(),
                text.split_whitespace().count(),
                "no word lost"
            );
        }
    }

    #[test]
    fn splits_at_line_breaks_then_spaces_and_never_mid_word_silently() {
        let text = format!("{}\n{}", "x".repeat(1500), "y ".repeat(400));
        let parts = split_content(&text, 2000);
        assert_eq!(parts[0], "x".repeat(1500));
        assert!(parts.iter().all(|p| p.chars().count() <= 2000));
        let word = "z".repeat(4500);
        let parts = split_content(&word, 2000);
        assert_eq!(parts.len(), 3);
        assert!(parts[0].ends_with('…') && parts[1].ends_with('…'));
        assert_eq!(parts.concat().replace('…', ""), word);
        // Multi-byte characters count as characters, not bytes.
        let emoji = "📈".repeat(2001);
        assert!(split_content(&emoji, 2000).iter().all(|p| p.chars().count() <= 2000));
    }

    #[test]
    fn the_header_carries_author_avatar_and_time_and_nothing_pings() {
        let out = copy(&source("@everyone BTC long <@123> <@&456>", &[]));
        let header = &out[0].embeds[0];
        assert_eq!(header["author"]["name"], "Head Trader");
        assert_eq!(
            header["author"]["icon_url"],
            "https://cdn.discordapp.com/avatars/1/0123456789abcdef0123456789abcdef.png"
        );
        assert_eq!(header["timestamp"], "2024-11-30T20:53:20+00:00");
        let body = out[0].body(Some("n"));
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
        assert_eq!(body["enforce_nonce"], true);
    }

    #[test]
    fn embeds_stay_within_ten_per_message_and_6000_characters() {
        let big = json!({"title": "t", "description": "d".repeat(4096)});
        let embeds: Vec<Value> = (0..12).map(|_| big.clone()).collect();
        let out = copy(&source("hi", &embeds));
        let carried: usize = out.iter().map(|m| m.embeds.len()).sum::<usize>() - 1;
        assert_eq!(carried, 12, "every embed is carried");
        for m in &out {
            assert!(m.embeds.len() <= EMBEDS_PER_MESSAGE);
            assert!(
                m.embeds.iter().map(embed_chars).sum::<usize>() <= EMBED_CHARS,
                "{}",
                m.embeds.len()
            );
        }
        let small = json!({"title": "TP", "fields": [{"name": "TP1", "value": "92000"}]});
        let many: Vec<Value> = (0..12).map(|_| small.clone()).collect();
        let out = copy(&source("", &many));
        assert_eq!(out.len(), 2, "9 beside the header, 3 in a follow-up");
        assert_eq!(out[0].embeds.len(), 10);
    }

    #[test]
    fn embed_fields_are_cleaned_and_cut_to_their_limits() {
        let e = json!({"title": "x".repeat(300), "url": "javascript:alert(1)", "image": {"url": "http://plain"},
                       "fields": [{"name": "", "value": "v".repeat(2000)}], "video": {"url": "https://v"}});
        let out = copy(&source("", &[e]));
        let carried = &out[0].embeds[1];
        assert_eq!(carried["title"].as_str().unwrap().chars().count(), 256);
        assert!(carried["title"].as_str().unwrap().ends_with('…'));
        assert!(carried.get("url").is_none() && carried.get("image").is_none() && carried.get("video").is_none());
        assert_eq!(carried["fields"][0]["value"].as_str().unwrap().chars().count(), 1024);
        assert!(
            copy(&source("", &[json!({"type": "rich"})]))[0].embeds.len() == 1,
            "an empty embed is dropped"
        );
    }

    #[test]
    fn nonces_fit_discord_and_differ_per_part_and_target() {
        let n = nonce(1, 2, 0);
        assert_eq!(n.len(), 25);
        assert_ne!(n, nonce(1, 2, 1));
        assert_ne!(n, nonce(1, 3, 0));
        assert_eq!(n, nonce(1, 2, 0));
    }
}
