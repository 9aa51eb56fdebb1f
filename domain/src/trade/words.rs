//! A line of signal text as words and prices, in one pass over its characters. Emoji, brackets
//! and punctuation separate; percentages and words that start with digits ("10x", "4h", "2nd")
//! are not prices; Discord's codes (`<@123>`, `<#456>`, `<:emoji:789>`, `<t:1733000000:R>`) and
//! links are skipped whole — their digits are ids, times and paths, never levels.

use super::Level;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Word(String),
    Number {
        text: String,
        level: Level,
        /// A small whole number used as a list or target index: "1)", "2:", or "1." / "3 -" at
        /// the start of a line.
        index: bool,
        /// A whole number from 1 to 20 followed by `-`, `=` or `.`: an index after "TP"/"Target".
        index_after_label: bool,
    },
}

impl Token {
    pub fn word(&self) -> Option<&str> {
        match self {
            Token::Word(w) => Some(w),
            Token::Number { .. } => None,
        }
    }
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')
}

/// The tokens of one line; `steps` counts the characters looked at (each once, plus the look
/// past spaces after a number).
pub fn tokens_counting(line: &str, steps: &mut usize) -> Vec<Token> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        *steps += 1;
        let c = chars[i];
        let tagged = matches!(c, '#' | '$') && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric);
        let start = i;
        if let Some(end) = discord_code_end(&chars, i, steps).or_else(|| link_end(&chars, i)) {
            *steps += end - i;
            i = end;
        } else if c == '@' {
            out.push(Token::Word("@".into()));
            i += 1;
        } else if c.is_ascii_digit() || (c == '$' && tagged && chars[i + 1].is_ascii_digit()) {
            if c == '$' {
                i += 1;
            }
            let from = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], ',' | '.')) {
                *steps += 1;
                i += 1;
            }
            // Trailing punctuation ends a sentence, not the number.
            let mut to = i;
            while to > from && matches!(chars[to - 1], ',' | '.') {
                to -= 1;
            }
            let digits: String = chars[from..to].iter().collect();
            let thousand = chars.get(i).is_some_and(|k| matches!(k, 'k' | 'K'))
                && !chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric);
            if thousand {
                i += 1;
            } else if chars.get(i).is_some_and(|n| n.is_ascii_alphabetic()) {
                // "10x", "4h", "2nd": a word that starts with digits.
                while i < chars.len() && word_char(chars[i]) {
                    *steps += 1;
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
                continue;
            }
            if chars.get(i) == Some(&'%') {
                i += 1;
                continue;
            }
            let Some(mut value) = number(&digits) else {
                continue;
            };
            if thousand {
                value *= 1000.0;
            }
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' && j - i < 4 {
                *steps += 1;
                j += 1;
            }
            let next = chars.get(j).copied();
            let whole = !digits.contains([',', '.']) && !thousand;
            let small = whole && (1.0..=20.0).contains(&value);
            let first = out.is_empty();
            let index = small && (matches!(next, Some(')' | ':')) || first && matches!(next, Some('.' | '-')));
            // "Target 1" at a line's end is an index too; "TP: 5" is a price.
            let after_colon = chars[..start].iter().rev().find(|c| **c != ' ') == Some(&':');
            let index_after_label = small && !after_colon && matches!(next, None | Some('.' | '-' | '=' | ')' | ':'));
            out.push(Token::Number {
                text: chars[start..i]
                    .iter()
                    .collect::<String>()
                    .trim_end_matches([',', '.'])
                    .to_owned(),
                level: Level {
                    text: format!("{digits}{}", if thousand { "k" } else { "" }),
                    value,
                },
                index,
                index_after_label,
            });
            if j > i {
                i = j;
            }
        } else if c.is_ascii_alphabetic() || tagged {
            i += 1;
            while i < chars.len() && word_char(chars[i]) {
                *steps += 1;
                i += 1;
            }
            let w: String = chars[start..i].iter().collect();
            out.push(Token::Word(w.trim_end_matches(['-', '/', '_']).to_owned()));
        } else {
            i += 1;
        }
    }
    out
}

/// Longest Discord code looked for: `<a:` + a 32-character name + `:` + a 20-digit id + `>`.
const CODE_MAX: usize = 64;

