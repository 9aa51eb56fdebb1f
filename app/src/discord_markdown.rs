//! Discord's message markdown, read into a tree of a fixed set of elements. The same code runs on
//! the server (the page is readable before the wasm loads) and in the browser (live updates), so
//! a signal looks the same either way. The tree holds only text and ids: whatever the source
//! writes stays text when rendered (no HTML passes through), links keep only http(s) targets,
//! and custom emoji are only ever addressed by their numeric id on Discord's CDN.
//!
//! What Discord renders and this reads: `**bold**`, `*italic*` / `_italic_`, `__underline__`,
//! `~~strike~~`, `||spoiler||`, `` `code` ``, fenced code blocks, `> quote` and `>>> quote the
//! rest`, `#`/`##`/`###` headings, `-# subtext`, `-`/`*`/`1.` lists, `[masked](https://links)`,
//! bare and `<https://…>` links, `<@user>`, `<@&role>`, `<#channel>`, `<:emoji:id>`,
//! `<t:unix:style>` timestamps, and backslash escapes.
//!
//! Cost: every delimiter search either succeeds (and the text between is read once, inside) or
//! records that no closer exists further on, so a position is visited a bounded number of times
//! per nesting level, and nesting stops at [`MAX_DEPTH`]: linear in the input.

/// Deeper emphasis than this is left as text (Discord's own limit is similar in effect).
pub const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    Subtext(Vec<Inline>),
    Quote(Vec<Block>),
    List {
        ordered: bool,
        start: u32,
        items: Vec<Vec<Inline>>,
    },
    Code {
        lang: Option<String>,
        code: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    LineBreak,
    Bold(Vec<Inline>),
    Italic(Vec<Inline>),
    Underline(Vec<Inline>),
    Strike(Vec<Inline>),
    Spoiler(Vec<Inline>),
    Code(String),
    /// An http(s) link; `children` is the visible text.
    Link {
        href: String,
        children: Vec<Inline>,
    },
    User(u64),
    Role(u64),
    Channel(u64),
    Emoji {
        name: String,
        id: u64,
        animated: bool,
    },
    /// `<t:unix:style>`: seconds since the epoch and Discord's format letter (`f` when absent).
    Timestamp {
        unix: i64,
        style: char,
    },
}

/// Reads a whole message.
pub fn parse(source: &str) -> Vec<Block> {
    blocks(source, 0)
}

fn blocks(source: &str, depth: usize) -> Vec<Block> {
    let mut out = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let lines: Vec<&str> = source.split('\n').collect();
    // Where each line starts in `source`, so a search never copies what follows.
    let mut starts = Vec::with_capacity(lines.len());
    let mut offset = 0;
    for line in &lines {
        starts.push(offset);
        offset += line.len() + 1;
    }
    let mut i = 0;
    let flush = |paragraph: &mut Vec<&str>, out: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            out.push(Block::Paragraph(inline(&paragraph.join("\n"), depth)));
            paragraph.clear();
        }
    };
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("```") {
            // A fence runs to the next ``` (on this line or a later one); without one it is text.
            let after_open = &source[starts[i] + 3..];
            if let Some(close) = after_open.find("```") {
                flush(&mut paragraph, &mut out);
                let inside = &after_open[..close];
                let (lang, code) = match inside.split_once('\n') {
                    Some((first, body)) if is_language(first) => (Some(first.trim().to_owned()), body),
                    _ => (None, inside),
                };
                out.push(Block::Code {
                    lang,
                    code: code.strip_suffix('\n').unwrap_or(code).to_owned(),
                });
                i += inside.matches('\n').count() + 1;
                let tail = after_open[close + 3..].split('\n').next().unwrap_or("");
                if !tail.trim().is_empty() {
                    paragraph.push(tail);
                }
                continue;
            }
        }
        if depth == 0 && line.starts_with(">>> ") {
            flush(&mut paragraph, &mut out);
            let quoted = &source[starts[i] + 4..];
            out.push(Block::Quote(blocks(quoted, depth + 1)));
            break;
        }
        if depth == 0 && (line.starts_with("> ") || line == ">") {
            flush(&mut paragraph, &mut out);
            let mut quoted = Vec::new();
            while i < lines.len() && (lines[i].starts_with("> ") || lines[i] == ">") {
                quoted.push(lines[i].strip_prefix("> ").unwrap_or(""));
                i += 1;
            }
            out.push(Block::Quote(blocks(&quoted.join("\n"), depth + 1)));
            continue;
        }
        if let Some((level, text)) = heading(line) {
            flush(&mut paragraph, &mut out);
            out.push(Block::Heading(level, inline(text, depth)));
            i += 1;
            continue;
        }
        if let Some(text) = line.strip_prefix("-# ") {
            flush(&mut paragraph, &mut out);
            out.push(Block::Subtext(inline(text, depth)));
            i += 1;
            continue;
        }
        if let Some((ordered, start, _)) = list_item(line) {
            flush(&mut paragraph, &mut out);
            let mut items = Vec::new();
            while i < lines.len()
                && let Some((o, _, text)) = list_item(lines[i])
                && o == ordered
            {
                items.push(inline(text, depth));
                i += 1;
            }
            out.push(Block::List { ordered, start, items });
            continue;
        }
        paragraph.push(line);
        i += 1;
    }
    flush(&mut paragraph, &mut out);
    out
}

