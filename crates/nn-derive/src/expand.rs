//! The expansion: `impl Module<B>` with `forward`, `visit` and `visit_mut`.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Data, DeriveInput, Error, Fields, GenericArgument, GenericParam, Ident, PathArguments, Result,
    Type, parse_quote,
};

use crate::attrs::{Role, field_options, reject_struct_options};

/// How a field's value reaches its tensors or modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wrap {
    /// The value itself.
    Plain,
    /// `Option<_>`: visited when `Some`.
    Optional(Box<Wrap>),
    /// `Vec<_>` or `[_; N]`: element `i` named `name.i`.
    List(Box<Wrap>),
}

/// One visited field.
struct Visited {
    ident: Ident,
    name: String,
    role: Role,
    wrap: Wrap,
    span: Span,
}

/// The crate path the generated code uses (works inside kiln-nn through
/// `extern crate self as kiln_nn`).
fn private() -> TokenStream {
    quote!(::kiln_nn::__private)
}

/// Expands `#[derive(Module)]` on `input`.
pub fn derive(input: &DeriveInput) -> Result<TokenStream> {
    reject_struct_options(&input.attrs)?;
    let fields = struct_fields(input)?;
    let p = private();
    let name = &input.ident;
    let backend = backend_param(input)?;
    let b = backend.clone().unwrap_or_else(|| format_ident!("B"));

    let mut generics = input.generics.clone();
    if backend.is_none() {
        generics.params.push(parse_quote!(#b: #p::Backend));
    }
    generics
        .make_where_clause()
        .predicates
        .push(parse_quote!(#b: #p::Backend));
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let (_, ty_generics, _) = input.generics.split_for_impl();

    let f = if fields.is_empty() {
        format_ident!("_f")
    } else {
        format_ident!("f")
    };
    let visit = fields.iter().map(|v| visit_field(v, false));
    let visit_mut = fields.iter().map(|v| visit_field(v, true));
    let forward_guard = forward_guard();
    let (fn_mut, str) = (quote!(::core::ops::FnMut), quote!(::core::primitive::str));
    // Inside `const _` (as serde's derives do) the helper trait of `forward` is private to
    // this expansion.
    Ok(quote! {
        const _: () = {
            #forward_guard
            #[automatically_derived]
            impl #impl_generics #p::Module<#b> for #name #ty_generics #where_clause {
                fn forward(
                    &mut self,
                    x: &#p::Tensor<#b>,
                    ctx: &mut #p::Context,
                ) -> #p::Result<#p::Tensor<#b>> {
                    Self::forward(self, x, ctx)
                }
                fn visit(&self, #f: &mut dyn #fn_mut(&#str, &#p::Tensor<#b>, #p::TensorKind)) {
                    #(#visit)*
                }
                fn visit_mut(
                    &mut self,
                    #f: &mut dyn #fn_mut(&#str, &mut #p::Tensor<#b>, #p::TensorKind),
                ) {
                    #(#visit_mut)*
                }
            }
        };
    })
}

/// The struct's visited fields, in declaration order, with their options checked.
fn struct_fields(input: &DeriveInput) -> Result<Vec<Visited>> {
    let data = match &input.data {
        Data::Struct(s) => s,
        Data::Enum(e) => {
            return Err(Error::new(
                e.enum_token.span,
                "`#[derive(Module)]` takes a struct with named fields, not an enum (implement `Module` by hand for an enum)",
            ));
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span,
                "`#[derive(Module)]` takes a struct with named fields, not a union",
            ));
        }
    };
    if let Fields::Unnamed(f) = &data.fields {
        return Err(Error::new(
            f.paren_token.span.join(),
            "`#[derive(Module)]` takes a struct with named fields: the field names are the state-dict names (write `struct Net { conv: Conv2d<B> }`)",
        ));
    }
    let mut out = Vec::new();
    let mut names: HashMap<String, Ident> = HashMap::new();
    let mut errors: Option<Error> = None;
    let mut push_err = |e: Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for field in &data.fields {
        let Some(ident) = field.ident.clone() else {
            continue;
        };
        let opts = match field_options(&field.attrs) {
            Ok(o) => o,
            Err(e) => {
                push_err(e);
                continue;
            }
        };
        if opts.role == Role::Skip {
            continue;
        }
        let (wrap, leaf) = wrap_of(&field.ty);
        if opts.role == Role::Child && last_segment_is(leaf, "Tensor") {
            push_err(Error::new(
                field.ty.span(),
                format!(
                    "`{ident}` holds a tensor: mark it `#[module(param)]` (learned), `#[module(buffer)]` (saved, not learned), `#[module(counter)]` (an integer count) or `#[module(skip)]`"
                ),
            ));
            continue;
        }
        let name = opts
            .rename
            .as_ref()
            .map_or_else(|| unraw(&ident), |n| n.value());
        if let Some(first) = names.get(&name) {
            let at = opts.rename.as_ref().map_or(ident.span(), |n| n.span());
            push_err(Error::new(
                at,
                format!("`{first}` and `{ident}` both have the state-dict name `{name}`"),
            ));
            continue;
        }
        names.insert(name.clone(), ident.clone());
        out.push(Visited {
            ident,
            name,
            role: opts.role,
            wrap,
            span: field.ty.span(),
        });
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A field's name without a raw-identifier prefix (`r#type` is `type` in the state dict).
fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map_or(s.clone(), str::to_string)
}

/// The backend type parameter, if the struct has one; an error for any other parameter.
fn backend_param(input: &DeriveInput) -> Result<Option<Ident>> {
    let mut backend = None;
    for param in &input.generics.params {
        let msg = match param {
            GenericParam::Type(t) if backend.is_none() => {
                backend = Some(t.ident.clone());
                continue;
            }
            GenericParam::Type(_) => "a second type parameter",
            GenericParam::Lifetime(_) => "a lifetime parameter",
            GenericParam::Const(_) => "a const parameter",
        };
        return Err(Error::new(
            param.span(),
            format!(
                "`#[derive(Module)]` takes at most one generic parameter, the backend `B: Backend`; this is {msg}"
            ),
        ));
    }
    Ok(backend)
}

/// Peels `Option<_>`, `Vec<_>` and `[_; N]` off a field type: the wrapping and the leaf type.
pub fn wrap_of(ty: &Type) -> (Wrap, &Type) {
    let ty = ungroup(ty);
    if let Some(inner) = single_arg(ty, "Option") {
        let (w, leaf) = wrap_of(inner);
        return (Wrap::Optional(Box::new(w)), leaf);
    }
    let list = match ty {
        Type::Array(a) => Some(&*a.elem),
        _ => single_arg(ty, "Vec"),
    };
    if let Some(inner) = list {
        let (w, leaf) = wrap_of(inner);
        return (Wrap::List(Box::new(w)), leaf);
    }
    (Wrap::Plain, ty)
}

fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => ungroup(&g.elem),
        Type::Paren(p) => ungroup(&p.elem),
        _ => ty,
    }
}

