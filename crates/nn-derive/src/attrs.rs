//! The `#[module(...)]` field options.

use proc_macro2::Span;
use syn::{Attribute, Error, LitStr, Result};

/// What a field holds, as its options say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A child module (the default).
    Child,
    /// A tensor of this `TensorKind` variant: `Parameter`, `Buffer` or `Counter`.
    Tensor(&'static str),
    /// Not visited.
    Skip,
}

/// A field's parsed options.
pub struct FieldOptions {
    pub role: Role,
    /// Where the role was set (for errors), if it was.
    pub role_span: Option<Span>,
    /// The state-dict name given by `rename = "..."`.
    pub rename: Option<LitStr>,
}

const EXPECTED: &str = "expected `skip`, `param`, `buffer`, `counter` or `rename = \"name\"`";

/// Parses every `#[module(...)]` attribute of a field.
pub fn field_options(attrs: &[Attribute]) -> Result<FieldOptions> {
    let mut opts = FieldOptions {
        role: Role::Child,
        role_span: None,
        rename: None,
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            let span = meta
                .path
                .get_ident()
                .map_or(Span::call_site(), |i| i.span());
            let role = if meta.path.is_ident("skip") {
                Role::Skip
            } else if meta.path.is_ident("param") {
                Role::Tensor("Parameter")
            } else if meta.path.is_ident("buffer") {
                Role::Tensor("Buffer")
            } else if meta.path.is_ident("counter") {
                Role::Tensor("Counter")
            } else if meta.path.is_ident("rename") {
                if opts.rename.is_some() {
                    return Err(meta.error("`rename` given twice"));
                }
                let name: LitStr = meta.value()?.parse()?;
                check_name(&name)?;
                opts.rename = Some(name);
                return Ok(());
            } else {
                let shown = quote::ToTokens::to_token_stream(&meta.path).to_string();
                return Err(meta.error(format!("unknown `#[module]` option `{shown}`; {EXPECTED}")));
            };
            if opts.role_span.is_some() {
                return Err(Error::new(
                    span,
                    "a field has one role: give only one of `skip`, `param`, `buffer`, `counter`",
                ));
            }
            opts.role = role;
            opts.role_span = Some(span);
            Ok(())
        })?;
    }
    if let (Role::Skip, Some(name)) = (opts.role, &opts.rename) {
        return Err(Error::new(
            name.span(),
            "`rename` on a skipped field: a skipped field has no state-dict name",
        ));
    }
    Ok(opts)
}

/// Rejects a state-dict name that is empty or has an empty dotted part (`a..b`, `.a`).
fn check_name(name: &LitStr) -> Result<()> {
    let v = name.value();
    if v.split('.').any(str::is_empty) {
        return Err(Error::new(
            name.span(),
            format!(
                "`{v}` is not a state-dict name: it needs non-empty parts separated by single dots"
            ),
        ));
    }
    Ok(())
}

/// Rejects `#[module(...)]` on the struct itself (the options are per field).
pub fn reject_struct_options(attrs: &[Attribute]) -> Result<()> {
    match attrs.iter().find(|a| a.path().is_ident("module")) {
        Some(a) => Err(Error::new_spanned(
            a,
            format!("`#[module(...)]` goes on fields, not on the struct; {EXPECTED}"),
        )),
        None => Ok(()),
    }
}
