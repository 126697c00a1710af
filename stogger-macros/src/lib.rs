//! The attribute macros of stogger. Use them through `stogger_core`
//! (`#[stogger_core::log_call]`, ...): the code they generate refers to
//! `::stogger_core`. What they log is described in `stogger_core`'s
//! documentation and in `docs/calls-and-errors.md`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    Expr, ExprArray, ExprLit, FnArg, GenericArgument, Ident, ItemFn, Lit, LitStr, MetaNameValue,
    Pat, PathArguments, ReturnType, Token, Type,
};

/// Logs debug event `called` with `func` and the arguments before the body
/// runs. Options: `include_args = [a, b]`, `exclude_args = [password]`.
#[proc_macro_attribute]
pub fn log_call(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Call, attr.into(), item.into()).into()
}

/// Logs debug event `returned` with `result` and `duration_ms` when the
/// function returns; on `Err` or a panic a `failed` event with `exc_type`,
/// `exc_msg`, `exc_causes` and `duration_ms`, and the error or panic goes on.
#[proc_macro_attribute]
pub fn log_result(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Result, attr.into(), item.into()).into()
}

/// Logs debug event `operation` with the arguments, `result` and
/// `duration_ms`, or `failed` with the arguments as `#[log_result]` does.
#[proc_macro_attribute]
pub fn log_operation(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Operation, attr.into(), item.into()).into()
}

/// Runs the function's body in a `stogger_core::log_scope(name)`:
/// `#[log_scope("import")]`, or with fields `#[log_scope("import", file = path)]`.
#[proc_macro_attribute]
pub fn log_scope(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_scope(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Call,
    Result,
    Operation,
}

/// `include_args` / `exclude_args`.
#[derive(Default)]
struct Options {
    include: Option<Vec<(String, Span)>>,
    exclude: Option<Vec<(String, Span)>>,
}

fn parse_names(value: &Expr) -> syn::Result<Vec<(String, Span)>> {
    let Expr::Array(ExprArray { elems, .. }) = value else {
        return Err(syn::Error::new(
            value.span(),
            "expected a list of argument names: [a, b] or [\"a\", \"b\"]",
        ));
    };
    elems
        .iter()
        .map(|e| match e {
            Expr::Path(p) if p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().map(unraw).unwrap_or_default();
                Ok((ident, e.span()))
            }
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok((s.value(), e.span())),
            _ => Err(syn::Error::new(e.span(), "expected an argument name")),
        })
        .collect()
}

fn parse_options(attr: TokenStream2) -> syn::Result<Options> {
    let mut options = Options::default();
    let items = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(attr)?;
    for item in items {
        let key = item.path.get_ident().map(unraw).unwrap_or_default();
        match key.as_str() {
            "include_args" => options.include = Some(parse_names(&item.value)?),
            "exclude_args" => options.exclude = Some(parse_names(&item.value)?),
            _ => {
                return Err(syn::Error::new(
                    item.path.span(),
                    "unknown option; the options are include_args = [..] and exclude_args = [..]",
                ))
            }
        }
    }
    Ok(options)
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_string).unwrap_or(s)
}

/// A named argument of the function.
struct ArgInfo {
    ident: Ident,
    /// The field name (the argument's name; `message` would replace the
    /// event name, so it is logged as `arg_message`).
    key: String,
}