fn is_language(first: &str) -> bool {
    let t = first.trim();
    !t.is_empty() && t.len() <= 32 && t.chars().all(|c| c.is_ascii_alphanumeric() || "+-_#.".contains(c))
}

fn heading(line: &str) -> Option<(u8, &str)> {
    for (level, mark) in [(3u8, "### "), (2, "## "), (1, "# ")] {
        if let Some(text) = line.strip_prefix(mark)
            && !text.trim().is_empty()
        {
            return Some((level, text));
        }
    }
    None
}

fn list_item(line: &str) -> Option<(bool, u32, &str)> {
    if let Some(text) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((false, 1, text));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if (1..=9).contains(&digits)
        && let Some(text) = line[digits..].strip_prefix(". ")
    {
        return Some((true, line[..digits].parse().ok()?, text));
    }
    None
}

/// The emphasis delimiters, longest first (so `**` is not read as two `*`).
const DELIMITERS: [&str; 7] = ["**", "__", "~~", "||", "*", "_", "`"];
/// How far a `<…>` form may reach: mentions, emoji and timestamps are short; a link is not.
const ANGLE_REACH: usize = 80;
const ANGLE_LINK_REACH: usize = 2048;

fn inline(source: &str, depth: usize) -> Vec<Inline> {
    Reader::new(source).run(0, source.len(), depth)
}

struct Reader<'a> {
    s: &'a str,
    /// Per searched pattern: from this byte on it does not occur, so no search looks again.
    absent_from: std::collections::HashMap<String, usize>,
    /// Bytes looked at, for the linear-time property test.
    steps: usize,
}

impl<'a> Reader<'a> {
    fn new(s: &'a str) -> Self {
        Reader {
            s,
            absent_from: Default::default(),
            steps: 0,
        }
    }

    /// The next `pattern` at or after `from`.
    fn find(&mut self, pattern: &str, from: usize) -> Option<usize> {
        if self.absent_from.get(pattern).is_some_and(|p| from >= *p) {
            return None;
        }
        match self.s[from..].find(pattern) {
            Some(p) => {
                self.steps += p + pattern.len();
                Some(from + p)
            }
            None => {
                self.steps += self.s.len() - from;
                self.absent_from.insert(pattern.to_owned(), from);
                None
            }
        }
    }

