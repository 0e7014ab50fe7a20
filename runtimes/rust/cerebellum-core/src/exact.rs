//! Vectors of exactly as many values as they collect, from items that may fail.

use alloc::vec::Vec;

/// The items' values, or `None` at the first `None`; one allocation of the iterator's length.
///
/// `collect::<Option<Vec<_>>>()` gives its buffer no size hint and grows it by doubling, so a
/// loaded model kept up to twice the memory of its tensors (the tagger's 542 KiB embedding sat
/// in 1 MiB) and a classifier's term index up to twice its size.
pub(crate) fn collect_exact<T>(items: impl ExactSizeIterator<Item = Option<T>>) -> Option<Vec<T>> {
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        values.push(item?);
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::collect_exact;
    use alloc::vec::Vec;

    #[test]
    fn one_past_a_power_of_two_takes_no_more_than_it_needs() {
        let values = collect_exact((0..65_537u32).map(Some)).unwrap_or_default();
        assert_eq!(values.len(), 65_537);
        // `with_capacity` promises at least; today's Vec records exactly what was asked.
        assert_eq!(values.capacity(), 65_537);
        assert_eq!(values.last(), Some(&65_536));
    }

    #[test]
    fn a_failed_item_fails_the_whole() {
        let items: Vec<Option<u8>> = alloc::vec![Some(1), None, Some(3)];
        assert_eq!(collect_exact(items.into_iter()), None);
        assert_eq!(collect_exact(core::iter::empty::<Option<u8>>()), Some(Vec::new()));
    }
}
