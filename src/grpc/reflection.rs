//! `[grpc] reflection = true`: the descriptors from the server's reflection service
//! (`grpc.reflection.v1.ServerReflection`, then `v1alpha` for older servers), fetched at
//! the run's start through the run's own transport (its TLS, its HTTP/2).
//!
//! The protocol is a bidirectional stream; loadctl asks one question per call (a call is
//! then a request with one message and one answer, like any other), in rounds: the
//! services, the file that defines each, then any file those import that did not come
//! with them, until every import is in. [`Fetch`] holds the rounds' state and says what to
//! ask next; the caller (the run) sends the questions and hands back the answers.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use prost::Message;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::DescriptorPool;

use super::schema::Schema;

/// The two versions of the service, newest first.
pub const PATHS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Most files a server's descriptors may come in, and most rounds of questions.
const MAX_FILES: usize = 1000;
const MAX_ROUNDS: usize = 16;

/// `ServerReflectionRequest`, with its `message_request` oneof as optional fields (the
/// same bytes on the wire).
#[derive(Clone, PartialEq, Message)]
pub struct Request {
    #[prost(string, tag = "1")]
    pub host: String,
    #[prost(string, optional, tag = "3")]
    pub file_by_filename: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub file_containing_symbol: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub list_services: Option<String>,
}

