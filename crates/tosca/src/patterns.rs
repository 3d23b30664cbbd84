//! The regular expressions of `pattern` constraints, compiled once and at a
//! bounded cost. A template is untrusted text, and compiling a regular
//! expression can take far more time and memory than its few characters
//! suggest (`[\p{L}\p{N}]{1000}` is 20 bytes of YAML and over 10 MB of
//! automaton, built in a tenth of a second or more). So:
//!
//! - each pattern is compiled under growing size limits ([`TIERS`]) and
//!   refused past [`MAX_COMPILED`], so that failing costs no more than
//!   the largest pattern accepted;
//! - what a pattern compiles to (or why it does not) is kept in a bounded
//!   process-wide cache, so loading the same template again, or checking a
//!   thousand values against it, compiles nothing;
//! - while a template loads ([`with_budget`]), every pattern is charged
//!   the size limit it compiled under (also when cached, so that a template
//!   is accepted or refused whatever the cache holds) against a budget of
//!   [`BUDGET`]; the pattern that goes over is refused, and no pattern is
//!   compiled under a larger limit than the budget has left.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::constraints::ClauseError;

/// The size limits (bytes of compiled automaton) a pattern is compiled
/// under, smallest first; it is charged the first one it fits.
const TIERS: [usize; 4] = [16 << 10, 64 << 10, 256 << 10, MAX_COMPILED];

/// The largest automaton one pattern may compile to.
pub const MAX_COMPILED: usize = 1 << 20;

/// What the patterns of one template (its own definitions, or the files it
/// imports, each set on its own) may be charged in all: at most 256
/// patterns, fewer large ones.
pub const BUDGET: usize = 4 << 20;

/// The lazy DFA's cache per compiled pattern (matching falls back to a
/// slower, still linear, engine when it fills).
const DFA_CACHE: usize = 512 << 10;

/// The most entries, and the most charged bytes, the process keeps compiled.
const CACHE_ENTRIES: usize = 1024;
const CACHE_BYTES: usize = 64 << 20;

/// A `pattern` constraint's regular expression: its text as written, and
/// the expression compiled from it (anchored at both ends: the whole
/// string must match). Serialised as its text.
#[derive(Clone)]
pub struct Pattern {
    text: String,
    /// `None` only for a pattern read back (deserialised) that does not
    /// compile: it matches nothing.
    regex: Option<Arc<Regex>>,
}

impl Pattern {
    /// Compiles `text`, charging the current template's budget when one is
    /// running (see [`with_budget`]).
    pub fn new(text: &str) -> Result<Self, ClauseError> {
        let compiled = compiled(text);
        charge(text, &compiled)?;
        match &compiled.outcome {
            Outcome::Ok(re) => Ok(Self { text: text.to_owned(), regex: Some(re.clone()) }),
            Outcome::Invalid(e) => {
                Err(ClauseError::Invalid(format!("pattern \"{}\" is not a valid regular expression: {e}", shown(text))))
            }
            Outcome::TooLarge => Err(ClauseError::Limit(format!(
                "pattern \"{}\" is too large: compiled, it takes more than {} KiB; write a simpler expression \
                 (fewer or shorter repetitions, ASCII classes such as [a-zA-Z0-9] rather than \\w or \\p{{L}})",
                shown(text),
                MAX_COMPILED >> 10
            ))),
        }
    }

    /// The regular expression as written in the template.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.as_ref().is_some_and(|re| re.is_match(s))
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let regex = match compiled(&text).outcome {
            Outcome::Ok(re) => Some(re),
            Outcome::Invalid(_) | Outcome::TooLarge => None,
        };
        Ok(Self { text, regex })
    }
}

/// Runs `f` (the loading of one template, or of the files it imports) with
/// a fresh budget of [`BUDGET`] for compiling patterns; the budget of an
/// enclosing call is set aside meanwhile.
pub(crate) fn with_budget<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(Budget);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0);
        }
    }
    let _restore = Restore(CURRENT.replace(Budget::Left(BUDGET)));
    f()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// No template is loading: only [`MAX_COMPILED`] applies.
    Unlimited,
    /// Bytes left to charge.
    Left(usize),
    /// A pattern went over; the ones after it are refused without a word
    /// (one message says it).
    Spent,
}

thread_local! {
    static CURRENT: Cell<Budget> = const { Cell::new(Budget::Unlimited) };
    /// Patterns compiled on this thread (cache misses), for tests.
    static COMPILES: Cell<usize> = const { Cell::new(0) };
}

/// What compiling a pattern gave.
#[derive(Debug, Clone)]
enum Outcome {
    Ok(Arc<Regex>),
    Invalid(String),
    TooLarge,
}

/// A pattern's outcome and what it is charged: the size limit it compiled
/// under, or one byte more than [`MAX_COMPILED`] when too large.
#[derive(Debug, Clone)]
struct Compiled {
    outcome: Outcome,
    cost: usize,
}

