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
