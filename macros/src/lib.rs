//! `#[netcase::test]`, re-exported by netcase: see `netcase::bundle`.
//!
//! A procedural macro because libtest tells a test nothing of its verdict: only code wrapped
//! around the test's body sees both the `Err` it returns and its panic, and an attribute is how
//! Rust tests are wrapped (`#[tokio::test]` does the same for a runtime).

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemFn, ReturnType, parse_macro_input};

/// Marks an `async fn` as a test that runs on a current-thread tokio runtime, as `#[tokio::test]`
/// does, and that leaves netcase's bug-report bundle in `target/netcase/<test>/` when it fails
/// or panics. It composes with `#[rstest]` (put `#[rstest]` first), as `#[tokio::test]` does.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        let args = proc_macro2::TokenStream::from(args);
        return syn::Error::new_spanned(args, "#[netcase::test] takes no arguments")
            .to_compile_error()
            .into();
    }
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = parse_macro_input!(item as ItemFn);
    if sig.asyncness.take().is_none() {
        return syn::Error::new_spanned(
            sig.fn_token,
            "#[netcase::test] marks an async fn (its body runs on a tokio runtime)",
        )
        .to_compile_error()
        .into();
    }
    let name = sig.ident.to_string();
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let summary = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .take_while(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #sig {
            let body = async move #block;
            let body: ::std::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = #output>>> =
                ::std::boxed::Box::pin(body);
            ::netcase::bundle::run(
                ::netcase::TestInfo {
                    name: #name,
                    summary: #summary,
                    package: ::core::env!("CARGO_PKG_NAME"),
                    krate: ::core::env!("CARGO_CRATE_NAME"),
                    file: ::core::file!(),
                    line: ::core::line!(),
                    capture_all: true,
                },
                body,
            )
        }
    }
    .into()
}
