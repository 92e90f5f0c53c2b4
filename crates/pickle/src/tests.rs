//! The opcode machine on hand-written pickles (each checked against CPython's `pickle.loads`
//! or `pickletools.dis`), one opcode family at a time, and on hostile input.

use std::borrow::Cow;

use crate::{CallKind, Object, Pickle, PickleError};

/// A pickle that must parse.
fn parse(p: &[u8]) -> Pickle<'_> {
    match Pickle::parse(p) {
        Ok(pk) => pk,
        Err(e) => panic!("{e}: {p:?}"),
    }
}
fn refused(p: &[u8]) -> PickleError {
    match Pickle::parse(p) {
        Err(e) => e,
        Ok(pk) => panic!("{p:?} parsed: {:?}", pk.get(pk.top())),
    }
}
fn reason(p: &[u8]) -> String {
    refused(p).to_string()
}
/// The items of the top tuple or list, as objects.
fn items<'p>(pk: &'p Pickle<'_>) -> Vec<&'p Object<'p>> {
    let ids = pk.tuple(pk.top()).or_else(|| pk.list(pk.top())).unwrap();
    ids.iter().map(|&i| pk.get(i)).collect()
}

#[test]
fn scalars_of_every_protocol() {
    let pk = parse(
        b"\x80\x02(N\x88\x89K\xffM\x01\x02J\xfe\xff\xff\xffI00\nI01\nI-42\nL7L\nL123456789012345678901\n\x8a\x01\xff\x8a\x02\x00\x80\x8b\x00\x00\x00\x00F2.5\nG\xc0\x04\x00\x00\x00\x00\x00\x00t.",
    );
    let want = [
        Object::None,
        Object::Bool(true),
        Object::Bool(false),
        Object::Int(255),
        Object::Int(0x0201),
        Object::Int(-2),
        Object::Bool(false),
        Object::Bool(true),
        Object::Int(-42),
        Object::Int(7),
        Object::BigInt,
        Object::Int(-1),
        Object::Int(-32768),
        Object::Int(0),
        Object::Float(2.5),
        Object::Float(-2.5),
    ];
    assert_eq!(items(&pk), want.iter().collect::<Vec<_>>());
}

#[test]
fn longs_are_twos_complement_and_sign_extension_is_not_big() {
    use crate::text::long;
    assert_eq!(long(&[]), Object::Int(0));
    assert_eq!(long(&[0xff]), Object::Int(-1));
    assert_eq!(long(&[0x00, 0x01]), Object::Int(256));
    assert_eq!(long(&i64::MIN.to_le_bytes()), Object::Int(i64::MIN));
    // 2^63 needs nine bytes; -1 padded to nine bytes does not
    assert_eq!(long(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]), Object::BigInt);
    assert_eq!(long(&[0xff; 9]), Object::Int(-1));
    assert_eq!(long(&[1; 9]), Object::BigInt);
}

#[test]
fn byte_and_text_strings() {
    let pk = parse(
        b"\x80\x03(U\x02abC\x01cT\x01\x00\x00\x00dB\x00\x00\x00\x00\x8e\x01\x00\x00\x00\x00\x00\x00\x00e\x96\x01\x00\x00\x00\x00\x00\x00\x00f\
X\x02\x00\x00\x00\xc3\xa9\x8c\x01g\x8d\x01\x00\x00\x00\x00\x00\x00\x00h\
S'a\\'b\\n\\x41\\101\\q'\nS\"plain\"\nVcaf\xe9\\u20ac\\\\u0041\nt.",
    );
    let b = |s: &'static [u8]| Object::Bytes(Cow::Borrowed(s));
    let s = |s: &'static str| Object::Str(Cow::Borrowed(s));
    let want = [
        b(b"ab"),
        b(b"c"),
        b(b"d"),
        b(b""),
        b(b"e"),
        b(b"f"),
        s("\u{e9}"),
        s("g"),
        s("h"),
        b(b"a'b\nAA\\q"),
        b(b"plain"),
        // latin-1 bytes and \u escapes; an even run of backslashes escapes nothing
        s("caf\u{e9}\u{20ac}\\\\u0041"),
    ];
    assert_eq!(items(&pk), want.iter().collect::<Vec<_>>());
    // borrowed from the input unless decoded
    assert!(matches!(
        pk.get(pk.tuple(pk.top()).unwrap()[0]),
        Object::Bytes(Cow::Borrowed(_))
    ));
    assert!(reason(b"X\x01\x00\x00\x00\xff.").contains("not UTF-8"));
    assert!(reason(b"S'abc\n.").contains("not quoted"));
    assert!(reason(b"S'\\x4'\n.").contains("\\x escape"));
    assert!(reason(b"V\\u12\n.").contains("truncated"));
    assert!(reason(b"V\\ud800\n.").contains("surrogate"));
}