/// The one type argument of `name<T>` (by the path's last segment), if `ty` is that.
fn single_arg<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if p.qself.is_some() || seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>()[..] {
        [GenericArgument::Type(t)] => Some(t),
        _ => None,
    }
}

fn last_segment_is(ty: &Type, name: &str) -> bool {
    matches!(ungroup(ty), Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// The statements that visit one field.
fn visit_field(v: &Visited, mutable: bool) -> TokenStream {
    let ident = &v.ident;
    // Spanned at the field's type, so that type errors point at the field.
    let span = v.span;
    let value = if mutable {
        quote_spanned!(span=> &mut self.#ident)
    } else {
        quote_spanned!(span=> &self.#ident)
    };
    let name = &v.name;
    walk(v, &v.wrap, value, quote!(#name), mutable, 0)
}

/// Visits `value` (a reference) wrapped as `wrap`, under the state-dict name `name`.
fn walk(
    v: &Visited,
    wrap: &Wrap,
    value: TokenStream,
    name: TokenStream,
    mutable: bool,
    depth: usize,
) -> TokenStream {
    let p = private();
    let span = v.span;
    match wrap {
        Wrap::Plain => match (v.role, mutable) {
            (Role::Tensor(kind), _) => {
                let kind = Ident::new(kind, span);
                quote_spanned!(span=> f(#name, #value, #p::TensorKind::#kind);)
            }
            (_, false) => quote_spanned!(span=> #p::visit_child(#name, #value, f);),
            (_, true) => quote_spanned!(span=> #p::visit_child_mut(#name, #value, f);),
        },
        Wrap::Optional(inner) => {
            let x = format_ident!("x{depth}");
            let body = walk(v, inner, quote!(#x), name, mutable, depth + 1);
            quote!(if let ::core::option::Option::Some(#x) = #value { #body })
        }
        Wrap::List(inner) => {
            let (i, x, n) = (
                format_ident!("i{depth}"),
                format_ident!("x{depth}"),
                format_ident!("name{depth}"),
            );
            let body = walk(v, inner, quote!(#x), quote!(&#n), mutable, depth + 1);
            quote! {
                for (#i, #x) in ::core::iter::Iterator::enumerate(
                    ::core::iter::IntoIterator::into_iter(#value),
                ) {
                    let #n = ::std::format!("{}.{}", #name, #i);
                    #body
                }
            }
        }
    }
}

/// `forward` is `Self::forward(self, x, ctx)`: a path prefers an inherent function to a
/// trait's, so it calls the struct's own `forward`. Without one it would call itself; this
/// blanket trait, in scope there, turns that case into an ambiguity error naming it.
fn forward_guard() -> TokenStream {
    quote! {
        #[allow(non_camel_case_types, dead_code)]
        trait derive_Module_needs_an_inherent_fn_forward {
            fn forward(&self) {}
        }
        impl<T: ?::core::marker::Sized> derive_Module_needs_an_inherent_fn_forward for T {}
    }
}