    /// The next `*` at or after `from` that is not half of a `**` before `to` (that one is
    /// bold's). Its absence is remembered like [`Self::find`]'s: the skipped `**`s would otherwise
    /// be walked again from every later `*` (the property test caught exactly that).
    fn lone_star(&mut self, from: usize, to: usize) -> Option<usize> {
        const KEY: &str = "lone *";
        if self.absent_from.get(KEY).is_some_and(|p| from >= *p) {
            return None;
        }
        let mut at = from;
        loop {
            let Some(found) = self.find("*", at) else {
                self.absent_from.insert(KEY.to_owned(), from);
                return None;
            };
            // Inside a span the span's own closer does not count as a pair.
            if !self.s[found..to.max(found)].starts_with("**") {
                return Some(found);
            }
            at = found + 2;
        }
    }

    /// The first byte at or after `from` (and before `from + reach`) that `stop` accepts.
    fn scan(&mut self, from: usize, reach: usize, stop: impl Fn(char) -> bool) -> Option<usize> {
        let end = (from + reach).min(self.s.len());
        for (i, c) in self.s[from..].char_indices() {
            if from + i >= end {
                self.steps += i;
                return None;
            }
            if stop(c) {
                self.steps += i + 1;
                return Some(from + i);
            }
        }
        self.steps += end - from;
        None
    }

    fn run(&mut self, from: usize, to: usize, depth: usize) -> Vec<Inline> {
        let mut out: Vec<Inline> = Vec::new();
        let mut text = String::new();
        let mut at = from;
        let s = self.s;
        while at < to {
            self.steps += 1;
            let rest = &s[at..to];
            let c = rest.chars().next().expect("not at the end");
            if c == '\\'
                && let Some(next) = rest[1..].chars().next()
                && next.is_ascii_punctuation()
            {
                text.push(next);
                at += 1 + next.len_utf8();
                continue;
            }
            if c == '\n' {
                push_text(&mut out, &mut text);
                out.push(Inline::LineBreak);
                at += 1;
                continue;
            }
            if c == '<'
                && let Some((node, len)) = self.angle(at, to)
            {
                push_text(&mut out, &mut text);
                out.push(node);
                at += len;
                continue;
            }
            if c == '['
                && let Some((label, href, len)) = self.masked_link(at, to)
            {
                push_text(&mut out, &mut text);
                let children = if depth < MAX_DEPTH {
                    self.run(label.0, label.1, depth + 1)
                } else {
                    vec![Inline::Text(s[label.0..label.1].to_owned())]
                };
                out.push(Inline::Link { href, children });
                at += len;
                continue;
            }
            if (c == 'h' || c == 'H')
                && boundary_before(s, at)
                && let Some(len) = self.bare_url(at, to)
            {
                push_text(&mut out, &mut text);
                let url = &rest[..len];
                out.push(Inline::Link {
                    href: url.to_owned(),
                    children: vec![Inline::Text(url.to_owned())],
                });
                at += len;
                continue;
            }
            if let Some((node, len)) = self.emphasis(at, to, depth) {
                push_text(&mut out, &mut text);
                out.push(node);
                at += len;
                continue;
            }
            text.push(c);
            at += c.len_utf8();
        }
        push_text(&mut out, &mut text);
        out
    }