#[test]
fn containers_and_their_builders() {
    // ((), [], {}, set(), (1,), (1, 2), (1, 2, 3), [1, 2], {1: 2, 3: 4}, frozenset({1}))
    let pk = parse(
        b"\x80\x04()]}\x8fK\x01\x85K\x01K\x02\x86K\x01K\x02K\x03\x87]K\x01aK\x02a}K\x01K\x02s(K\x03K\x04u(K\x01\x91t.",
    );
    let ids = pk.tuple(pk.top()).unwrap().to_vec();
    assert_eq!(ids.len(), 10);
    let ints = |v: &[usize]| v.iter().map(|&i| pk.int(i).unwrap()).collect::<Vec<_>>();
    assert_eq!(pk.tuple(ids[0]), Some(&[][..]));
    assert_eq!(pk.list(ids[1]), Some(&[][..]));
    assert_eq!(pk.dict(ids[2]), Some(&[][..]));
    assert_eq!(pk.get(ids[3]), &Object::Set(vec![]));
    assert_eq!(ints(pk.tuple(ids[4]).unwrap()), [1]);
    assert_eq!(ints(pk.tuple(ids[5]).unwrap()), [1, 2]);
    assert_eq!(ints(pk.tuple(ids[6]).unwrap()), [1, 2, 3]);
    assert_eq!(ints(pk.list(ids[7]).unwrap()), [1, 2]);
    let d: Vec<_> = (pk.dict(ids[8]).unwrap().iter())
        .map(|&(k, v)| (pk.int(k), pk.int(v)))
        .collect();
    assert_eq!(d, [(Some(1), Some(2)), (Some(3), Some(4))]);
    assert!(matches!(pk.get(ids[9]), Object::FrozenSet(v) if ints(v) == [1]));
    // protocol 0's builders: [1, 2] with LIST/APPENDS, {1: 2} with DICT, a set with ADDITEMS
    let pk = parse(b"(l(K\x01K\x02e(K\x01K\x02d\x8f(K\x05\x90\x87.");
    let ids = pk.tuple(pk.top()).unwrap();
    let ints = |v: &[usize]| v.iter().map(|&i| pk.int(i).unwrap()).collect::<Vec<_>>();
    assert_eq!(ints(pk.list(ids[0]).unwrap()), [1, 2]);
    assert_eq!(pk.dict(ids[1]).unwrap().len(), 1);
    assert!(matches!(pk.get(ids[2]), Object::Set(v) if ints(v) == [5]));
    // wrong targets and shapes
    assert!(reason(b"(K\x01d.").contains("odd number"));
    assert!(reason(b"K\x01K\x01a.").contains("appends to an integer"));
    assert!(reason(b")K\x01K\x02s.").contains("sets an item of a tuple"));
    assert!(reason(b"](K\x01\x90.").contains("adds to a list"));
}

#[test]
fn the_memo_shares_ids_in_all_four_forms() {
    // [x, x, x, x, x] for one list x: PUT/GET, LONG_BINPUT/LONG_BINGET, BINPUT/BINGET,
    // MEMOIZE (whose key is the memo's size, 3)
    let pk = parse(b"\x80\x04(]p7\nr\x00\x01\x00\x00q\x09\x94g7\nj\x00\x01\x00\x00h\x09h\x03l.");
    let ids = pk.list(pk.top()).unwrap();
    assert_eq!(ids.len(), 5);
    assert!(ids.iter().all(|&i| i == ids[0]));
    // a list holding itself
    let pk = parse(b"\x80\x02]q\x00h\x00a.");
    assert_eq!(pk.list(pk.top()).unwrap(), [pk.top()]);
    assert!(reason(b"h\x07.").contains("memo entry 7, never written"));
    assert!(reason(b"g-1\n.").contains("not a memo key"));
    assert!(reason(b"q\x00.").contains("empty stack"));
}

#[test]
fn stack_opcodes_respect_marks() {
    // POP, DUP, POP_MARK; POP with nothing above a mark pops the mark (as CPython)
    let pk = parse(b"K\x01K\x020(K\x03K\x041(0K\x05\x86.");
    let ints: Vec<_> = (pk.tuple(pk.top()).unwrap().iter())
        .map(|&i| pk.int(i).unwrap())
        .collect();
    assert_eq!(ints, [1, 5]);
    let pk = parse(b"K\x092\x86.");
    assert_eq!(pk.tuple(pk.top()).unwrap().len(), 2);
    assert!(reason(b".").contains("empty stack"));
    assert!(reason(b"K\x01(.").contains("empty stack"));
    assert!(reason(b"K\x01(\x85.").contains("empty stack"));
    assert!(reason(b"t.").contains("no mark"));
    assert!(reason(b"(2.").contains("empty stack"));
}