/// The arguments to log, after the options; errors for names in the
/// options that are not arguments.
fn logged_args(f: &ItemFn, options: &Options) -> syn::Result<(Vec<ArgInfo>, bool)> {
    let mut has_self = false;
    let mut all = Vec::new();
    for input in &f.sig.inputs {
        match input {
            FnArg::Receiver(_) => has_self = true,
            FnArg::Typed(pt) => {
                if let Pat::Ident(pi) = &*pt.pat {
                    all.push(pi.ident.clone());
                }
            }
        }
    }
    let names: Vec<String> = all.iter().map(unraw).collect();
    for (name, span) in options
        .include
        .iter()
        .chain(options.exclude.iter())
        .flatten()
    {
        if !names.contains(name) {
            return Err(syn::Error::new(
                *span,
                format!(
                    "`{name}` is not an argument of `{}` (its arguments: {})",
                    f.sig.ident,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        }
    }
    let listed = |list: &Option<Vec<(String, Span)>>, name: &str| {
        list.as_ref().map(|l| l.iter().any(|(n, _)| n == name))
    };
    let args = all
        .into_iter()
        .zip(names)
        .filter(|(_, name)| !name.starts_with('_'))
        .filter(|(_, name)| listed(&options.include, name) != Some(false))
        .filter(|(_, name)| listed(&options.exclude, name) != Some(true))
        .map(|(ident, name)| ArgInfo {
            ident,
            key: if name == "message" {
                "arg_message".to_string()
            } else {
                name
            },
        })
        .collect();
    Ok((args, has_self))
}

/// The typed value of `expr` (a reference to a value of the argument
/// `name`), as a `tracing` field value.
fn value_of(expr: TokenStream2, name: &Ident) -> TokenStream2 {
    let span = name.span();
    let marker = name.clone();
    quote_spanned! {span=>
        {
            #[allow(non_camel_case_types, dead_code)]
            struct #marker {}
            #[allow(unused_imports)]
            use ::stogger_core::__private::{ViaDebug as _, ViaPrimitive as _, ViaSerde as _};
            ::stogger_core::__private::field(
                (&&&::stogger_core::__private::Arg::<_, #marker>::new(#expr)).value(),
            )
        }
    }
}

/// The `Failure` of the error `expr` (a reference) describes.
fn failure_of(expr: TokenStream2) -> TokenStream2 {
    quote! {
        {
            #[allow(unused_imports)]
            use ::stogger_core::__private::{
                FailViaDebug as _, FailViaDisplay as _, FailViaDynError as _,
                FailViaDynSendError as _, FailViaError as _,
            };
            (&&&&::stogger_core::__private::Fail::new(#expr)).failure()
        }
    }
}

/// What the function returns, as far as the macros care.
struct Returns {
    /// `Some(ok type)` for a `Result` (the last path segment is `Result`).
    result_ok: Option<Option<Type>>,
    /// The return type has a value worth logging (not `()`).
    has_value: bool,
    /// The return type, when it can be written in a closure or `let`
    /// (no `impl Trait`).
    nameable: Option<Type>,
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

fn mentions_impl(ty: &Type) -> bool {
    quote!(#ty).to_string().contains("impl ")
}

fn returns(f: &ItemFn) -> Returns {
    let ty = match &f.sig.output {
        ReturnType::Default => {
            return Returns {
                result_ok: None,
                has_value: false,
                nameable: None,
            }
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let mut result_ok = None;
    if let Type::Path(p) = &ty {
        if let Some(last) = p.path.segments.last() {
            if last.ident == "Result" {
                let ok = match &last.arguments {
                    PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                        GenericArgument::Type(t) => Some(t.clone()),
                        _ => None,
                    }),
                    _ => None,
                };
                result_ok = Some(ok);
            }
        }
    }
    let has_value = match &result_ok {
        Some(Some(ok)) => !is_unit(ok),
        Some(None) => false, // `fmt::Result`: the Ok value is `()`
        None => !is_unit(&ty),
    };
    Returns {
        result_ok,
        has_value,
        nameable: (!mentions_impl(&ty)).then_some(ty),
    }
}

/// The expression `func` is logged with.
fn func_expr(f: &ItemFn, has_self: bool) -> TokenStream2 {
    let name = f.sig.ident.to_string();
    if has_self {
        quote!(::stogger_core::__private::method_name::<Self>(#name))
    } else {
        quote!(::core::concat!(::core::module_path!(), "::", #name))
    }
}

/// For an `async` body: a `return` of the declared type that never runs,
/// which gives `?` in the block a known error type.
fn fake_return(ret: &Returns) -> Option<TokenStream2> {
    ret.nameable.as_ref().map(|ty| {
        quote! {
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value)]
            if false {
                let __stogger_fake: #ty = loop {};
                return __stogger_fake;
            }
        }
    })
}

/// The body of an `async fn` as an `async move` block.
fn async_body(f: &ItemFn, ret: &Returns) -> TokenStream2 {
    let fake = fake_return(ret);
    let block = &f.block;
    quote!(async move { #fake #block })
}

/// The body turned into an expression of type `Result<R, panic payload>`.
fn caught_body(f: &ItemFn, ret: &Returns) -> TokenStream2 {
    if f.sig.asyncness.is_some() {
        let body = async_body(f, ret);
        quote!(::stogger_core::__private::catch_unwind(#body).await)
    } else {
        let block = &f.block;
        let annotation = ret.nameable.as_ref().map(|ty| quote!(-> #ty));
        quote! {
            ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| #annotation #block))
        }
    }
}

fn expand(kind: Kind, attr: TokenStream2, item: TokenStream2) -> TokenStream2 {
    match try_expand(kind, attr, item.clone()) {
        Ok(tokens) => tokens,
        Err(e) => {
            let error = e.to_compile_error();
            quote!(#error #item)
        }
    }
}

fn try_expand(kind: Kind, attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let options = parse_options(attr)?;
    let mut f: ItemFn = syn::parse2(item)?;
    let (args, has_self) = logged_args(&f, &options)?;
    let func = func_expr(&f, has_self);
    let tracing = quote!(::stogger_core::__private::tracing);
    let debug = quote!(#tracing::Level::DEBUG);

    if kind == Kind::Call {
        let fields = args.iter().map(|a| {
            let key = &a.key;
            let ident = &a.ident;
            let value = value_of(quote!(&#ident), &a.ident);
            quote!(#key = #value,)
        });
        let block = &f.block;
        let new_block: syn::Block = syn::parse_quote!({
            #tracing::event!(#debug, _func = #func, #(#fields)* "called");
            #block
        });
        *f.block = new_block;
        return Ok(quote!(#f));
    }

    let ret = returns(&f);
    // log_operation logs the arguments after the body, which may move
    // them: their values are taken first.
    let (arg_lets, arg_fields): (Vec<_>, Vec<_>) = if kind == Kind::Operation {
        args.iter()
            .enumerate()
            .map(|(i, a)| {
                let var = Ident::new(&format!("__stogger_arg_{i}"), Span::mixed_site());
                let ident = &a.ident;
                let value = value_of(quote!(&#ident), &a.ident);
                let key = &a.key;
                (quote!(let #var = #value;), quote!(#key = #var,))
            })
            .unzip()
    } else {
        (Vec::new(), Vec::new())
    };
    let done_name = if kind == Kind::Operation {
        "operation"
    } else {
        "returned"
    };
    let result_field = |value: TokenStream2| {
        if ret.has_value {
            let name = Ident::new("result", Span::call_site());
            let v = value_of(value, &name);
            quote!(result = #v,)
        } else {
            quote!()
        }
    };
    let failed = |failure: TokenStream2, level: TokenStream2| {
        quote! {
            let __stogger_failure = #failure;
            #tracing::event!(
                #level,
                _func = #func,
                #(#arg_fields)*
                exc_type = __stogger_failure.exc_type.as_str(),
                exc_msg = __stogger_failure.msg.as_str(),
                exc_causes = __stogger_failure.causes_field(),
                duration_ms = __stogger_ms,
                "failed"
            );
        }
    };
    let on_return = match &ret.result_ok {
        Some(_) => {
            let ok_field = result_field(quote!(__stogger_value));
            let on_err = failed(
                failure_of(quote!(__stogger_error)),
                quote!(#tracing::Level::WARN),
            );
            quote! {
                match &__stogger_ret {
                    ::std::result::Result::Ok(__stogger_value) => {
                        let _ = __stogger_value;
                        #tracing::event!(#debug, _func = #func, #(#arg_fields)* #ok_field duration_ms = __stogger_ms, #done_name);
                    }
                    ::std::result::Result::Err(__stogger_error) => { #on_err }
                }
            }
        }
        None => {
            let field = result_field(quote!(&__stogger_ret));
            quote! {
                #tracing::event!(#debug, _func = #func, #(#arg_fields)* #field duration_ms = __stogger_ms, #done_name);
            }
        }
    };
    let on_panic = failed(
        quote!(::stogger_core::__private::panic_failure(&*__stogger_panic)),
        quote!(#tracing::Level::ERROR),
    );
    let caught = caught_body(&f, &ret);
    let new_block: syn::Block = syn::parse_quote!({
        #(#arg_lets)*
        let __stogger_start = ::std::time::Instant::now();
        let __stogger_outcome = #caught;
        let __stogger_ms = ::stogger_core::__private::duration_ms(__stogger_start);
        match __stogger_outcome {
            ::std::result::Result::Ok(__stogger_ret) => {
                #on_return
                __stogger_ret
            }
            ::std::result::Result::Err(__stogger_panic) => {
                #on_panic
                ::std::panic::resume_unwind(__stogger_panic)
            }
        }
    });
    *f.block = new_block;
    Ok(quote!(#f))
}

/// `"name"` and optional `key = expr` fields.
struct ScopeArgs {
    name: LitStr,
    fields: Vec<(Ident, Expr)>,
}

impl Parse for ScopeArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the scope's name: #[log_scope(\"name\")]",
            )
        })?;
        let mut fields = Vec::new();
        while input.parse::<Option<Token![,]>>()?.is_some() {
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            fields.push((key, value));
        }
        Ok(ScopeArgs { name, fields })
    }
}

fn expand_scope(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args: ScopeArgs = syn::parse2(attr)?;
    let mut f: ItemFn = syn::parse2(item)?;
    let ret = returns(&f);
    let name = &args.name;
    let with = args.fields.iter().map(|(k, v)| {
        let key = unraw(k);
        quote!(.with(#key, #v))
    });
    let classify = match &ret.result_ok {
        Some(_) => {
            let failure = failure_of(quote!(__stogger_error));
            quote! {
                match &__stogger_ret {
                    ::std::result::Result::Ok(_) => ::std::option::Option::None,
                    ::std::result::Result::Err(__stogger_error) => ::std::option::Option::Some(#failure),
                }
            }
        }
        None => quote!(::std::option::Option::None),
    };
    // Ends the scope by the outcome and passes the outcome on.
    let end = quote! {
        match __stogger_outcome {
            ::std::result::Result::Ok(__stogger_ret) => {
                __stogger_scope.end_with(#classify);
                __stogger_ret
            }
            ::std::result::Result::Err(__stogger_panic) => {
                __stogger_scope.end_with(::std::option::Option::Some(
                    ::stogger_core::__private::panic_failure(&*__stogger_panic),
                ));
                ::std::panic::resume_unwind(__stogger_panic)
            }
        }
    };
    let new_block: syn::Block = if f.sig.asyncness.is_some() {
        let body = async_body(&f, &ret);
        syn::parse_quote!({
            let (mut __stogger_scope, __stogger_span) =
                ::stogger_core::log_scope(#name)#(#with)*.detach();
            let __stogger_outcome = ::stogger_core::__private::catch_unwind(
                ::stogger_core::__private::tracing::Instrument::instrument(#body, __stogger_span),
            )
            .await;
            #end
        })
    } else {
        let caught = caught_body(&f, &ret);
        syn::parse_quote!({
            let mut __stogger_scope = ::stogger_core::log_scope(#name)#(#with)*;
            let __stogger_outcome = #caught;
            #end
        })
    };
    *f.block = new_block;
    Ok(quote!(#f))
}
