//! Helpers that read or write a value's text or number: digests, number parsing, JSON
//! text, and arguments that must be present.

use super::*;

#[test]
fn digests_are_lowercase_hex_of_the_text() {
    assert_eq!(
        ok("sha256", &[json!("hello")]),
        json!("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(
        ok("md5", &[json!("hello")]),
        json!("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(
        ok("md5", &[json!("")]),
        json!("d41d8cd98f00b204e9800998ecf8427e")
    );
    // A number or a bool is hashed as its JSON text.
    assert_eq!(ok("md5", &[json!(42)]), ok("md5", &[json!("42")]));
    assert_eq!(
        ok("sha256", &[json!(true)]),
        json!("b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b")
    );
    assert_eq!(
        err("sha256", &[Some(json!({"a": 1}))]),
        "cannot hash a map; hash its JSON text with `toJson`"
    );
    assert_eq!(
        err("md5", &[Some(json!([1]))]),
        "cannot hash a list; hash its JSON text with `toJson`"
    );
    assert_eq!(
        err("md5", &[Some(json!(null))]),
        "cannot hash null; hash its JSON text with `toJson`"
    );
    assert_eq!(err("sha256", &[None]), "argument 1 is missing");
}

#[test]
fn hashing_is_charged_per_byte_before_it_starts() {
    let _meter = budget::install(&crate::Limits {
        max_work: 1000,
        ..crate::Limits::default()
    });
    let long = json!("x".repeat(1000));
    assert_eq!(
        err("sha256", &[Some(long)]),
        "the render would do more than 1000 units of work, about a nanosecond each (the limit follows render-timeout)"
    );
}

#[test]
fn to_int_reads_text_in_a_base_with_its_prefix() {
    for (text, base, number) in [
        ("ff", json!(16), 255),
        ("0xFF", json!(16), 255),
        (" -0X10 ", json!(16), -16),
        ("0b101", json!(2), 5),
        ("0o17", json!(8), 15),
        ("+777", json!(8), 511),
        ("z", json!(36), 35),
        ("12", json!(10.0), 12),
    ] {
        assert_eq!(ok("toInt", &[json!(text), base]), json!(number), "{text}");
    }
    for (text, base, message) in [
        (
            json!("0x1"),
            json!(10),
            "`0x1` is not a whole number in base 10",
        ),
        (
            json!("12"),
            json!(2),
            "`12` is not a whole number in base 2",
        ),
        (
            json!("-+1"),
            json!(10),
            "`-+1` is not a whole number in base 10",
        ),
        (
            json!("0x"),
            json!(16),
            "`0x` is not a whole number in base 16",
        ),
        (
            json!("10"),
            json!(37),
            "the base must be a whole number from 2 to 36, not 37",
        ),
        (
            json!("10"),
            json!(1),
            "the base must be a whole number from 2 to 36, not 1",
        ),
        (
            json!("10"),
            json!("16"),
            "the base must be a whole number from 2 to 36, not \"16\"",
        ),
        (
            json!(10),
            json!(16),
            "argument 1 must be a string, not a number",
        ),
    ] {
        assert_eq!(err("toInt", &[Some(text), Some(base)]), message);
    }
    assert_eq!(
        err("toInt", &[Some(json!("10")), None]),
        "argument 2 is missing"
    );
    let arity = lookup("toInt").map(|h| (h.min_args, h.max_args));
    assert_eq!(arity, Some((1, 2)));
}

#[test]
fn whole_floats_count_as_whole_numbers_for_counts_and_positions() {
    assert_eq!(ok("range", &[json!(3.0)]), json!([0, 1, 2]));
    assert_eq!(ok("range", &[json!(1.0), json!(3)]), json!([1, 2]));
    assert_eq!(
        err("range", &[Some(json!(2.5))]),
        "argument 1 must be a whole number"
    );
    assert_eq!(ok("slice", &[json!([1, 2, 3]), json!(1.0)]), json!([2, 3]));
    assert_eq!(ok("mod", &[json!(7.0), json!(2)]), json!(1));
    assert_eq!(
        ok(
            "regexCapture",
            &[json!("web-12"), json!("(web)-([0-9]+)"), json!(2.0)]
        ),
        json!("12")
    );
    assert_eq!(
        err(
            "regexCapture",
            &[
                Some(json!("web-12")),
                Some(json!("-([0-9]+)")),
                Some(json!(1.5))
            ]
        ),
        "the group must be a whole number"
    );
    assert_eq!(
        err("mod", &[Some(json!(7.5)), Some(json!(2))]),
        "mod needs whole numbers"
    );
    assert_eq!(
        err("mod", &[Some(json!(7)), Some(json!(0.0))]),
        "division by zero"
    );
}

#[test]
fn to_json_writes_whole_floats_as_whole_numbers_anywhere() {
    assert_eq!(ok("toJson", &[json!(2.0)]), json!("2"));
    assert_eq!(
        ok("toJson", &[json!({"a": [1.0, 2.5, -0.0], "b": "x\"y"})]),
        json!(r#"{"a":[1,2.5,0],"b":"x\"y"}"#)
    );
    assert_eq!(ok("toJson", &[json!(1e300)]), json!("1e+300"));
    // toString writes what toJson writes, except that a string is itself.
    assert_eq!(ok("toString", &[json!(2.0)]), json!("2"));
    assert_eq!(ok("toString", &[json!("a\"b")]), json!("a\"b"));
    assert_eq!(ok("toString", &[json!([3.0])]), json!("[3]"));
}

#[test]
fn from_json_of_missing_is_missing_and_of_null_is_null() {
    assert_eq!(call("fromJson", &[None]), Ok(None));
    assert_eq!(
        call("fromJson", &[Some(json!(null))]),
        Ok(Some(json!(null)))
    );
    assert_eq!(
        err("fromJson", &[Some(json!(1))]),
        "argument 1 must be a string, not a number"
    );
}

#[test]
fn concat_names_an_argument_that_is_missing_or_null() {
    let concat = lookup("concat").unwrap();
    let absent = |args: Vec<(Option<&Value>, Option<&str>)>| concat.absent_argument(args);
    assert_eq!(
        absent(vec![
            (Some(&json!("a")), None),
            (None, Some("parent.spec.x"))
        ]),
        Some(
            "`parent.spec.x` is missing: the request has no such value and it has no default"
                .to_owned()
        )
    );
    assert_eq!(
        absent(vec![(Some(&json!(null)), Some("s.n"))]),
        Some("`s.n` is null: concat needs a value; `default` can give one".to_owned())
    );
    assert_eq!(
        absent(vec![(Some(&json!("a")), None), (None, None)]),
        Some("concat: argument 2 is missing; `default` can give it a value".to_owned())
    );
    assert_eq!(absent(vec![(Some(&json!("")), Some("s.e"))]), None);
    // Other helpers take missing arguments as they are.
    assert_eq!(
        lookup("default")
            .unwrap()
            .absent_argument(vec![(None, Some("x"))]),
        None
    );
}