    /// Emphasis or inline code opening at `at`, closed before `to`: the node and its length.
    fn emphasis(&mut self, at: usize, to: usize, depth: usize) -> Option<(Inline, usize)> {
        let s = self.s;
        let rest = &s[at..to];
        let mark = *DELIMITERS.iter().find(|d| rest.starts_with(**d))?;
        if mark == "`" {
            // A run of backticks closes with the same run; the inside is literal.
            let run = rest.chars().take_while(|c| *c == '`').count();
            let close = self.find(&rest[..run], at + run)?;
            if close + run > to || close == at + run {
                return None;
            }
            let inside = &s[at + run..close];
            let inside = if run > 1 { inside.trim() } else { inside };
            return Some((Inline::Code(inside.to_owned()), close + run - at));
        }
        if depth >= MAX_DEPTH {
            return None;
        }
        let open_end = at + mark.len();
        let first = s[open_end..to].chars().next()?;
        if first.is_whitespace() || (mark == "_" && !boundary_before(s, at)) {
            return None;
        }
        let from = open_end + first.len_utf8();
        let mut close = if mark == "*" {
            self.lone_star(from, to)?
        } else {
            self.find(mark, from)?
        };
        // `***x***` is bold around italic: a double mark closes on the last two of a run.
        if mark.len() == 2 {
            while s[close + 2..].starts_with(&mark[..1]) {
                close += 1;
            }
        }
        if close + mark.len() > to
            || (mark == "*" && s[..close].chars().next_back().is_some_and(char::is_whitespace))
            || (mark == "_" && s[close + 1..to].chars().next().is_some_and(char::is_alphanumeric))
        {
            return None;
        }
        let children = self.run(open_end, close, depth + 1);
        let node = match mark {
            "**" => Inline::Bold(children),
            "__" => Inline::Underline(children),
            "~~" => Inline::Strike(children),
            "||" => Inline::Spoiler(children),
            _ => Inline::Italic(children),
        };
        Some((node, close + mark.len() - at))
    }

    /// `[label](https://…)`: the label's byte range, the target and the length. A label holds no
    /// `[` or line break and a target no space, so no byte is scanned twice by failed tries.
    fn masked_link(&mut self, at: usize, to: usize) -> Option<((usize, usize), String, usize)> {
        let s = self.s;
        let close = self.scan(at + 1, to - at - 1, |c| c == ']' || c == '[' || c == '\n')?;
        if !s[close..to].starts_with("](") || close == at + 1 {
            return None;
        }
        let target_start = close + 2;
        let end = self.scan(target_start, to - target_start, |c| {
            c == ')' || c.is_whitespace() || c == '[' || c == ']'
        })?;
        if !s[end..].starts_with(')') {
            return None;
        }
        let target = &s[target_start..end];
        let target = target
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(target);
        if !is_http(target) || target.contains(['"', '<', '>']) {
            return None;
        }
        Some(((at + 1, close), target.to_owned(), end + 1 - at))
    }

    /// A bare link's length: `http(s)://` then anything but whitespace and `<`, without trailing
    /// punctuation (a sentence's full stop is not part of the link); an unmatched `)` ends it.
    fn bare_url(&mut self, at: usize, to: usize) -> Option<usize> {
        let rest = &self.s[at..to];
        if !is_http(rest) {
            return None;
        }
        let scheme = rest.find("://")? + 3;
        let mut open = 0i32;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            self.steps += 1;
            match c {
                c if c.is_whitespace() || c == '<' || c == '"' => {
                    end = i;
                    break;
                }
                '(' => open += 1,
                ')' if open == 0 => {
                    end = i;
                    break;
                }
                ')' => open -= 1,
                _ => {}
            }
        }
        while let Some(c) = rest[..end].chars().next_back()
            && ".,:;!?'*_~|".contains(c)
        {
            end -= c.len_utf8();
        }
        (end > scheme).then_some(end)
    }

    /// `<…>` forms: mentions, emoji, timestamps, and links Discord shows without a preview.
    fn angle(&mut self, at: usize, to: usize) -> Option<(Inline, usize)> {
        let s = self.s;
        let reach = if is_http(&s[at + 1..to]) {
            ANGLE_LINK_REACH
        } else {
            ANGLE_REACH
        };
        let end = self.scan(at + 1, reach.min(to - at - 1), |c| {
            c == '>' || c == '<' || c.is_whitespace()
        })?;
        if !s[end..].starts_with('>') {
            return None;
        }
        angle_form(&s[at + 1..end]).map(|node| (node, end + 1 - at))
    }
}

