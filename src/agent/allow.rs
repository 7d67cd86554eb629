//! `loadctl agent --allow-target`: the networks an agent sends load to, whatever the
//! coordinator asks. A leaked token then cannot aim a fleet of generators at an arbitrary
//! host: a scenario whose target (or any request's origin) resolves outside the list is
//! refused before any load, with the address and the list.

use std::net::{IpAddr, ToSocketAddrs};

use crate::scenario::plan::target::Origin;
use crate::scenario::{Plan, TargetSpec};

/// Networks as `address/prefix`; a bare address is a network of one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowList(Vec<(IpAddr, u8)>);

/// Most networks one list holds: a list is read by a person.
const MAX_NETWORKS: usize = 256;

impl AllowList {
    /// Parses `10.0.0.0/24,127.0.0.1,::1`; the error names the entry and the fix.
    pub fn parse(text: &str) -> Result<AllowList, String> {
        let mut nets = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (addr, prefix) = match part.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (part, None),
            };
            let bad = || {
                format!("--allow-target: `{part}` is not a network; write an address or address/prefix, such as 10.0.0.0/24 or ::1")
            };
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
                None => max,
            };
            nets.push((ip, prefix));
        }
        if nets.is_empty() {
            return Err("--allow-target: name at least one network, such as 10.0.0.0/24".into());
        }
        if nets.len() > MAX_NETWORKS {
            return Err(format!(
                "--allow-target: {} networks; at most {MAX_NETWORKS}",
                nets.len()
            ));
        }
        Ok(AllowList(nets))
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, prefix)| within(ip, *net, *prefix))
    }

    /// Every origin `plan` sends to resolves inside the list.
    pub fn check(&self, plan: &Plan) -> Result<(), String> {
        let mut origins: Vec<&Origin> = Vec::new();
        if let TargetSpec::Url { origin, .. } = &plan.target {
            origins.push(origin);
        }
        origins.extend(
            plan.workload
                .requests()
                .iter()
                .filter_map(|r| r.origin.as_ref()),
        );
        for o in origins {
            let host = o.host.trim_start_matches('[').trim_end_matches(']');
            let addrs: Vec<IpAddr> = (host, o.port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {}: {e}", o.host))?
                .map(|a| a.ip())
                .collect();
            if let Some(bad) = addrs.iter().find(|ip| !self.allows(**ip)) {
                return Err(format!(
                    "this agent sends load only to {} (--allow-target), and the scenario's {}:{} is {bad}",
                    self.text(),
                    o.host,
                    o.port
                ));
            }
        }
        Ok(())
    }

    fn text(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        parts.join(",")
    }
}

fn within(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (a, b, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is the IPv4 one.
        (IpAddr::V6(a), IpAddr::V4(_)) => match a.to_ipv4_mapped() {
            Some(v4) => return within(IpAddr::V4(v4), net, prefix),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    if prefix == 0 {
        return true;
    }
    let shift = bits - u32::from(prefix);
    (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let l = AllowList::parse("10.0.0.0/24, 127.0.0.1 ,::1").unwrap();
        assert!(l.allows("10.0.0.7".parse().unwrap()));
        assert!(!l.allows("10.0.1.7".parse().unwrap()));
        assert!(l.allows("127.0.0.1".parse().unwrap()));
        assert!(!l.allows("127.0.0.2".parse().unwrap()));
        assert!(l.allows("::1".parse().unwrap()));
        assert!(l.allows("::ffff:10.0.0.9".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "", "1.2.3.4/x"] {
            assert!(AllowList::parse(bad).is_err(), "{bad}");
        }
        assert!(AllowList::parse("0.0.0.0/0")
            .unwrap()
            .allows("8.8.8.8".parse().unwrap()));
    }
}
