//! Text -> tokens -> terms (spec sections 3 and 4).

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

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
    /// The tokenizer a preprocessor's spec describes.
    #[doc(hidden)]
    pub fn new(spec: &proto::TokenizerSpec) -> Self {
        Tokenizer {
            ngram_min: spec.ngram_min as usize,
            ngram_max: spec.ngram_max as usize,
            boundary_tokens: spec.boundary_tokens,
        }
    }

    /// Tokens with their offsets into `text` (code points).
    pub fn tokenize(&self, table: &CharTable, text: &str) -> Vec<Token> {
        let mut scan = Scan::default();
        scan.run(table, text);
        scan.spans
            .iter()
            .map(|s| Token {
                text: scan.folded[s.bytes.clone()].to_owned(),
                start: s.start,
                end: s.end,
            })
            .collect()
    }

    /// Calls `f` with every n-gram term of `tokens`, in spec order (by n, then position).
    pub fn for_each_term(&self, tokens: &[Token], f: impl FnMut(&str)) {
        let token = |k: usize| tokens.get(k).map_or("", |t| t.text.as_str());
        self.each_ngram(tokens.len(), token, &mut String::new(), f);
    }

    /// Calls `f` with every term of `text`: [`Tokenizer::tokenize`] then [`Tokenizer::for_each_term`],
    /// without a string per token or term (the classifier's hot path); `scan` and `term` are
    /// buffers reused from call to call.
    pub(crate) fn for_each_term_in(
        &self,
        table: &CharTable,
        text: &str,
        scan: &mut Scan,
        term: &mut String,
        f: impl FnMut(&str),
    ) {
        scan.run(table, text);
        let token = |k: usize| {
            scan.spans
                .get(k)
                .and_then(|s| scan.folded.get(s.bytes.clone()))
                .unwrap_or("")
        };
        self.each_ngram(scan.spans.len(), token, term, f);
    }

    /// Spec section 4 over `tokens` tokens, `token(k)` being token k: `f` gets each term of
    /// [BOS?, tokens.., EOS?], joined in the reused `term`.
    fn each_ngram<'a>(
        &self,
        tokens: usize,
        token: impl Fn(usize) -> &'a str,
        term: &mut String,
        mut f: impl FnMut(&str),
    ) {
        if tokens == 0 {
            return;
        }
        let boundary = usize::from(self.boundary_tokens);
        let length = tokens + 2 * boundary;
        let at = |k: usize| -> &'a str {
            if boundary == 1 && k == 0 {
                BOS
            } else if boundary == 1 && k == length - 1 {
                EOS
            } else {
                token(k - boundary)
            }
        };
        for n in self.ngram_min..=self.ngram_max {
            if n == 0 || n > length {
                continue;
            }
            for start in 0..=length - n {
                if n == 1 {
                    f(at(start));
                    continue;
                }
                term.clear();
                for k in start..start + n {
                    if k > start {
                        term.push(' ');
                    }
                    term.push_str(at(k));
                }
                f(term);
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

/// A token as a byte range of the folded buffer, with its code point span.
#[derive(Debug)]
struct Span {
    bytes: core::ops::Range<usize>,
    start: usize,
    end: usize,
}

/// One pass of spec section 3: every folded token text in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    folded: String,
    spans: Vec<Span>,
}

impl Scan {
    fn run(&mut self, table: &CharTable, text: &str) {
        let Scan { folded, spans } = self;
        folded.clear();
        spans.clear();
        folded.reserve(text.len());
        // the word being built starts at byte `word_bytes` of `folded`; it is empty when they are equal
        let (mut word_bytes, mut word_start, mut word_end) = (0, 0, 0);
        for (i, ch) in text.chars().enumerate() {
            table.fold_and_classify(ch, |c, class| match class {
                CharClass::Word => {
                    if folded.len() == word_bytes {
                        word_start = i;
                    }
                    folded.push(c);
                    word_end = i + 1;
                }
                CharClass::Separator | CharClass::Single => {
                    if folded.len() > word_bytes {
                        spans.push(Span {
                            bytes: word_bytes..folded.len(),
                            start: word_start,
                            end: word_end,
                        });
                    }
                    if class == CharClass::Single {
                        let at = folded.len();
                        folded.push(c);
                        spans.push(Span {
                            bytes: at..folded.len(),
                            start: i,
                            end: i + 1,
                        });
                    }
                    word_bytes = folded.len();
                }
            });
        }
        if folded.len() > word_bytes {
            spans.push(Span {
                bytes: word_bytes..folded.len(),
                start: word_start,
                end: word_end,
            });
        }
    }
}
