//! The torch reader of `data.pkl` on hand-written pickles, a real one cut and damaged at
//! every byte, and random token programs.

use super::*;

fn refused(p: &[u8]) -> String {
    match state_dict(p) {
        Err(PickleError::Format(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_global_outside_the_allow_list_is_refused_by_name() {
    let p = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85R.";
    match state_dict(p) {
        Err(PickleError::Forbidden { module, name }) => {
            assert_eq!((module.as_str(), name.as_str()), ("os", "system"));
        }
        other => panic!("{other:?}"),
    }
    // STACK_GLOBAL (protocol 4) too
    let p = b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.";
    assert!(matches!(
        state_dict(p),
        Err(PickleError::Forbidden { ref module, ref name }) if module == "builtins" && name == "eval"
    ));
    // refused where it is named, even unused
    let p = b"\x80\x02}cos\nsystem\n0.";
    assert!(matches!(state_dict(p), Err(PickleError::Forbidden { .. })));
}

#[test]
fn malformed_pickles_are_errors() {
    assert!(refused(b"").contains("ends early"));
    assert!(refused(b"\x80\x02}").contains("ends early"));
    assert!(refused(b"\x80\x02.").contains("empty stack"));
    assert!(refused(b"\x80\x02(.").contains("empty stack"));
    assert!(refused(b"\x80\x02h\x07.").contains("memo"));
    assert!(refused(b"\x80\x02K\x01.").contains("not a state dict"));
    assert!(refused(b"\x80\x02t.").contains("mark"));
    assert!(refused(b"\x80\x02X\xff\xff\xff\xff").contains("ends early"));
    assert!(refused(b"\x80\x02\x8b\xff\xff\xff\x7f").contains("ends early"));
    let big = b"\x80\x02}X\x01\x00\x00\x00a\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01s.";
    assert!(refused(big).contains("entry `a` is an int, not a tensor"));
    let od = b"\x80\x02ccollections\nOrderedDict\nK\x01\x85R.";
    assert!(refused(od).contains("OrderedDict with arguments"));
    let param = b"\x80\x02}X\x01\x00\x00\x00actorch._utils\n_rebuild_parameter\nK\x01\x85Rs.";
    assert!(refused(param).contains("_rebuild_parameter of something other than a tensor"));
    assert!(refused(b"\x80\x02}X\x01\x00\x00\x00aK\x01s.").contains("an int"));
    assert!(refused(b"\x80\x02\xff").contains("opcode 0xff"));
    assert!(refused(b"\x80\x02]K\x01u").contains("mark"));
}

#[test]
fn every_truncation_and_bit_flip_of_a_real_pickle_is_handled() {
    let zip = include_bytes!("../../../tests/fixtures/torch/views.pt");
    let archive = crate::state_dict::zip::Archive::parse(zip).unwrap();
    let pkl = archive.data("archive/data.pkl").unwrap().unwrap();
    let good = state_dict(pkl).unwrap();
    assert_eq!(good.len(), 8);
    for cut in 0..pkl.len() {
        assert!(state_dict(&pkl[..cut]).is_err(), "cut at {cut}");
    }
    for i in 0..pkl.len() {
        for bit in 0..8 {
            let mut d = pkl.to_vec();
            d[i] ^= 1 << bit;
            // Ok or Err, but never a panic, a hang or an allocation beyond the input
            let _ = state_dict(&d);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
    /// Random programs of pickle tokens (opcodes with operands, allow-listed globals,
    /// the pieces of a tensor), damaged or not: errors, never panics.
    #[test]
    fn random_token_programs_never_panic(
        tokens in proptest::collection::vec(proptest::sample::select(TOKENS.to_vec()), 0..120)
    ) {
        let mut p = b"\x80\x02".to_vec();
        for t in tokens {
            p.extend(t);
        }
        let _ = state_dict(&p);
    }
}

const TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"]",
    b"}",
    b"t",
    b"\x85",
    b"\x86",
    b"\x87",
    b"l",
    b"d",
    b"a",
    b"e",
    b"s",
    b"u",
    b"q\x00",
    b"q\x01",
    b"r\x00\x00\x00\x00",
    b"\x94",
    b"h\x00",
    b"h\x01",
    b"j\x01\x00\x00\x00",
    b"p0\n",
    b"g0\n",
    b"R",
    b"b",
    b"\x81",
    b"Q",
    b"K\x00",
    b"K\x03",
    b"M\xff\xff",
    b"J\xff\xff\xff\xff",
    b"\x8a\x01\xff",
    b"\x8a\x09",
    b"\x8b\x01\x00\x00\x00\x05",
    b"I01\n",
    b"I-3\n",
    b"L5L\n",
    b"N",
    b"\x88",
    b"\x89",
    b"G\x00\x00\x00\x00\x00\x00\x00\x00",
    b"X\x07\x00\x00\x00storage",
    b"X\x01\x00\x00\x000",
    b"X\x03\x00\x00\x00cpu",
    b"\x8c\x05torch",
    b"\x8c\x0cFloatStorage",
    b"\x93",
    b"C\x01z",
    b"0",
    b"1",
    b"2",
    b".",
    b"ctorch\nFloatStorage\n",
    b"ctorch\nbfloat16\n",
    b"ctorch._utils\n_rebuild_tensor_v2\n",
    b"ctorch._utils\n_rebuild_parameter\n",
    b"ccollections\nOrderedDict\n",
    b"cos\nsystem\n",
    b"\x95\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\xff",
    b"X\xff\xff\xff\x7f",
];

#[test]
fn shared_memo_entries_cost_no_copies() {
    // t = (t, t) 64 times: 2^64 leaves if references were copies
    let mut p = b"\x80\x02}(X\x01\x00\x00\x00a]q\x000".to_vec();
    for _ in 0..64 {
        p.extend(b"h\x00h\x00\x86q\x000");
    }
    p.extend(b"h\x00u.");
    let r = refused(&p);
    assert!(r.contains("a tuple"), "{r}");
}

#[test]
fn repeated_references_to_a_long_key_exhaust_the_budget() {
    // one 4 KB storage key, then a dict of 100,000 tensors all pointing at it
    let mut p = b"\x80\x02}(".to_vec();
    p.extend(b"X\x00\x10\x00\x00");
    p.extend([b'k'; 4096]);
    p.extend(b"q\x010");
    p.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x020");
    p.extend(
        b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nh\x01X\x03\x00\x00\x00cpuK\x01tQq\x030",
    );
    p.extend(b"h\x02(h\x03K\x00)))}tRq\x040");
    for i in 0..100_000u32 {
        p.push(b'X');
        p.extend(8u32.to_le_bytes());
        p.extend(format!("{i:08}").as_bytes());
        p.extend(b"h\x04");
    }
    p.extend(b"u.");
    let r = refused(&p);
    assert!(r.contains("too many times"), "{r}");
}
