//! `#[derive(Module)]` for kiln-nn. Use it through `kiln_nn::Module`, which names both the
//! trait and this derive (as `serde::Serialize` does); the generated code refers to
//! `::kiln_nn`.

mod attrs;
mod expand;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Implements `kiln_nn::Module<B>` for a struct with named fields.
///
/// - `visit` and `visit_mut` walk the fields in declaration order. A field is a child
///   module by default, visited with its field name as prefix (`conv.weight`).
///   `Option<_>` fields are visited when `Some`; `Vec<_>` and `[_; N]` fields number their
///   elements like `nn.ModuleList` (`layers.0.weight`, `layers.1.weight`). Wrappers nest
///   (`Vec<Option<_>>`) and are recognised by name, so write `Option`/`Vec` rather than an
///   alias of them.
/// - `forward` calls the struct's own inherent `forward` method, which you must write with
///   the trait's signature:
///   `fn forward(&mut self, x: &Tensor<B>, ctx: &mut Context) -> kiln_nn::Result<Tensor<B>>`.
///   Without one, compilation fails with "multiple applicable items in scope" naming
///   `derive_Module_needs_an_inherent_fn_forward`. It may be private: code in other modules
///   then calls the trait's `forward`, which reaches it.
/// - The struct may have one type parameter, the backend (`B: Backend`), and nothing else.
///   A struct without it (no tensors, like `struct Gate;`) implements `Module<B>` for
///   every backend.
///
/// Field options, `#[module(...)]`, comma-separated:
///
/// | option | meaning |
/// |---|---|
/// | `param` | a `Tensor<B>` learned by the optimizer (`TensorKind::Parameter`) |
/// | `buffer` | a `Tensor<B>` saved but not learned (`TensorKind::Buffer`) |
/// | `counter` | an integer count saved as int64 (`TensorKind::Counter`) |
/// | `skip` | not visited (settings, caches, anything without tensors) |
/// | `rename = "name"` | the state-dict name, instead of the field's (dots allowed: `"features.0"`) |
///
/// `param`, `buffer` and `counter` also apply through `Option` and `Vec`
/// (`Vec<Tensor<B>>` is `nn.ParameterList`: `name.0`, `name.1`). A `Tensor` field without
/// one of them is an error, as is an unknown option, two roles on one field, two fields
/// with one state-dict name, an enum, a union or a tuple struct.
///
/// PyTorch lists a module's own parameters, then its buffers, then its children; declare
/// the fields in that order to list them in PyTorch's order (loading matches by name, so
/// the order only shows in listings).
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}
