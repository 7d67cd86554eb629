//! `[grpc]`: where the services' descriptors come from. `protos` are compiled at
//! validation by protox (no `protoc` needed), their errors placed at their own file's
//! line and column; `descriptor_set` reads a `FileDescriptorSet` (`protoc -o`, `buf
//! build -o`). Either way the result is one [`Schema`]: the descriptor pool every gRPC
//! request resolves its method and message types in, and its encoded set, which a
//! distributed run sends its agents instead of the `.proto` files.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Ctx;

/// Most bytes of a descriptor set (or of the `.proto` files it is compiled from).
pub const MAX_DESCRIPTOR_BYTES: u64 = 16 << 20;
/// The largest message a call takes by default: gRPC's own default receive bound.
pub const DEFAULT_MAX_MESSAGE: u32 = 4 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrpc {
    /// `.proto` files, relative to the scenario.
    #[serde(default)]
    pub protos: Vec<Spanned<String>>,
    /// Where their imports are found, besides each file's own directory.
    #[serde(default)]
    pub includes: Vec<Spanned<String>>,
    /// A compiled `FileDescriptorSet`.
    pub descriptor_set: Option<Spanned<String>>,
    /// Bytes: the longest message an answer may carry.
    pub max_message: Option<Spanned<i64>>,
    /// The descriptors from the target's reflection service, at the run's start.
    pub reflection: Option<Spanned<bool>>,
}

/// The services a scenario may call.
#[derive(Debug, Clone)]
pub struct Schema {
    pub pool: DescriptorPool,
    /// Where it came from, for descriptions: `protos/inventory.proto`.
    pub source: String,
    /// The pool as a `FileDescriptorSet`, for a distributed run's agents.
    pub encoded: Bytes,
    pub max_message: u32,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded && self.max_message == other.max_message
    }
}

/// Reads `[grpc]` (at `span`): `None` after an error, said at its place.
pub(crate) fn services(
    cx: &mut Ctx<'_>,
    raw: &RawGrpc,
    span: Range<usize>,
) -> Option<super::Services> {
    match &raw.reflection {
        Some(r) if *r.get_ref() => {
            if let Some(other) = raw.protos.first().or(raw.descriptor_set.as_ref()) {
                cx.err(
                    other.span(),
                    "grpc.reflection",
                    "the services come from the server's reflection or from files, not both: remove `protos`/`descriptor_set` or `reflection`",
                );
                return None;
            }
            Some(super::Services::Reflection {
                max_message: max_message(cx, raw)?,
            })
        }
        _ => schema(cx, raw, span).map(|s| super::Services::Known(std::sync::Arc::new(s))),
    }
}

fn max_message(cx: &mut Ctx<'_>, raw: &RawGrpc) -> Option<u32> {
    let (most, why) = crate::diag::limits::count("grpc.max_message").unwrap_or((64 << 20, ""));
    match &raw.max_message {
        None => Some(DEFAULT_MAX_MESSAGE),
        Some(m) if (1..=most as i64).contains(m.get_ref()) => Some(*m.get_ref() as u32),
        Some(m) => {
            cx.err(
                m.span(),
                "grpc.max_message",
                format!("must be 1 to {most} {why} (gRPC's default is {DEFAULT_MAX_MESSAGE})"),
            );
            None
        }
    }
}

fn schema(cx: &mut Ctx<'_>, raw: &RawGrpc, span: Range<usize>) -> Option<Schema> {
    let max_message = max_message(cx, raw);
    let base = cx.base().to_path_buf();
    let pool = match (&raw.descriptor_set, raw.protos.is_empty()) {
        (Some(d), false) => {
            cx.err(
                d.span(),
                "grpc.descriptor_set",
                "give either `protos` or `descriptor_set`, not both",
            );
            None
        }
        (Some(d), true) => descriptor_set(cx, d, &base).map(|p| (p, d.get_ref().clone())),
        (None, false) => compile(cx, raw, &base).map(|p| {
            let names: Vec<&str> = raw.protos.iter().map(|p| p.get_ref().as_str()).collect();
            (p, names.join(", "))
        }),
        (None, true) => {
            cx.err(
                span,
                "grpc",
                "say where the services are described: `protos = [\"svc.proto\"]`, `descriptor_set = \"svc.protoset\"` or `reflection = true`",
            );
            None
        }
    };
    let (pool, source) = pool?;
    if pool.services().len() == 0 {
        cx.err(
            raw.protos
                .first()
                .or(raw.descriptor_set.as_ref())
                .map_or(0..0, Spanned::span),
            "grpc",
            format!("`{source}` defines no service to call"),
        );
        return None;
    }
    Some(Schema::from_pool(pool, source, max_message?))
}

fn descriptor_set(cx: &mut Ctx<'_>, d: &Spanned<String>, base: &Path) -> Option<DescriptorPool> {
    let path = base.join(d.get_ref());
    let bytes = match crate::files::read_bounded(&path, MAX_DESCRIPTOR_BYTES) {
        Ok(b) => b,
        Err(e) => {
            cx.err(
                d.span(),
                "grpc.descriptor_set",
                format!("cannot read `{}`: {e:#}", path.display()),
            );
            return None;
        }
    };
    match DescriptorPool::decode(bytes.as_slice()) {
        Ok(p) => Some(p),
        Err(e) => {
            cx.err(
                d.span(),
                "grpc.descriptor_set",
                format!("`{}` is not a FileDescriptorSet (make one with `protoc --include_imports -o`): {e}", path.display()),
            );
            None
        }
    }
}