#[test]
fn globals_are_names_and_calls_are_records() {
    // collections.OrderedDict() with an item set and a state built; then a STACK_GLOBAL,
    // INST, OBJ, NEWOBJ and NEWOBJ_EX; then a persistent id both ways
    let p = b"\x80\x04(ccollections\nOrderedDict\n)R\x8c\x01aK\x01s}bN\x8c\x03mod\x8c\x04name\x93K\x01\x85R(K\x02imod\nC\n(cmod\nC\nK\x03o\x8c\x03mod\x8c\x01C\x93)\x81\x8c\x03mod\x8c\x01C\x93)}\x92Pid0\n(K\x04K\x05tQl.";
    let pk = parse(p);
    let ids = pk.list(pk.top()).unwrap().to_vec();
    let od = pk.call(ids[0]).unwrap();
    assert_eq!(pk.callee(ids[0]), Some(("collections", "OrderedDict")));
    assert_eq!(
        (od.kind, pk.tuple(od.args).unwrap().len()),
        (CallKind::Reduce, 0)
    );
    assert_eq!(od.entries.len(), 1);
    assert_eq!(pk.str(od.entries[0].0), Some("a"));
    assert_eq!(pk.dict(pk.state(ids[0]).unwrap()), Some(&[][..]));
    assert_eq!(pk.get(ids[1]), &Object::None);
    assert_eq!(pk.callee(ids[2]), Some(("mod", "name")));
    for (i, args) in [(3, 1), (4, 1)] {
        assert_eq!(pk.callee(ids[i]), Some(("mod", "C")), "{i}");
        assert_eq!(pk.tuple(pk.call(ids[i]).unwrap().args).unwrap().len(), args);
    }
    let new = pk.call(ids[5]).unwrap();
    assert_eq!((new.kind, new.kwargs), (CallKind::NewObj, None));
    assert!(pk.call(ids[6]).unwrap().kwargs.is_some());
    assert_eq!(pk.str(pk.persistent(ids[7]).unwrap()), Some("id0"));
    assert_eq!(pk.tuple(pk.persistent(ids[8]).unwrap()).unwrap().len(), 2);
    let globals: Vec<_> = pk.globals().collect();
    assert_eq!(
        globals,
        [
            ("collections", "OrderedDict"),
            ("mod", "name"),
            ("mod", "C"),
            ("mod", "C"),
            ("mod", "C"),
            ("mod", "C")
        ]
    );
    assert!(reason(b"K\x01)R.").contains("calls an integer"));
    assert!(reason(b"cm\nf\nK\x01R.").contains("arguments are an integer, not a tuple"));
    assert!(reason(b"]K\x01b.").contains("sets the state of a list"));
    assert!(reason(b"K\x01K\x02\x93.").contains("two strings"));
    assert!(reason(b"cm\nC\n)K\x01\x92.").contains("not a dict"));
    assert!(reason(b"(o.").contains("without a class"));
}

#[test]
fn bytes_as_python_writes_them_at_protocol_2() {
    // {b'k': _codecs.encode('\xe9x', 'latin1'), 'k': b'', b'e': bytes()} (protocol 2)
    let p = b"\x80\x02}(c_codecs\nencode\nq\x00X\x01\x00\x00\x00kX\x06\x00\x00\x00latin1q\x01\x86R\
h\x00X\x03\x00\x00\x00\xc3\xa9xh\x01\x86RX\x01\x00\x00\x00kC\x00U\x01ec__builtin__\nbytes\n)Ru.";
    let pk = parse(p);
    let top = pk.top();
    let v = pk.dict_get(top, "k").unwrap();
    // the byte-string key wins over the text one
    assert_eq!(pk.bytes(v).unwrap(), &b"\xe9x"[..]);
    assert!(pk.bytes_eq(v, b"\xe9x") && !pk.bytes_eq(v, b"\xe9") && !pk.bytes_eq(v, b"\xe9xy"));
    assert_eq!(pk.bytes(pk.dict_get(top, "e").unwrap()).unwrap(), &b""[..]);
    assert_eq!(pk.dict_get(top, "nope"), None);
    // a character beyond latin-1 is no byte
    let p = b"c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R.";
    let pk = parse(p);
    assert_eq!(pk.bytes(pk.top()), None);
}

