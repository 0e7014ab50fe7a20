//! Character units, the input of sequence taggers (spec section 7).

use alloc::string::String;
use alloc::vec::Vec;

use crate::chartable::{CharClass, CharTable};
use crate::tokenizer::Token;

/// The units of `text` into `units` (cleared first), with `key` as the buffer of one
/// character's folded form.
///
/// One unit per input character, keyed by its folded form; separator runs between
/// units become one `" "` unit; characters that fold to nothing widen the unit (or
/// separator run) before them.
pub(crate) fn char_units_into(table: &CharTable, text: &str, key: &mut String, units: &mut Vec<Token>) {
    units.clear();
    let mut gap: Option<(usize, usize)> = None;
    for (i, ch) in text.chars().enumerate() {
        key.clear();
        let mut all_separators = true;
        table.fold_and_classify(ch, |c, class| {
            key.push(c);
            all_separators &= class == CharClass::Separator;
        });
        if key.is_empty() {
            if let Some(g) = gap.as_mut() {
                g.1 = i + 1;
            } else if let Some(last) = units.last_mut() {
                last.end = i + 1;
            }
            continue;
        }
        if all_separators {
            if !units.is_empty() {
                gap = Some(gap.map_or((i, i + 1), |(start, _)| (start, i + 1)));
            }
            continue;
        }
        if let Some((start, end)) = gap.take() {
            units.push(Token {
                text: String::from(" "),
                start,
                end,
            });
        }
        units.push(Token {
            text: key.clone(),
            start: i,
            end: i + 1,
        });
    }
}
