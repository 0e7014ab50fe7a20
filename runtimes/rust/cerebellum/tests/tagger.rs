//! The synthetic tagger: "a" opens an X entity, "b" continues it.

mod common;

#[test]
fn analyze_agrees_with_every_view_of_it() {
    let (pre, model) = common::tagger_bundle();
    let model = cerebellum::load_bytes(&pre, &model).unwrap();
    let tagger = model.as_tagger().unwrap();
    for text in ["", "ab", "xx ab, abb a", "İab", "b", "\u{0}a\u{200d}b"] {
        let analysis = tagger.analyze(text).unwrap();
        assert_eq!(analysis.units, tagger.units(text));
        assert_eq!(analysis.ids, tagger.encode(text));
        assert_eq!(analysis.emissions, tagger.emissions(text).unwrap());
        assert_eq!(analysis.path, tagger.tag_ids(text).unwrap());
        assert_eq!(analysis.entities, tagger.tag(text).unwrap());
        assert_eq!(analysis.emissions.len(), analysis.units.len() * common::TAGS.len());
    }
    // Emissions are embedding rows and transitions are zero, so the path is each row's argmax.
    let ab = tagger.analyze("ab").unwrap();
    assert_eq!(ab.ids, [2, 3]);
    assert_eq!(ab.emissions, common::EMBEDDING[6..12]);
    assert_eq!(ab.path, [1, 2]); // B-X, I-X
    let entities = tagger.tag("xx ab, abb a").unwrap();
    let found: Vec<(&str, usize, usize)> = entities.iter().map(|e| (e.text.as_str(), e.start, e.end)).collect();
    assert_eq!(found, [("ab", 3, 5), ("abb", 7, 10), ("a", 11, 12)]);
    assert!(entities.iter().all(|e| e.kind == "X"));
}
