//! Integration tests: one binary, a module per area. Servers bind 127.0.0.1:0 in-process;
//! the library is driven directly, the CLI through the built binary.

mod agent_hostile;
mod arch;
mod capacity;
mod chat;
mod chat_protocol;
mod cli;
mod distributed;
mod engine;
mod flow;
mod honest;
mod hostile;
mod hostile_scrapes;
mod k8s;
mod kube;
mod kube_agents;
mod live_metrics;
mod merge;
mod misuse;
mod netns;
mod prometheus;
mod report;
mod summary;
mod support;
mod testbed;
mod tls;
mod window;
