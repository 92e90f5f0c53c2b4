//! The expansion's errors, and the shape of what it generates (the generated code's
//! behaviour is tested in kiln-nn's `tests/derive.rs`).

use syn::{DeriveInput, parse_quote};

use crate::expand::{Wrap, derive, wrap_of};

fn error_of(input: DeriveInput) -> String {
    match derive(&input) {
        Ok(t) => panic!("expected an error, got {t}"),
        Err(e) => e.to_string(),
    }
}

fn expansion(input: DeriveInput) -> String {
    derive(&input).unwrap().to_string()
}

#[test]
fn enums_unions_and_tuple_structs_are_refused_by_name() {
    let e = error_of(parse_quote!(
        enum E {
            A,
        }
    ));
    assert!(e.contains("not an enum"), "{e}");
    let e = error_of(parse_quote!(
        union U {
            a: u32,
        }
    ));
    assert!(e.contains("not a union"), "{e}");
    let e = error_of(parse_quote!(
        struct T<B: Backend>(Linear<B>);
    ));
    assert!(e.contains("named fields"), "{e}");
}

#[test]
fn unknown_options_and_struct_options_are_refused() {
    let e = error_of(parse_quote!(
        struct N<B: Backend> {
            #[module(parameter)]
            w: Tensor<B>,
        }
    ));
    assert!(e.contains("unknown `#[module]` option `parameter`"), "{e}");
    assert!(e.contains("expected `skip`, `param`"), "{e}");
    let e = error_of(parse_quote!(
        #[module(skip)]
        struct N<B: Backend> {
            l: Linear<B>,
        }
    ));
    assert!(e.contains("goes on fields, not on the struct"), "{e}");
}

#[test]
fn conflicting_options_are_refused() {
    for input in [
        parse_quote!(
            struct N<B: Backend> {
                #[module(param, buffer)]
                w: Tensor<B>,
            }
        ),
        parse_quote!(
            struct N<B: Backend> {
                #[module(param)]
                #[module(skip)]
                w: Tensor<B>,
            }
        ),
    ] {
        let e = error_of(input);
        assert!(e.contains("a field has one role"), "{e}");
    }
    let e = error_of(parse_quote!(
        struct N {
            #[module(skip, rename = "a")]
            s: String,
        }
    ));
    assert!(e.contains("`rename` on a skipped field"), "{e}");
    let e = error_of(parse_quote!(
        struct N<B: Backend> {
            #[module(rename = "a", rename = "b")]
            l: Linear<B>,
        }
    ));
    assert!(e.contains("`rename` given twice"), "{e}");
}

#[test]
fn bad_and_duplicate_state_dict_names_are_refused() {
    for bad in ["", "a..b", ".a", "a."] {
        let e = error_of(parse_quote!(
            struct N<B: Backend> {
                #[module(rename = #bad)]
                l: Linear<B>,
            }
        ));
        assert!(e.contains("is not a state-dict name"), "{bad}: {e}");
    }
    let e = error_of(parse_quote!(
        struct N<B: Backend> {
            fc: Linear<B>,
            #[module(rename = "fc")]
            head: Linear<B>,
        }
    ));
    assert!(
        e.contains("`fc` and `head` both have the state-dict name `fc`"),
        "{e}"
    );
}

#[test]
fn an_unmarked_tensor_field_is_refused_with_the_fix() {
    for input in [
        parse_quote!(
            struct N<B: Backend> {
                w: Tensor<B>,
            }
        ),
        parse_quote!(
            struct N<B: Backend> {
                w: Option<kiln_tensor::Tensor<B>>,
            }
        ),
        parse_quote!(
            struct N<B: Backend> {
                w: Vec<Tensor<B>>,
            }
        ),
    ] {
        let e = error_of(input);
        assert!(
            e.contains("`w` holds a tensor: mark it `#[module(param)]`"),
            "{e}"
        );
    }
}

#[test]
fn only_the_backend_parameter_is_allowed() {
    let e = error_of(parse_quote!(
        struct N<B: Backend, C> {
            l: Linear<B>,
            c: C,
        }
    ));
    assert!(e.contains("a second type parameter"), "{e}");
    let e = error_of(parse_quote!(
        struct N<'a, B: Backend> {
            l: &'a Linear<B>,
        }
    ));
    assert!(e.contains("a lifetime parameter"), "{e}");
    let e = error_of(parse_quote!(
        struct N<B: Backend, const K: usize> {
            l: [Linear<B>; K],
        }
    ));
    assert!(e.contains("a const parameter"), "{e}");
}

#[test]
fn wrappers_nest_and_are_found_by_name() {
    let plain = |w| Box::new(w);
    let (w, _) = wrap_of(&parse_quote!(Vec<Option<Linear<B>>>));
    assert_eq!(w, Wrap::List(plain(Wrap::Optional(plain(Wrap::Plain)))));
    let (w, _) = wrap_of(&parse_quote!(std::option::Option<[Tensor<B>; 3]>));
    assert_eq!(w, Wrap::Optional(plain(Wrap::List(plain(Wrap::Plain)))));
    let (w, _) = wrap_of(&parse_quote!(Box<dyn Module<B>>));
    assert_eq!(w, Wrap::Plain);
}

#[test]
fn a_struct_without_the_backend_gets_one() {
    let e = expansion(parse_quote!(
        struct Gate;
    ));
    assert!(
        e.contains("impl < B : :: kiln_nn :: __private :: Backend >"),
        "{e}"
    );
    assert!(e.contains("Module < B > for Gate"), "{e}");
    assert!(e.contains("_f : & mut dyn :: core :: ops :: FnMut"), "{e}");
}

#[test]
fn fields_are_visited_in_order_with_their_names() {
    let e = expansion(parse_quote!(
        struct Net<B: Backend> {
            conv: Conv2d<B>,
            #[module(skip)]
            note: String,
            #[module(param, rename = "w")]
            scale: Tensor<B>,
            layers: Vec<Linear<B>>,
        }
    ));
    let at = |s: &str| e.find(s).unwrap_or_else(|| panic!("no `{s}` in {e}"));
    assert!(at("visit_child (\"conv\"") < at("f (\"w\" , & self . scale"));
    assert!(at("f (\"w\" , & self . scale") < at("into_iter (& self . layers)"));
    assert!(!e.contains("note"), "{e}");
    assert!(e.contains("TensorKind :: Parameter"), "{e}");
}
