//! The shared secret that lets a coordinator use an agent: read from `LOADCTL_AGENT_TOKEN`
//! or a file, at least [`MIN_LEN`] characters, compared in constant time.

use std::path::Path;

/// The variable both sides read the token from.
pub const ENV: &str = "LOADCTL_AGENT_TOKEN";

/// Shorter tokens are refused: a guessable token opens a load generator to anyone.
pub const MIN_LEN: usize = 16;

/// The token from `file` when given, else from [`ENV`]; the error says how to set one.
pub fn load(file: Option<&Path>, env: Option<String>) -> Result<String, String> {
    let (token, from) = match file {
        Some(f) => (
            std::fs::read_to_string(f)
                .map_err(|e| format!("--token-file {}: cannot read it: {e}", f.display()))?,
            format!("--token-file {}", f.display()),
        ),
        None => (
            env.ok_or_else(|| {
                format!("no agent token: set {ENV} (the same on the coordinator and every agent), or pass --token-file FILE; make one with `head -c 24 /dev/urandom | base64`")
            })?,
            ENV.to_string(),
        ),
    };
    let token = token.trim().to_string();
    if token.chars().count() < MIN_LEN {
        return Err(format!(
            "{from}: the token has {} characters; use at least {MIN_LEN} (`head -c 24 /dev/urandom | base64`)",
            token.chars().count()
        ));
    }
    if token.chars().any(char::is_control) {
        return Err(format!("{from}: the token holds control characters"));
    }
    Ok(token)
}

/// A fresh random token (from the kernel's generator), for agents the coordinator starts
/// itself.
pub fn generate() -> anyhow::Result<String> {
    use base64::Engine as _;
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| anyhow::anyhow!("cannot read /dev/urandom for the agents' token: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Equal, in time that depends only on the lengths.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    // Keep the comparison from being cut short by the optimiser.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        assert!(same("abcdefghijklmnop", "abcdefghijklmnop"));
        assert!(!same("abcdefghijklmnop", "abcdefghijklmnoq"));
        assert!(!same("abcdefghijklmnop", "abcdefghijklmno"));
        assert!(!same("", "x"));
        assert!(load(None, None).unwrap_err().contains(ENV));
        assert!(load(None, Some("short".into()))
            .unwrap_err()
            .contains("at least 16"));
        let g = generate().unwrap();
        assert_eq!(load(None, Some(g.clone())).unwrap(), g);
        assert_ne!(generate().unwrap(), g);
        assert_eq!(
            load(None, Some(" 0123456789abcdef\n".into())).unwrap(),
            "0123456789abcdef"
        );
    }
}
