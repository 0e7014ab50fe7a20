//! Text -> tokens -> terms (spec sections 3 and 4).

use crate::chartable::{CharClass, CharTable};
use crate::proto;

/// A token and the half-open span of original code points it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The folded text of the token.
    pub text: String,
    /// Index of the first original code point.
    pub start: usize,
    /// One past the index of the last original code point.
    pub end: usize,
}

/// Pseudo tokens around a non-empty token sequence.
pub const BOS: &str = "<s>";
/// See [`BOS`].
pub const EOS: &str = "</s>";

/// The tokenizer of a classification bundle.
#[derive(Debug)]
pub struct Tokenizer {
    ngram_min: usize,
    ngram_max: usize,
    boundary_tokens: bool,
}

impl Tokenizer {
    pub(crate) fn new(spec: &proto::TokenizerSpec) -> Self {
        Tokenizer {
            ngram_min: spec.ngram_min as usize,
            ngram_max: spec.ngram_max as usize,
            boundary_tokens: spec.boundary_tokens,
        }
    }

    /// Tokens with their offsets into `text` (code points).
    pub fn tokenize(&self, table: &CharTable, text: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut word = String::new();
        let (mut word_start, mut word_end) = (0, 0);
        for (i, ch) in text.chars().enumerate() {
            table.fold_and_classify(ch, |c, class| match class {
                CharClass::Word => {
                    if word.is_empty() {
                        word_start = i;
                    }
                    word.push(c);
                    word_end = i + 1;
                }
                CharClass::Separator | CharClass::Single => {
                    if !word.is_empty() {
                        tokens.push(Token {
                            text: std::mem::take(&mut word),
                            start: word_start,
                            end: word_end,
                        });
                    }
                    if class == CharClass::Single {
                        tokens.push(Token {
                            text: c.to_string(),
                            start: i,
                            end: i + 1,
                        });
                    }
                }
            });
        }
        if !word.is_empty() {
            tokens.push(Token {
                text: word,
                start: word_start,
                end: word_end,
            });
        }
        tokens
    }

    /// Calls `f` with every n-gram term of `tokens`, in spec order (by n, then position).
    pub fn for_each_term(&self, tokens: &[Token], mut f: impl FnMut(&str)) {
        if tokens.is_empty() {
            return;
        }
        let mut seq: Vec<&str> = Vec::with_capacity(tokens.len() + 2);
        if self.boundary_tokens {
            seq.push(BOS);
        }
        seq.extend(tokens.iter().map(|t| t.text.as_str()));
        if self.boundary_tokens {
            seq.push(EOS);
        }
        let mut term = String::new();
        for n in self.ngram_min..=self.ngram_max {
            if n == 0 || n > seq.len() {
                continue;
            }
            for window in seq.windows(n) {
                term.clear();
                for (k, token) in window.iter().enumerate() {
                    if k > 0 {
                        term.push(' ');
                    }
                    term.push_str(token);
                }
                f(&term);
            }
        }
    }

    /// The terms of `tokens` as owned strings.
    pub fn terms(&self, tokens: &[Token]) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(tokens, |t| out.push(t.to_owned()));
        out
    }
}
