//! Structured trades read from signal text: pair, side, entry (or range), take-profit levels and
//! stop-loss. One pass over the words of each line, so the work is linear in the text.
//!
//! How a text is read (the corpus in `domain/tests/data/trade_signals.json` shows each format):
//! - **Pair**: `BTC/USDT`, `BTC-USDT`, `btc/usdt`, `BTCUSDT`, `#BTCUSDT`, `$BTC`, forex pairs
//!   (`EURUSD`, `XAUUSD`, `EUR/USD`): written `BASE/QUOTE`, upper case. The first one wins.
//! - **Side**: the first of the words long, short, buy, sell.
//! - **Levels**: a label starts a segment and the numbers after it belong to it, up to the next
//!   label: entry (`entry`, `entries`, `enter`, `entry zone`, `buy zone`, `open`, `@`, or a side
//!   word followed by numbers), take-profit (`tp`, `tp1`, `tp 2:`, `target(s)`, `take profit`,
//!   `tgt`), stop-loss (`sl`, `stop`, `stop loss`, `stoploss`, `s/l`). A line with only a list
//!   marker and numbers (`1) 3,200`) continues the label of the line above it.
//! - **Numbers**: `64,000`, `0.0001234`, `1.2345`, `64k`; percentages (`5%`), leverage (`10x`,
//!   `x10`) and list or target indexes (`TP1`, `2)`) are not levels.
//! - A trade needs a pair, a side and at least one level; otherwise the signal is shown as it is.

use serde::{Deserialize, Serialize};

mod words;

use words::{Token, tokens_counting};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Long,
    Short,
    Buy,
    Sell,
}

impl Side {
    /// Long or short: what a filter by side means (a buy is a long).
    pub fn direction(self) -> &'static str {
        match self {
            Side::Long | Side::Buy => "long",
            Side::Short | Side::Sell => "short",
        }
    }

    fn from_word(w: &str) -> Option<Side> {
        match w {
            "long" => Some(Side::Long),
            "short" => Some(Side::Short),
            "buy" => Some(Side::Buy),
            "sell" => Some(Side::Sell),
            _ => None,
        }
    }
}

/// A price as written ("3,150", "64k") and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub text: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    pub pair: String,
    pub side: Side,
    /// One price, or the low and high of a range.
    pub entry: Vec<Level>,
    pub targets: Vec<Level>,
    pub stop: Option<Level>,
}

/// One level that moved between two versions of a signal: "SL 3,150 → 3,200".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelChange {
    pub label: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Entry,
    Target,
    Stop,
}

const QUOTES: [&str; 8] = ["USDT", "USDC", "BUSD", "USD", "BTC", "ETH", "EUR", "PERP"];
const FOREX: [&str; 10] = ["EUR", "GBP", "USD", "JPY", "AUD", "NZD", "CAD", "CHF", "XAU", "XAG"];

/// `BTC/USDT` from `btc/usdt`, `BTC-USDT`, `BTCUSDT`, `#BTCUSDT`, `$BTC`, `EURUSD`.
fn pair(word: &str) -> Option<String> {
    let (tagged, w) = match word.strip_prefix(['#', '$']) {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let upper = w.to_ascii_uppercase();
    let base_ok = |b: &str| (2..=10).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_alphanumeric());
    if let Some((base, quote)) = upper.split_once(['/', '-', '_']) {
        return (base_ok(base) && QUOTES.contains(&quote) || FOREX.contains(&base) && FOREX.contains(&quote))
            .then(|| format!("{base}/{quote}"));
    }
    // Run together: upper case as written (or tagged), ending in a known quote.
    if !(tagged || w.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())) {
        return None;
    }
    if upper.len() == 6 && FOREX.contains(&&upper[..3]) && FOREX.contains(&&upper[3..]) {
        return Some(format!("{}/{}", &upper[..3], &upper[3..]));
    }
    for q in QUOTES {
        if let Some(base) = upper.strip_suffix(q)
            && base_ok(base)
            && base.bytes().any(|c| c.is_ascii_alphabetic())
        {
            return Some(format!("{base}/{q}"));
        }
    }
    (tagged && base_ok(&upper) && upper.bytes().all(|c| c.is_ascii_alphabetic())).then_some(upper)
}

/// A pair as a customer types it in a filter ("btcusdt", "BTC/USDT", "eur-usd", "$SOL").
pub fn normalise_pair(input: &str) -> Option<String> {
    let w = input.trim();
    pair(w)
        .or_else(|| pair(&w.to_ascii_uppercase()))
        .or_else(|| pair(&format!("${w}")))
}

/// The label a word (lower case, with the word after it) starts, and whether it took that next
/// word too ("take profit", "stop loss", "entry zone").
fn label(word: &str, next: Option<&str>) -> Option<(Label, bool)> {
    let two = |second: &[&str]| next.is_some_and(|n| second.contains(&n));
    let numbered = |prefix: &str| {
        word.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.len() <= 2 && rest.bytes().all(|b| b.is_ascii_digit()))
    };
    Some(match word {
        "take" | "taking" if two(&["profit", "profits", "profit:"]) => (Label::Target, true),
        "stop" if two(&["loss", "loss:"]) => (Label::Stop, true),
        "entry" | "buy" | "sell" if two(&["zone", "zone:", "range", "range:", "price", "price:"]) => {
            (Label::Entry, true)
        }
        "tp" | "tps" | "target" | "targets" | "tgt" | "tgts" | "profit" => (Label::Target, false),
        _ if numbered("tp") || numbered("target") || numbered("t") => (Label::Target, false),
        "sl" | "stop" | "stoploss" | "stop-loss" | "s/l" | "invalidation" => (Label::Stop, false),
        "entry" | "entries" | "enter" | "open" | "@" | "entry1" | "entry2" => (Label::Entry, false),
        _ => return None,
    })
}