#[test]
fn protocol_framing_and_refused_opcodes() {
    assert!(matches!(
        refused(b"\x80\x06N."),
        PickleError::Protocol { protocol: 6 }
    ));
    parse(b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.");
    assert!(matches!(
        refused(b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00N."),
        PickleError::Truncated { at: 2 }
    ));
    assert!(matches!(
        refused(b"N.N"),
        PickleError::Trailing { extra: 1 }
    ));
    assert!(matches!(
        refused(b"\x82\x01."),
        PickleError::Refused { name: "EXT1", .. }
    ));
    assert!(matches!(
        refused(b"\x97."),
        PickleError::Refused {
            name: "NEXT_BUFFER",
            ..
        }
    ));
    assert!(matches!(
        refused(b"\x80\x02\xff"),
        PickleError::UnknownOpcode { op: 0xff, at: 2 }
    ));
    assert!(reason(b"Ix\n.").contains("`x` is not an integer"));
    assert!(reason(b"F1.5.5\n.").contains("not a float"));
}

#[test]
fn nesting_100000_deep_costs_no_stack() {
    let n = 100_000;
    // [[[...]]] by EMPTY_LIST/APPEND, ((...),) by TUPLE1, {0: {0: ...}} by SETITEM
    let mut lists = b"\x80\x02".to_vec();
    lists.extend(std::iter::repeat_n(b']', n));
    lists.extend(std::iter::repeat_n(b'a', n - 1));
    lists.push(b'.');
    let mut tuples = b"\x80\x02)".to_vec();
    tuples.extend(std::iter::repeat_n(0x85, n));
    tuples.push(b'.');
    let mut dicts = b"\x80\x02".to_vec();
    for _ in 0..n {
        dicts.extend(b"}K\x00");
    }
    dicts.extend(b"N");
    dicts.extend(std::iter::repeat_n(b's', n));
    dicts.push(b'.');
    // the levels below the top: lists n - 1 (the innermost is empty), tuples n, dicts n
    for (p, levels) in [(lists, n - 1), (tuples, n), (dicts, n)] {
        let pk = parse(&p);
        let (mut id, mut depth) = (pk.top(), 0);
        loop {
            let seq = pk.list(id).or_else(|| pk.tuple(id));
            let child = match (seq, pk.dict(id)) {
                (Some(v), _) => v.first().copied(),
                (_, Some(d)) => d.first().map(|e| e.1),
                _ => None,
            };
            let Some(child) = child else { break };
            id = child;
            depth += 1;
        }
        assert_eq!(depth, levels);
        drop(pk); // dropping does not recurse either
    }
}

/// A pickle touching most opcode families, as a numpy array and a dict are pickled.
const SAMPLE: &[u8] = b"\x80\x02}q\x00(U\x04dataq\x01cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87Rq\x03(K\x01K\x02K\x03\x86U\x03abcN\x89U\x06abcdeftbU\x06labelsq\x04]q\x05(K\x01M\x02\x01J\xff\xff\xff\xff\x8a\x01\x05G?\xf0\x00\x00\x00\x00\x00\x00eX\x01\x00\x00\x00s\x8c\x01th\x04\x94\x86u.";

#[test]
fn every_truncation_is_an_error_and_no_bit_flip_panics() {
    parse(SAMPLE);
    for cut in 0..SAMPLE.len() {
        assert!(Pickle::parse(&SAMPLE[..cut]).is_err(), "cut at {cut}");
    }
    for i in 0..SAMPLE.len() {
        for bit in 0..8 {
            let mut d = SAMPLE.to_vec();
            d[i] ^= 1 << bit;
            let _ = Pickle::parse(&d);
        }
    }
}

#[test]
fn the_budget_bounds_memory() {
    // a list of 100,000 small ints fits the default budget, not a small one
    let mut p = b"\x80\x02](".to_vec();
    for i in 0..100_000u32 {
        p.extend([b'K', i as u8]);
    }
    p.extend(b"e.");
    let pk = parse(&p);
    assert_eq!(pk.list(pk.top()).unwrap().len(), 100_000);
    let e = Pickle::parse_with_budget(&p, 100_000).unwrap_err();
    assert!(
        matches!(e, PickleError::Budget { limit: 100_000, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("more than its size allows"), "{e}");
    // marks alone are charged too
    let marks = vec![b'('; 10_000];
    let e = Pickle::parse_with_budget(&marks, 1000).unwrap_err();
    assert!(matches!(e, PickleError::Budget { .. }), "{e}");
}