fn push_text(out: &mut Vec<Inline>, text: &mut String) {
    if !text.is_empty() {
        out.push(Inline::Text(std::mem::take(text)));
    }
}

fn boundary_before(s: &str, at: usize) -> bool {
    !s[..at].chars().next_back().is_some_and(char::is_alphanumeric)
}

pub(crate) fn is_http(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// What is between `<` and `>`.
fn angle_form(inner: &str) -> Option<Inline> {
    if is_http(inner) {
        if inner.contains(['"', '\'']) {
            return None;
        }
        return Some(Inline::Link {
            href: inner.to_owned(),
            children: vec![Inline::Text(inner.to_owned())],
        });
    }
    let id = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if let Some(r) = inner.strip_prefix("@&") {
        return Some(Inline::Role(id(r)?));
    }
    if let Some(u) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
        return Some(Inline::User(id(u)?));
    }
    if let Some(c) = inner.strip_prefix('#') {
        return Some(Inline::Channel(id(c)?));
    }
    if let Some(t) = inner.strip_prefix("t:") {
        let (unix, style) = match t.split_once(':') {
            Some((u, st)) if st.len() == 1 && "tTdDfFR".contains(st) => (u, st.chars().next()?),
            Some(_) => return None,
            None => (t, 'f'),
        };
        let unix: i64 = unix.parse().ok()?;
        // Discord accepts ±8.64e12 s (the JavaScript date range).
        return (unix.abs() <= 8_640_000_000_000).then_some(Inline::Timestamp { unix, style });
    }
    let (animated, emoji) = match inner.strip_prefix("a:") {
        Some(e) => (true, e),
        None => (false, inner.strip_prefix(':')?),
    };
    let (name, num) = emoji.split_once(':')?;
    if name.len() < 2 || name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(Inline::Emoji {
        name: name.to_owned(),
        id: id(num)?,
        animated,
    })
}

#[cfg(test)]
mod tests {
    use super::Block::{Heading, List, Paragraph, Quote, Subtext};
    use super::Inline::*;
    use super::*;

    fn t(s: &str) -> Inline {
        Text(s.into())
    }

    fn one(source: &str) -> Vec<Inline> {
        match parse(source).as_slice() {
            [Paragraph(p)] => p.clone(),
            other => panic!("not one paragraph: {other:?}"),
        }
    }

    #[test]
    fn emphasis_nests_and_unclosed_marks_stay_text() {
        assert_eq!(one("**BTC** long"), vec![Bold(vec![t("BTC")]), t(" long")]);
        assert_eq!(
            one("***both*** __*u*__"),
            vec![
                Bold(vec![Italic(vec![t("both")])]),
                t(" "),
                Underline(vec![Italic(vec![t("u")])])
            ]
        );
        assert_eq!(
            one("~~old~~ ||tp 2||"),
            vec![Strike(vec![t("old")]), t(" "), Spoiler(vec![t("tp 2")])]
        );
        assert_eq!(one("2 * 3 * 4"), vec![t("2 * 3 * 4")]);
        assert_eq!(one("**open"), vec![t("**open")]);
        assert_eq!(one("snake_case_name"), vec![t("snake_case_name")]);
        assert_eq!(one(r"\*not\* italic"), vec![t("*not* italic")]);
    }

    #[test]
    fn code_is_literal() {
        assert_eq!(
            one("`**x**` and ``a`b``"),
            vec![Code("**x**".into()), t(" and "), Code("a`b".into())]
        );
        assert_eq!(
            parse("entry:\n```rust\nlet x = <b>;\n```\nafter"),
            vec![
                Paragraph(vec![t("entry:")]),
                Block::Code {
                    lang: Some("rust".into()),
                    code: "let x = <b>;".into()
                },
                Paragraph(vec![t("after")])
            ]
        );
        assert_eq!(parse("```no close"), vec![Paragraph(vec![t("```no close")])]);
    }