/// Reads a trade from a signal's text (content, then embed text). `None` when the text does not
/// state one: then the signal is shown as it is.
pub fn parse(text: &str) -> Option<Trade> {
    parse_counting(text, &mut 0)
}

/// [`parse`], counting the characters and tokens it looks at (the linear-work property test).
pub fn parse_counting(text: &str, steps: &mut usize) -> Option<Trade> {
    let mut pair_found: Option<String> = None;
    let mut side: Option<Side> = None;
    let mut entry: Vec<Level> = Vec::new();
    let mut targets: Vec<Level> = Vec::new();
    let mut stop: Option<Level> = None;
    let mut carried: Option<Label> = None;
    for line in text.lines() {
        *steps += 1;
        let toks = tokens_counting(line, steps);
        let mut current: Option<Label> = None;
        // Whether the current segment has taken a price: a plain word after it ends the segment.
        let mut took = false;
        let mut saw_word = false;
        let mut i = 0;
        while i < toks.len() {
            *steps += 1;
            match &toks[i] {
                Token::Word(w) => {
                    let lower = w.to_ascii_lowercase();
                    if pair_found.is_none()
                        && let Some(p) = pair(w)
                    {
                        pair_found = Some(p);
                        i += 1;
                        continue;
                    }
                    let next = toks.get(i + 1).and_then(Token::word).map(str::to_ascii_lowercase);
                    if let Some((l, both)) = label(&lower, next.as_deref()) {
                        if side.is_none()
                            && let Some(s) = Side::from_word(&lower)
                        {
                            side = Some(s);
                        }
                        current = Some(l);
                        took = false;
                        i += 1 + usize::from(both);
                        // "TP 1:" / "Target 2 -": the small number is an index, not a level.
                        if l == Label::Target
                            && let Some(Token::Number {
                                index_after_label: true,
                                ..
                            }) = toks.get(i)
                        {
                            i += 1;
                        }
                        continue;
                    }
                    if let Some(s) = Side::from_word(&lower) {
                        side.get_or_insert(s);
                        // "BUY BTC 91000", "Long 64000-64500": a side word before prices is the entry.
                        if current.is_none() {
                            current = Some(Label::Entry);
                            took = false;
                        }
                    } else if !is_filler(&lower) {
                        saw_word = true;
                        if took {
                            current = None;
                        }
                    }
                }
                Token::Number { level, index, .. } => {
                    let label = current.or(if saw_word { None } else { carried });
                    match (label, *index) {
                        // A list marker ("1)", "2.") at the start of a continued line.
                        (_, true) => {}
                        (Some(Label::Entry), _) => entry.push(level.clone()),
                        (Some(Label::Target), _) => {
                            if !targets.iter().any(|t| t.value == level.value) {
                                targets.push(level.clone());
                            }
                        }
                        (Some(Label::Stop), _) => {
                            stop.get_or_insert_with(|| level.clone());
                        }
                        (None, _) => {}
                    }
                    if label.is_some() && !*index {
                        current = label;
                        took = true;
                    }
                }
            }
            i += 1;
        }
        carried = match current {
            Some(l) => Some(l),
            None if saw_word => None,
            None => carried,
        };
    }
    let entry = range(entry);
    let trade = Trade {
        pair: pair_found?,
        side: side?,
        entry,
        targets,
        stop,
    };
    (!trade.entry.is_empty() || !trade.targets.is_empty() || trade.stop.is_some()).then_some(trade)
}

/// Words that may sit between a label and its numbers without ending the segment.
fn is_filler(w: &str) -> bool {
    matches!(
        w,
        "at" | "price"
            | "zone"
            | "area"
            | "around"
            | "to"
            | "and"
            | "between"
            | "from"
            | "near"
            | "level"
            | "levels"
            | "market"
            | "now"
            | "cmp"
            | "limit"
            | "usdt"
            | "usd"
    )
}

/// Entry prices as one price or a low–high range.
fn range(mut prices: Vec<Level>) -> Vec<Level> {
    if prices.len() <= 1 {
        return prices;
    }
    prices.sort_by(|a, b| a.value.total_cmp(&b.value));
    let high = prices.pop().expect("two or more");
    let low = prices.swap_remove(0);
    if low.value == high.value {
        vec![low]
    } else {
        vec![low, high]
    }
}

/// The levels that differ between two parses of the same signal, in reading order.
pub fn changes(before: &Trade, after: &Trade) -> Vec<LevelChange> {
    let mut out = Vec::new();
    let show = |levels: &[Level]| levels.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("–");
    if before
        .entry
        .iter()
        .map(|l| l.value)
        .ne(after.entry.iter().map(|l| l.value))
    {
        out.push(LevelChange {
            label: "Entry".into(),
            from: show(&before.entry),
            to: show(&after.entry),
        });
    }
    for i in 0..before.targets.len().max(after.targets.len()) {
        let (b, a) = (before.targets.get(i), after.targets.get(i));
        if b.map(|l| l.value) != a.map(|l| l.value) {
            out.push(LevelChange {
                label: format!("TP{}", i + 1),
                from: b.map_or("—".into(), |l| l.text.clone()),
                to: a.map_or("—".into(), |l| l.text.clone()),
            });
        }
    }
    if before.stop.as_ref().map(|l| l.value) != after.stop.as_ref().map(|l| l.value) {
        out.push(LevelChange {
            label: "SL".into(),
            from: before.stop.as_ref().map_or("—".into(), |l| l.text.clone()),
            to: after.stop.as_ref().map_or("—".into(), |l| l.text.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests;