fn compile(cx: &mut Ctx<'_>, raw: &RawGrpc, base: &Path) -> Option<DescriptorPool> {
    let mut includes: Vec<PathBuf> = raw
        .includes
        .iter()
        .map(|i| base.join(i.get_ref()))
        .collect();
    for p in &raw.protos {
        let dir = base.join(p.get_ref());
        let dir = dir
            .parent()
            .map_or_else(|| base.to_path_buf(), Path::to_path_buf);
        if !includes.contains(&dir) {
            includes.push(dir);
        }
    }
    let mut compiler = match protox::Compiler::new(&includes) {
        Ok(c) => c,
        Err(e) => {
            cx.err(raw.protos[0].span(), "grpc.includes", format!("{e}"));
            return None;
        }
    };
    compiler.include_imports(true);
    let mut ok = true;
    for (i, p) in raw.protos.iter().enumerate() {
        let path = base.join(p.get_ref());
        let field = format!("grpc.protos[{i}]");
        match std::fs::metadata(&path) {
            Ok(m) if m.len() > MAX_DESCRIPTOR_BYTES => {
                cx.err(
                    p.span(),
                    &field,
                    format!("`{}` is over {MAX_DESCRIPTOR_BYTES} bytes", path.display()),
                );
                ok = false;
                continue;
            }
            Err(e) => {
                cx.err(
                    p.span(),
                    &field,
                    format!("cannot read `{}`: {e}", path.display()),
                );
                ok = false;
                continue;
            }
            Ok(_) => {}
        }
        if let Err(e) = compiler.open_file(&path) {
            cx.err(p.span(), &field, placed(&e, &includes));
            ok = false;
        }
    }
    ok.then(|| compiler.descriptor_pool())
}

/// protox's error with the `.proto` file's line and column in front, when it has them.
fn placed(e: &protox::Error, includes: &[PathBuf]) -> String {
    use miette::Diagnostic;
    let offset = e.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let file = e.file().map(str::to_string);
    let at = match (&file, offset) {
        (Some(f), Some(off)) => includes
            .iter()
            .map(|d| d.join(f))
            .find_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
            .map(|(p, text)| {
                let (line, col) = crate::diag::line_col(&text, off.min(text.len()));
                format!("{}:{line}:{col}: ", p.display())
            }),
        (Some(f), None) => Some(format!("{f}: ")),
        _ => None,
    };
    let help = e.help().map(|h| format!(" ({h})")).unwrap_or_default();
    format!("{}{e}{help}", at.unwrap_or_default())
}

impl Schema {
    pub fn from_pool(pool: DescriptorPool, source: String, max_message: u32) -> Self {
        let encoded = Bytes::from(pool.encode_to_vec());
        Schema {
            pool,
            source,
            encoded,
            max_message,
        }
    }

    /// A method by `package.Service/Method`, or what to write instead.
    pub fn method(&self, name: &str) -> Result<MethodDescriptor, String> {
        let Some((service, method)) = name.split_once('/') else {
            return Err(format!(
                "`{name}`: write the method as `package.Service/Method`{}",
                self.suggest(name)
            ));
        };
        let Some(svc) = self.pool.get_service_by_name(service) else {
            let names: Vec<String> = self
                .pool
                .services()
                .map(|s| s.full_name().to_string())
                .collect();
            let near = crate::diag::closest(service, names.iter().map(String::as_str));
            return Err(format!(
                "no service `{service}` in {}; {}",
                self.source,
                hint(&near, &names, "services")
            ));
        };
        let found = svc.methods().find(|m| m.name() == method);
        match found {
            Some(m) => Ok(m),
            None => {
                let names: Vec<String> = svc.methods().map(|m| m.name().to_string()).collect();
                let near = crate::diag::closest(method, names.iter().map(String::as_str));
                Err(format!(
                    "service `{service}` has no method `{method}`; {}",
                    hint(&near, &names, "methods")
                ))
            }
        }
    }

    fn suggest(&self, name: &str) -> String {
        let all = self.method_names();
        let near = crate::diag::closest(name, all.iter().map(String::as_str));
        match near.first() {
            Some(n) => format!(" (did you mean `{n}`?)"),
            None => String::new(),
        }
    }

    /// Every method as a scenario names it.
    pub fn method_names(&self) -> Vec<String> {
        self.pool
            .services()
            .flat_map(|s| {
                s.methods()
                    .map(|m| format!("{}/{}", s.full_name(), m.name()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// For `loadctl validate`: each method, its kind, its types and an example message.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in self.pool.services() {
            for m in s.methods() {
                let example = example(&m.input());
                out.push(format!(
                    "{}/{} ({}): {} -> {}; message = '{example}'",
                    s.full_name(),
                    m.name(),
                    call_kind(&m),
                    m.input().full_name(),
                    m.output().full_name(),
                ));
            }
        }
        out
    }
}

fn hint(near: &[&str], all: &[String], what: &str) -> String {
    if let Some(n) = near.first() {
        return format!("did you mean `{n}`?");
    }
    let listed: Vec<&str> = all.iter().take(12).map(String::as_str).collect();
    format!(
        "the {what} are {}{}",
        listed.join(", "),
        if all.len() > 12 { ", …" } else { "" }
    )
}

/// `unary`, `server streaming`, `client streaming` or `bidi streaming`.
pub fn call_kind(m: &MethodDescriptor) -> &'static str {
    match (m.is_client_streaming(), m.is_server_streaming()) {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        (true, true) => "bidi streaming",
    }
}

/// A message of type `desc` with every field at its default, in the JSON mapping.
pub fn example(desc: &prost_reflect::MessageDescriptor) -> String {
    let msg = prost_reflect::DynamicMessage::new(desc.clone());
    let opts = prost_reflect::SerializeOptions::new().skip_default_fields(false);
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut out);
    match msg.serialize_with_options(&mut ser, &opts) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => "{}".to_string(),
    }
}