    #[test]
    fn mentions_emoji_and_timestamps_are_read_by_id() {
        assert_eq!(
            one("<@123> <@!4> <@&5> <#6> <:pepe:77> <a:spin:88> <t:1733000000:R> <t:1733000000>"),
            vec![
                User(123),
                t(" "),
                User(4),
                t(" "),
                Role(5),
                t(" "),
                Channel(6),
                t(" "),
                Emoji {
                    name: "pepe".into(),
                    id: 77,
                    animated: false
                },
                t(" "),
                Emoji {
                    name: "spin".into(),
                    id: 88,
                    animated: true
                },
                t(" "),
                Timestamp {
                    unix: 1_733_000_000,
                    style: 'R'
                },
                t(" "),
                Timestamp {
                    unix: 1_733_000_000,
                    style: 'f'
                },
            ]
        );
        assert_eq!(one("<@abc> <t:1:Z> <:x:1>"), vec![t("<@abc> <t:1:Z> <:x:1>")]);
    }

    #[test]
    fn links_are_http_only() {
        assert_eq!(
            one("chart https://tradingview.com/x?a=1. [here](https://ex.com/p)"),
            vec![
                t("chart "),
                Link {
                    href: "https://tradingview.com/x?a=1".into(),
                    children: vec![t("https://tradingview.com/x?a=1")]
                },
                t(". "),
                Link {
                    href: "https://ex.com/p".into(),
                    children: vec![t("here")]
                },
            ]
        );
        assert_eq!(one("[x](javascript:alert(1))"), vec![t("[x](javascript:alert(1))")]);
        assert_eq!(
            one("(see https://a.io/b)"),
            vec![
                t("(see "),
                Link {
                    href: "https://a.io/b".into(),
                    children: vec![t("https://a.io/b")]
                },
                t(")")
            ]
        );
    }

    #[test]
    fn blocks_quote_heading_list_subtext() {
        assert_eq!(
            parse("# ETH\n> entry 3,100\n> sl 3,000\n- tp1 3,300\n- tp2 3,500\n-# not advice"),
            vec![
                Heading(1, vec![t("ETH")]),
                Quote(vec![Paragraph(vec![t("entry 3,100"), LineBreak, t("sl 3,000")])]),
                List {
                    ordered: false,
                    start: 1,
                    items: vec![vec![t("tp1 3,300")], vec![t("tp2 3,500")]]
                },
                Subtext(vec![t("not advice")]),
            ]
        );
        assert_eq!(
            parse("intro\n>>> all\nof this"),
            vec![
                Paragraph(vec![t("intro")]),
                Quote(vec![Paragraph(vec![t("all"), LineBreak, t("of this")])])
            ]
        );
        assert_eq!(
            parse("1. one\n2. two"),
            vec![List {
                ordered: true,
                start: 1,
                items: vec![vec![t("one")], vec![t("two")]]
            }]
        );
    }

    /// Whatever comes in, nothing but text and ids comes out: every `<`, `"` and scheme that is
    /// not a link we made stays inside a Text (which the view escapes).
    #[test]
    fn the_xss_corpus_stays_text() {
        let corpus = [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
            "[click](JaVaScRiPt:alert(1))",
            "[click](data:text/html,<script>alert(1)</script>)",
            "[x](https://ok.com\" onmouseover=\"alert(1))",
            "**<b>bold</b>**",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<:x:1\"><script>",
            "<t:1\"onload=alert(1)>",
            "javascript:alert(1)",
            "[[x](https://a.com)](javascript:alert(1))",
            "`<script>`",
            "```\n</code><script>alert(1)</script>\n```",
            "<https://a.com\"><script>alert(1)</script>>",
        ];
        for source in corpus {
            for link in links(&parse(source)) {
                assert!(is_http(&link), "{source}: link to {link}");
                assert!(!link.contains(['"', '<', '>', ' ']), "{source}: link {link}");
            }
        }
    }