/// Where a Discord code starting at `i` ends (just past its `>`): mentions `<@1>`, `<@!1>`,
/// `<@&1>`, channels `<#1>`, emoji `<:name:1>` / `<a:name:1>`, times `<t:1:R>`, commands
/// `</name:1>`. The look ahead stops at the first character no code holds (`<` among them), so
/// no character is looked at by two of them: the work stays linear.
fn discord_code_end(chars: &[char], i: usize, steps: &mut usize) -> Option<usize> {
    if chars[i] != '<' {
        return None;
    }
    let in_code = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '@' | '#' | '!' | '&' | '/');
    let ahead = &chars[i + 1..chars.len().min(i + CODE_MAX)];
    let close = ahead.iter().position(|c| !in_code(c)).unwrap_or(ahead.len());
    *steps += close;
    if ahead.get(close) != Some(&'>') {
        return None;
    }
    let body = &ahead[..close];
    let digits = |s: &[char]| !s.is_empty() && s.iter().all(char::is_ascii_digit);
    let code = match body {
        ['@', '!' | '&', id @ ..] | ['@' | '#', id @ ..] => digits(id),
        ['t', ':', rest @ ..] => rest.split(|c| *c == ':').next().is_some_and(digits),
        [':' | '/', rest @ ..] | ['a', ':', rest @ ..] => rest
            .iter()
            .rposition(|c| *c == ':')
            .is_some_and(|at| at > 0 && digits(&rest[at + 1..])),
        _ => false,
    };
    code.then_some(i + 1 + close + 1)
}

/// Where a link starting at `i` ends (the next space): `http://…`, `https://…`.
fn link_end(chars: &[char], i: usize) -> Option<usize> {
    let starts = |p: &str| p.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c));
    if !(starts("http://") || starts("https://")) || i > 0 && word_char(chars[i - 1]) {
        return None;
    }
    Some(
        i + chars[i..]
            .iter()
            .position(|c| c.is_whitespace())
            .unwrap_or(chars.len() - i),
    )
}

#[cfg(test)]
pub fn tokens(line: &str) -> Vec<Token> {
    tokens_counting(line, &mut 0)
}

/// "64,000.5" → 64000.5; "1,2345" (a decimal comma) → 1.2345; "1.234.567" → 1234567.
fn number(digits: &str) -> Option<f64> {
    if digits.is_empty() {
        return None;
    }
    let commas = digits.matches(',').count();
    let dots = digits.matches('.').count();
    let grouped = |sep: char| digits.split(sep).skip(1).all(|g| g.len() == 3);
    let plain: String = match (commas, dots) {
        (0, 0) | (0, 1) => digits.to_owned(),
        (_, 0) if grouped(',') => digits.replace(',', ""),
        (1, 0) => digits.replace(',', "."),
        (0, _) if grouped('.') => digits.replace('.', ""),
        (_, 1) if digits.rfind('.') > digits.rfind(',') => digits.replace(',', ""),
        (1, _) if digits.rfind(',') > digits.rfind('.') => digits.replace('.', "").replace(',', "."),
        _ => return None,
    };
    plain.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(line: &str) -> Vec<(f64, bool)> {
        tokens(line)
            .into_iter()
            .filter_map(|t| match t {
                Token::Number { level, index, .. } => Some((level.value, index)),
                Token::Word(_) => None,
            })
            .collect()
    }

    #[test]
    fn prices_in_their_usual_spellings() {
        assert_eq!(number("64,000"), Some(64000.0));
        assert_eq!(number("64,000.50"), Some(64000.5));
        assert_eq!(number("1,2345"), Some(1.2345));
        assert_eq!(number("1.234.567"), Some(1_234_567.0));
        assert_eq!(number("1.234,5"), Some(1234.5));
        assert_eq!(number("0.00001234"), Some(0.00001234));
        assert_eq!(number("1.2.3"), None);
        assert_eq!(values("Entry $3,100 - 3,150."), vec![(3100.0, false), (3150.0, false)]);
        assert_eq!(values("64k 1.5K"), vec![(64000.0, false), (1500.0, false)]);
    }

    #[test]
    fn discord_codes_and_links_are_not_prices() {
        assert_eq!(
            values(
                "<@1796565052388050> <@!12> <@&7> <#456> <:fire:789> <a:up:790> <t:1733000000:R> </trade:55> 64,000"
            ),
            vec![(64000.0, false)]
        );
        assert_eq!(
            values("chart https://example.com/btc/64000 then 3,100"),
            vec![(3100.0, false)]
        );
        // Not codes: the numbers inside are read as usual.
        assert_eq!(values("<64000> < 3100 >"), vec![(64000.0, false), (3100.0, false)]);
        let words: Vec<_> = tokens("@ <@12> @")
            .into_iter()
            .filter_map(|t| t.word().map(str::to_owned))
            .collect();
        assert_eq!(words, ["@", "@"]);
    }

    #[test]
    fn indexes_percentages_and_leverage_are_not_prices() {
        assert_eq!(values("1) 3200"), vec![(1.0, true), (3200.0, false)]);
        assert_eq!(
            values("TP 2: 3300 (+5%) 10x x20 4h"),
            vec![(2.0, true), (3300.0, false)]
        );
        assert_eq!(values("SL 15."), vec![(15.0, false)]);
        let words: Vec<_> = tokens("#BTCUSDT s/l stop-loss @")
            .into_iter()
            .filter_map(|t| t.word().map(str::to_owned))
            .collect();
        assert_eq!(words, ["#BTCUSDT", "s/l", "stop-loss", "@"]);
    }
}