/// `ServerReflectionResponse`, with its `message_response` oneof as optional fields.
#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub valid_host: String,
    #[prost(message, optional, tag = "4")]
    pub file_descriptor_response: Option<FileDescriptors>,
    #[prost(message, optional, tag = "6")]
    pub list_services_response: Option<ServiceList>,
    #[prost(message, optional, tag = "7")]
    pub error_response: Option<ErrorAnswer>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FileDescriptors {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub file_descriptor_proto: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ServiceList {
    #[prost(message, repeated, tag = "1")]
    pub service: Vec<ServiceName>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ServiceName {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ErrorAnswer {
    #[prost(int32, tag = "1")]
    pub error_code: i32,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// A question, framed: the body of one reflection call.
pub fn question(q: &Request) -> Bytes {
    let mut out = BytesMut::new();
    super::wire::frame(&q.encode_to_vec(), &mut out);
    out.freeze()
}

/// The rounds of one fetch.
#[derive(Debug, Default)]
pub struct Fetch {
    /// Every file received, by name, as received.
    files: BTreeMap<String, Vec<u8>>,
    services: Vec<String>,
    rounds: usize,
    listed: bool,
    /// Bytes of files received, bounded as a descriptor set on disk is.
    bytes: u64,
}

impl Fetch {
    /// The questions of the next round; empty when every import is in.
    pub fn questions(&mut self) -> Result<Vec<Request>, String> {
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            return Err(format!(
                "the server's files still import others after {MAX_ROUNDS} rounds of questions"
            ));
        }
        if !self.listed {
            return Ok(vec![Request {
                list_services: Some(String::new()),
                ..Request::default()
            }]);
        }
        if self.files.is_empty() {
            return Ok(self
                .services
                .iter()
                .map(|s| Request {
                    file_containing_symbol: Some(s.clone()),
                    ..Request::default()
                })
                .collect());
        }
        Ok(self
            .missing()
            .into_iter()
            .map(|f| Request {
                file_by_filename: Some(f),
                ..Request::default()
            })
            .collect())
    }

    /// Files imported by the ones in hand that are not in hand.
    fn missing(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for bytes in self.files.values() {
            if let Ok(f) = FileDescriptorProto::decode(bytes.as_slice()) {
                for dep in f.dependency {
                    if !self.files.contains_key(&dep) {
                        out.insert(dep);
                    }
                }
            }
        }
        out
    }

    /// Takes one answer (the first message of a call's answer).
    pub fn answer(&mut self, message: &[u8]) -> Result<(), String> {
        let r = Response::decode(message)
            .map_err(|e| format!("its answer is not a ServerReflectionResponse: {e}"))?;
        if let Some(e) = r.error_response {
            return Err(format!(
                "it answered error {}: {}",
                e.error_code, e.error_message
            ));
        }
        if let Some(list) = r.list_services_response {
            self.listed = true;
            self.services = list
                .service
                .into_iter()
                .map(|s| s.name)
                .filter(|n| !n.starts_with("grpc.reflection."))
                .collect();
            if self.services.is_empty() {
                return Err("it lists no service but its reflection".into());
            }
        }
        if let Some(files) = r.file_descriptor_response {
            for bytes in files.file_descriptor_proto {
                self.bytes += bytes.len() as u64;
                if self.bytes > super::schema::MAX_DESCRIPTOR_BYTES {
                    return Err(format!(
                        "its files are over {} bytes, the most loadctl reads of a service's descriptors",
                        super::schema::MAX_DESCRIPTOR_BYTES
                    ));
                }
                let f = FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
                    format!("it sent a file that is not a FileDescriptorProto: {e}")
                })?;
                self.files.insert(f.name.unwrap_or_default(), bytes);
                if self.files.len() > MAX_FILES {
                    return Err(format!("it sent more than {MAX_FILES} files"));
                }
            }
        }
        Ok(())
    }

    /// The schema, once [`Fetch::questions`] has nothing more to ask.
    pub fn schema(&self, source: &str, max_message: u32) -> Result<Schema, String> {
        let mut pool = DescriptorPool::new();
        let files: Vec<FileDescriptorProto> = self
            .files
            .values()
            .filter_map(|b| FileDescriptorProto::decode(b.as_slice()).ok())
            .collect();
        pool.add_file_descriptor_protos(files)
            .map_err(|e| format!("its files do not make a whole set: {e}"))?;
        Ok(Schema::from_pool(pool, source.to_string(), max_message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_files(files: &[FileDescriptorProto]) -> Vec<u8> {
        Response {
            file_descriptor_response: Some(FileDescriptors {
                file_descriptor_proto: files.iter().map(|f| f.encode_to_vec()).collect(),
            }),
            ..Response::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn rounds_ask_for_services_then_files_then_missing_imports() {
        let mut fetch = Fetch::default();
        let q = fetch.questions().unwrap();
        assert!(q[0].list_services.is_some());
        let list = Response {
            list_services_response: Some(ServiceList {
                service: vec![
                    ServiceName {
                        name: "pay.Pay".into(),
                    },
                    ServiceName {
                        name: "grpc.reflection.v1.ServerReflection".into(),
                    },
                ],
            }),
            ..Response::default()
        };
        fetch.answer(&list.encode_to_vec()).unwrap();
        let q = fetch.questions().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].file_containing_symbol.as_deref(), Some("pay.Pay"));
        let pay = FileDescriptorProto {
            name: Some("pay.proto".into()),
            package: Some("pay".into()),
            dependency: vec!["money.proto".into()],
            ..Default::default()
        };
        fetch.answer(&answer_files(&[pay])).unwrap();
        let q = fetch.questions().unwrap();
        assert_eq!(q[0].file_by_filename.as_deref(), Some("money.proto"));
        let money = FileDescriptorProto {
            name: Some("money.proto".into()),
            package: Some("common".into()),
            ..Default::default()
        };
        fetch.answer(&answer_files(&[money])).unwrap();
        assert!(fetch.questions().unwrap().is_empty());
        assert!(fetch.schema("reflection", 1024).is_ok());
    }

    #[test]
    fn an_error_answer_or_garbage_is_said() {
        let mut fetch = Fetch::default();
        let err = Response {
            error_response: Some(ErrorAnswer {
                error_code: 5,
                error_message: "not found".into(),
            }),
            ..Response::default()
        };
        assert!(fetch
            .answer(&err.encode_to_vec())
            .unwrap_err()
            .contains("not found"));
        assert!(fetch.answer(&[0xff, 0xff, 0xff]).is_err());
    }
}