    fn links(blocks: &[Block]) -> Vec<String> {
        fn walk(nodes: &[Inline], out: &mut Vec<String>) {
            for n in nodes {
                match n {
                    Link { href, children } => {
                        out.push(href.clone());
                        walk(children, out);
                    }
                    Bold(c) | Italic(c) | Underline(c) | Strike(c) | Spoiler(c) => walk(c, out),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for b in blocks {
            match b {
                Paragraph(p) | Heading(_, p) | Subtext(p) => walk(p, &mut out),
                Quote(inner) => out.extend(links(inner)),
                List { items, .. } => items.iter().for_each(|i| walk(i, &mut out)),
                Block::Code { .. } => {}
            }
        }
        out
    }

    fn text_len(blocks: &[Block]) -> usize {
        fn walk(nodes: &[Inline]) -> usize {
            nodes
                .iter()
                .map(|n| match n {
                    Text(s) | Code(s) => s.len(),
                    Link { href, children } => href.len() + walk(children),
                    Bold(c) | Italic(c) | Underline(c) | Strike(c) | Spoiler(c) => walk(c),
                    Emoji { name, .. } => name.len(),
                    _ => 1,
                })
                .sum()
        }
        blocks
            .iter()
            .map(|b| match b {
                Paragraph(p) | Heading(_, p) | Subtext(p) => walk(p),
                Quote(inner) => text_len(inner),
                List { items, .. } => items.iter().map(|i| walk(i)).sum(),
                Block::Code { code, .. } => code.len(),
            })
            .sum()
    }

    /// Bytes the inline reader looks at for `source`, per byte of input.
    fn steps_per_byte(source: &str) -> f64 {
        let mut reader = Reader::new(source);
        reader.run(0, source.len(), 0);
        reader.steps as f64 / source.len().max(1) as f64
    }

    /// Random messages built from the syntax's own pieces: none panics, the tree never holds
    /// more text than a small multiple of the input, and the reader looks at each byte a bounded
    /// number of times — also for long runs of the constructs that make naive parsers quadratic
    /// (unclosed delimiters, `[` without `](`, `<` without `>`).
    #[test]
    fn any_input_parses_without_panic_in_linear_time() {
        use rand::{Rng, SeedableRng};
        const BOUND: f64 = 4.0 * (MAX_DEPTH as f64 + 1.0);
        let pieces = [
            "*",
            "**",
            "_",
            "__",
            "~~",
            "||",
            "`",
            "```",
            "\n",
            "> ",
            ">>> ",
            "# ",
            "- ",
            "1. ",
            "-# ",
            "[",
            "](",
            ")",
            "<@",
            "<#",
            "<:a:",
            "<t:",
            ">",
            "https://x.io/",
            "<https://",
            "\\",
            "a",
            " ",
            "é",
            "💹",
            "1",
            "(",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for _ in 0..5_000 {
            let n = rng.gen_range(0..60);
            let source: String = (0..n).map(|_| pieces[rng.gen_range(0..pieces.len())]).collect();
            let tree = parse(&source);
            assert!(text_len(&tree) <= 3 * source.len() + 8, "{source:?}");
            let line = source.replace('\n', " ");
            assert!(
                steps_per_byte(&line) <= BOUND + 2.0,
                "{line:?}: {}",
                steps_per_byte(&line)
            );
        }
        for unit in [
            "**a",
            "*a ",
            "_a ",
            "~~a",
            "||a",
            "`a",
            "``a",
            "[a](",
            "[a",
            "<@",
            "<https://a",
            "https://a)",
            "**a __b ~~c ||d ",
        ] {
            let hostile = unit.repeat(20_000);
            let per_byte = steps_per_byte(&hostile);
            assert!(per_byte <= BOUND, "{unit:?} × 20,000: {per_byte:.1} steps per byte");
            parse(&hostile);
        }
    }
}