/// Charges `compiled` to the running budget, refusing it when it does not fit.
fn charge(text: &str, compiled: &Compiled) -> Result<(), ClauseError> {
    match CURRENT.get() {
        Budget::Unlimited => Ok(()),
        Budget::Spent => Err(ClauseError::Spent),
        Budget::Left(left) if compiled.cost <= left => {
            CURRENT.set(Budget::Left(left - compiled.cost));
            Ok(())
        }
        Budget::Left(left) => {
            CURRENT.set(Budget::Spent);
            Err(ClauseError::Limit(format!(
                "pattern \"{}\" goes over the template's budget for compiling regular expressions \
                 ({} KiB in all; the patterns before it took {} KiB): use fewer or simpler patterns",
                shown(text),
                BUDGET >> 10,
                (BUDGET - left) >> 10
            )))
        }
    }
}

/// `text` compiled (from the cache when it is there), compiling it under
/// no larger limit than the running budget has left.
fn compiled(text: &str) -> Compiled {
    if let Some(c) = cache().lock().unwrap_or_else(|e| e.into_inner()).map.get(text) {
        return c.clone();
    }
    let left = match CURRENT.get() {
        Budget::Unlimited => usize::MAX,
        Budget::Left(left) => left,
        Budget::Spent => 0,
    };
    let source = format!("^(?:{text})$");
    for limit in TIERS {
        if limit > left {
            // Over the budget, whatever it compiles to; not cached (another
            // template may have the budget for it).
            return Compiled { outcome: Outcome::TooLarge, cost: limit };
        }
        COMPILES.set(COMPILES.get() + 1);
        let outcome = match RegexBuilder::new(&source).size_limit(limit).dfa_size_limit(DFA_CACHE).build() {
            Ok(re) => Outcome::Ok(Arc::new(re)),
            Err(regex::Error::CompiledTooBig(_)) => continue,
            Err(e) => Outcome::Invalid(e.to_string()),
        };
        return remember(text, Compiled { outcome, cost: limit });
    }
    remember(text, Compiled { outcome: Outcome::TooLarge, cost: MAX_COMPILED + 1 })
}

struct Cache {
    map: HashMap<String, Compiled>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(Cache { map: HashMap::new(), bytes: 0 }))
}

fn remember(text: &str, compiled: Compiled) -> Compiled {
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.map.len() >= CACHE_ENTRIES || cache.bytes + compiled.cost > CACHE_BYTES {
        cache.map.clear();
        cache.bytes = 0;
    }
    cache.bytes += compiled.cost;
    cache.map.insert(text.to_owned(), compiled.clone());
    compiled
}

/// `text` for a message: at most 80 characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// How many patterns this thread has compiled (not found in the cache).
#[cfg(test)]
pub(crate) fn compiles() -> usize {
    COMPILES.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_patterns_cost_the_smallest_tier_and_large_ones_are_refused() {
        let p = Pattern::new("[a-z]+-small-tier").unwrap();
        assert!(p.is_match("abc-small-tier") && !p.is_match("abc-small-tier!"));
        assert_eq!(compiled("[a-z]+-small-tier").cost, TIERS[0]);
        let e = Pattern::new(r"[\p{L}\p{N}]{1000}-refused").unwrap_err();
        assert!(matches!(&e, ClauseError::Limit(m) if m.contains("too large")), "{e}");
        let e = Pattern::new("(unclosed").unwrap_err();
        assert!(matches!(&e, ClauseError::Invalid(m) if m.contains("not a valid regular expression")), "{e}");
    }

    #[test]
    fn a_budget_refuses_the_pattern_that_goes_over_and_silences_the_rest() {
        let outside = Pattern::new(r"\w{20}-outside").map(|_| ());
        assert_eq!(outside, Ok(()), "no budget outside a load");
        with_budget(|| {
            let mut results = (0..300).map(|i| Pattern::new(&format!("[a-z]+-budget-{i}")).map(|_| ()));
            let ok = results.by_ref().take_while(Result::is_ok).count();
            assert_eq!(ok, BUDGET / TIERS[0]);
            assert!(results.all(|r| r == Err(ClauseError::Spent)));
        });
        assert!(Pattern::new("[a-z]+-after-budget").is_ok(), "the budget ends with the load");
    }

    #[test]
    fn a_pattern_is_compiled_once_whatever_is_checked_against_it() {
        let text = "[0-9]+-compiled-once";
        let before = compiles();
        let patterns: Vec<Pattern> = (0..10).map(|_| Pattern::new(text).unwrap()).collect();
        for p in &patterns {
            for i in 0..100 {
                assert!(p.is_match(&format!("{i}-compiled-once")));
            }
        }
        let again: Pattern = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert!(again.is_match("7-compiled-once"));
        assert_eq!(compiles() - before, 1);
    }
}
